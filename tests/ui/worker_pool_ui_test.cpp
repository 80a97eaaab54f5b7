// A run spread over worker processes (--gpus; the fixture is a real `--workers 2` stream on the CPU): the
// results table's device column, the points per worker, the charts' curves per worker (when their devices
// differ) and the history's device count; a run of one process shows none of them.
#include <gtest/gtest.h>

#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QtCharts/QAbstractSeries>
#include <QtCharts/QChart>
#include <QtCharts/QLineSeries>

#include <set>

#include "history_panel.h"
#include "results_model.h"
#include "run_charts.h"
#include "run_data.h"
#include "ui_format.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

const QString kPoolFixture = QStringLiteral("cpu_pool.jsonl");

void feed(RunData& data, const QString& stream) {
  for (const auto& event : test::fixtureEvents(stream)) data.applyEvent(event);
  data.flushUpdates();
}

// The names of the latency chart's data series that have points.
std::set<QString> drawnCurves(const RunCharts& charts) {
  std::set<QString> names;
  for (QAbstractSeries* s : charts.chart(ChartKind::Latency)->series()) {
    const auto* line = qobject_cast<QLineSeries*>(s);
    if (line != nullptr && line->count() > 0 && !s->name().isEmpty()) names.insert(s->name());
  }
  return names;
}

TEST(PoolRun, TheTableShowsEachPointsWorkerAndTheChartsACurvePerWorker) {
  test::ensureApp();
  RunData data;
  ResultsView results(&data);
  feed(data, kPoolFixture);
  ASSERT_EQ(data.points().size(), 6u);

  EXPECT_FALSE(results.table()->isColumnHidden(ResultsModel::Device));
  EXPECT_EQ(results.model()->headerData(ResultsModel::Device, Qt::Horizontal, Qt::DisplayRole).toString(),
            QStringLiteral("Device"));
  std::map<QString, int> per_worker;
  for (int row = 0; row < results.model()->rowCount(); ++row) {
    const QModelIndex cell = results.model()->index(row, ResultsModel::Device);
    const PointResult& p = data.points()[static_cast<std::size_t>(row)];
    EXPECT_EQ(cell.data().toString(), qs(p.worker));
    EXPECT_EQ(cell.data(Qt::ToolTipRole).toString(), qs(p.worker_device));
    EXPECT_FALSE(p.worker_device.empty());
    ++per_worker[cell.data().toString()];
  }
  ASSERT_EQ(per_worker.size(), 2u) << "the fixture's points ran on two workers";
  EXPECT_EQ(data.pointsPerWorker(), QStringLiteral("worker0 %1 · worker1 %2")
                                        .arg(per_worker[QStringLiteral("worker0")])
                                        .arg(per_worker[QStringLiteral("worker1")]));

  // Workers on alike devices share the curves: one per kernel, as in a run of one process.
  RunCharts charts;
  charts.reset({chartRunOf(data.run(), QStringLiteral("#1"))}, QString());
  charts.addPoints(data.points());
  std::set<QString> expected;
  for (const auto& p : data.points()) expected.insert(qs(kernelName(p.point.kernel)) + QStringLiteral(" B=1"));
  EXPECT_EQ(drawnCurves(charts), expected);

  // Workers on devices of different kinds: a curve per worker and kernel, each point on the curve of
  // the worker that ran it.
  RunRecord mixed = data.run();
  mixed.provenance.set("worker1.device", "Other CPU (socket 1)");
  charts.reset({chartRunOf(mixed, QStringLiteral("#1"))}, QString());
  charts.addPoints(data.points());
  expected.clear();
  for (const auto& p : data.points()) expected.insert(qs(p.worker + " " + kernelName(p.point.kernel)) + QStringLiteral(" B=1"));
  EXPECT_EQ(drawnCurves(charts), expected);
}

TEST(PoolRun, ARunOfOneProcessHasNoDeviceColumnAndOneCurvePerKernel) {
  test::ensureApp();
  RunData data;
  ResultsView results(&data);
  feed(data, test::kFixture);
  ASSERT_FALSE(data.points().empty());
  EXPECT_TRUE(results.table()->isColumnHidden(ResultsModel::Device));
  EXPECT_EQ(results.model()->index(0, ResultsModel::Device).data().toString(), QStringLiteral("—"));
  EXPECT_TRUE(data.pointsPerWorker().isEmpty());
  RunCharts charts;
  charts.reset({chartRunOf(data.run(), QStringLiteral("#1"))}, QString());
  charts.addPoints(data.points());
  ASSERT_FALSE(drawnCurves(charts).empty());
  for (const QString& name : drawnCurves(charts)) EXPECT_FALSE(name.startsWith(QStringLiteral("worker"))) << name.toStdString();
}

TEST(PoolRun, TheHistoryCountsTheWorkersDevices) {
  test::ensureApp();
  QTemporaryDir dir;
  auto store = Store::open(dir.filePath(QStringLiteral("h.db")).toStdString());
  const std::int64_t pooled = test::storeFixtureRun(*store, kPoolFixture);
  RunData data;
  feed(data, kPoolFixture);
  store->addProvenance(pooled, data.run().provenance);  // as the parent records it
  const std::int64_t single = test::storeFixtureRun(*store);

  HistoryPanel panel;
  panel.setDatabase(Database::create(QString::fromStdString(store->path())));
  const QAbstractItemModel* shown = panel.table()->model();
  ASSERT_EQ(shown->rowCount(), 2);
  ASSERT_EQ(shown->index(1, HistoryPanel::Id).data(Qt::UserRole).toLongLong(), pooled);
  const QString name = qs(data.run().device.name);
  EXPECT_EQ(shown->index(1, HistoryPanel::Device).data().toString(), name + QStringLiteral(" ×2"));
  const QString tooltip = shown->index(1, HistoryPanel::Device).data(Qt::ToolTipRole).toString();
  EXPECT_TRUE(tooltip.contains(QStringLiteral("worker0: ") + name)) << tooltip.toStdString();
  EXPECT_TRUE(tooltip.contains(QStringLiteral("worker1: ") + name)) << tooltip.toStdString();
  ASSERT_EQ(shown->index(0, HistoryPanel::Id).data(Qt::UserRole).toLongLong(), single);
  EXPECT_FALSE(shown->index(0, HistoryPanel::Device).data().toString().contains(QStringLiteral("×")));
}

}  // namespace
}  // namespace attnbench::ui
