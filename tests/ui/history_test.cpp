#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QFile>
#include <QPlainTextEdit>
#include <QProcess>
#include <QStandardItemModel>
#include <QComboBox>
#include <QTableWidget>
#include <QTabWidget>
#include <QtCharts/QChart>
#include <QTemporaryDir>

#include "attnbench/comparison.h"
#include "compare_view.h"
#include "run_charts.h"
#include "history_panel.h"
#include "main_window.h"
#include "results_model.h"
#include "run_data.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

TEST(History, ListsTheRunsOfAStore) {
  test::ensureApp();
  QTemporaryDir dir;
  auto store = Store::open(dir.filePath(QStringLiteral("h.db")).toStdString());
  const auto a = test::storeFixtureRun(*store, QStringLiteral("cpu_decode.jsonl"));
  const auto b = test::storeFixtureRun(*store);
  store->renameRun(b, "second");
  store->annotateRun(b, "after the driver update");

  HistoryPanel panel;
  panel.setDatabase(Database::create(QString::fromStdString(store->path())));
  QStandardItemModel* model = panel.model();
  ASSERT_EQ(model->rowCount(), 2);
  // Newest first (the view sorts by id, descending).
  const QAbstractItemModel* shown = panel.table()->model();
  EXPECT_EQ(shown->index(0, HistoryPanel::Id).data(Qt::UserRole).toLongLong(), b);
  EXPECT_EQ(shown->index(0, HistoryPanel::Name).data().toString(), QStringLiteral("second"));
  EXPECT_EQ(shown->index(0, HistoryPanel::Note).data().toString(), QStringLiteral("after the driver update"));
  EXPECT_EQ(shown->index(0, HistoryPanel::Status).data().toString(), QStringLiteral("completed"));
  EXPECT_EQ(shown->index(0, HistoryPanel::Device).data().toString(), QStringLiteral("AMD EPYC"));
  EXPECT_EQ(shown->index(0, HistoryPanel::Model).data().toString(), QStringLiteral("Llama-2-7B"));
  EXPECT_EQ(shown->index(0, HistoryPanel::Workload).data().toString(), QStringLiteral("attention"));
  EXPECT_EQ(shown->index(1, HistoryPanel::Id).data(Qt::UserRole).toLongLong(), a);
  EXPECT_EQ(shown->index(1, HistoryPanel::Workload).data().toString(), QStringLiteral("decode"));
  EXPECT_EQ(shown->index(1, HistoryPanel::Model).data().toString(), QStringLiteral("Llama-3-8B"));

  store->deleteRun(a);
  panel.refresh();
  EXPECT_EQ(model->rowCount(), 1);
}

TEST(History, DetailsShowHowTheSelectedRunWasMeasured) {
  test::ensureApp();
  QTemporaryDir dir;
  auto store = Store::open(dir.filePath(QStringLiteral("h.db")).toStdString());
  const auto old_run = test::storeFixtureRun(*store);  // as a run stored before provenance existed
  const auto measured = test::storeFixtureRun(*store);
  store->addProvenance(measured, {{"gpu.name", "NVIDIA H200"}, {"gpu.sm_clock_start_mhz", "1980"}});

  HistoryPanel panel;
  panel.setDatabase(Database::create(QString::fromStdString(store->path())));
  const QString idle = panel.details()->toPlainText();
  EXPECT_TRUE(idle.contains(QLatin1String("Select a run"))) << idle.toStdString();
  auto select = [&](std::int64_t id) {
    const QAbstractItemModel* shown = panel.table()->model();
    for (int r = 0; r < shown->rowCount(); ++r) {
      if (shown->index(r, HistoryPanel::Id).data(Qt::UserRole).toLongLong() == id) panel.table()->selectRow(r);
    }
    return panel.details()->toPlainText();
  };
  const QString shown = select(measured);
  EXPECT_TRUE(shown.contains(QStringLiteral("Run #%1").arg(measured))) << shown.toStdString();
  EXPECT_TRUE(shown.contains(QLatin1String("gpu.name: NVIDIA H200"))) << shown.toStdString();
  EXPECT_LT(shown.indexOf(QLatin1String("gpu.name")), shown.indexOf(QLatin1String("gpu.sm_clock_start_mhz")));
  const QString none = select(old_run);
  EXPECT_TRUE(none.contains(QLatin1String("no provenance recorded"))) << none.toStdString();
  // Still shown after the list is read again (the selection is kept).
  panel.refresh();
  EXPECT_TRUE(panel.details()->toPlainText().contains(QLatin1String("no provenance recorded")));
}

TEST(History, OpensAndComparesRuns) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("h.db"));
  std::int64_t a = 0, b = 0;
  {
    auto store = Store::open(db.toStdString());
    a = test::storeFixtureRun(*store);
    b = test::storeFixtureRun(*store);
  }
  MainWindow window(test::quietOptions(db));
  EXPECT_EQ(window.historyPanel()->model()->rowCount(), 2);
  ASSERT_TRUE(window.openRun(a));
  EXPECT_EQ(window.runData()->points().size(), 12u);
  EXPECT_EQ(window.resultsView()->model()->rowCount(), 12);
  EXPECT_EQ(window.runData()->run().id, a);
  EXPECT_FALSE(window.openRun(999));

  window.compareRuns({a, b});
  QTableWidget* ratios = window.compareView()->ratioTable();
  ASSERT_EQ(ratios->rowCount(), 12);
  const int verdict_column = CompareView::FirstRunColumn + CompareView::kBaselineColumns + 2;
  int same = 0;
  for (int r = 0; r < ratios->rowCount(); ++r) same += ratios->item(r, verdict_column)->text() == QLatin1String("same") ? 1 : 0;
  EXPECT_EQ(same, 9);  // the 9 points that ran; the skipped ones are not comparable
}

// A copy of the fixture's points with every time scaled by `factor` (samples and statistics).
std::vector<PointResult> scaled(std::vector<PointResult> points, double factor) {
  for (PointResult& p : points) {
    for (double& ms : p.samples_ms) ms *= factor;
    p.stats = computeStats(p.samples_ms);
  }
  return points;
}

std::int64_t storeRun(Store& store, const std::vector<PointResult>& points) {
  const RunRecord run = test::fixtureRun();
  const std::int64_t id = store.createRun(run.spec, run.device, run.total_points);
  for (const auto& p : points) store.recordPoint(id, p);
  store.setRunStatus(id, RunStatus::Completed);
  return id;
}

// The Compare tab's tables hold exactly what compareRuns gives for `runs` (the baseline first).
void expectTablesShow(const CompareView& view, const std::vector<RunPoints>& runs) {
  const Comparison expected = compareRuns(runs);
  ASSERT_EQ(view.compared().size(), runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(view.compared()[i].run.id, runs[i].run.id);
  const QTableWidget* table = view.ratioTable();
  ASSERT_EQ(table->rowCount(), static_cast<int>(expected.rows.size()));
  ASSERT_EQ(table->columnCount(), CompareView::FirstRunColumn + CompareView::kBaselineColumns +
                                      CompareView::kComparedColumns * static_cast<int>(runs.size() - 1));
  auto text = [&](int r, int c) { return table->item(r, c)->text().toStdString(); };
  auto value = [&](int r, int c) { return table->item(r, c)->data(CompareView::ValueRole).toDouble(); };
  for (std::size_t i = 0; i < expected.rows.size(); ++i) {
    const ComparisonRow& row = expected.rows[i];
    const int r = static_cast<int>(i);
    EXPECT_EQ(text(r, CompareView::Model), row.model);
    EXPECT_EQ(value(r, CompareView::Batch), row.batch);
    EXPECT_EQ(value(r, CompareView::SeqLen), row.seq_len);
    EXPECT_EQ(text(r, CompareView::DTypeCol), row.dtype);
    EXPECT_EQ(text(r, CompareView::Causal), row.causal ? "yes" : "no");
    EXPECT_EQ(text(r, CompareView::Kernel), row.kernel);
    int c = CompareView::FirstRunColumn;
    for (std::size_t run = 0; run < row.runs.size(); ++run) {
      const ComparedPoint& cell = row.runs[run];
      EXPECT_EQ(value(r, c++), cell.point ? cell.point->stats.median_ms : 0.0) << "row " << r << " run " << run;
      if (run == 0) continue;
      EXPECT_EQ(value(r, c++), cell.ratio) << "row " << r << " run " << run;
      EXPECT_EQ(text(r, c++), verdictName(cell.verdict)) << "row " << r << " run " << run;
    }
  }
  const QTableWidget* summary = view.summaryTable();
  int r = 0;
  for (std::size_t run = 1; run < expected.summaries.size(); ++run) {
    for (const auto& [kernel, s] : expected.summaries[run]) {
      ASSERT_LT(r, summary->rowCount());
      EXPECT_EQ(summary->item(r, CompareView::SummaryRun)->text(),
                QStringLiteral("#%1 / #%2").arg(runs[run].run.id).arg(runs[0].run.id));
      EXPECT_EQ(summary->item(r, CompareView::SummaryKernel)->text().toStdString(), kernel);
      EXPECT_EQ(summary->item(r, CompareView::SummaryGeomean)->data(CompareView::ValueRole).toDouble(), s.geomean_ratio);
      EXPECT_EQ(summary->item(r, CompareView::SummaryPoints)->data(CompareView::ValueRole).toDouble(), s.points);
      EXPECT_EQ(summary->item(r, CompareView::SummaryFaster)->data(CompareView::ValueRole).toDouble(), s.faster);
      EXPECT_EQ(summary->item(r, CompareView::SummarySlower)->data(CompareView::ValueRole).toDouble(), s.slower);
      ++r;
    }
  }
  EXPECT_EQ(summary->rowCount(), r);
}

// Three runs: the fixture; the same with its first point 3x slower and its last missing; all of it
// twice as fast. The tables show compareRuns' rows for each baseline chosen, the charts all three.
TEST(Compare, ShowsCoresComparisonOfThreeRunsAgainstAChosenBaseline) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("c.db"));
  std::vector<RunPoints> runs(3);
  {
    auto store = Store::open(db.toStdString());
    std::vector<PointResult> slower = test::fixturePoints();
    ASSERT_EQ(slower.front().status, PointStatus::Ok);
    slower.front() = scaled({slower.front()}, 3.0).front();
    slower.pop_back();
    const std::vector<std::vector<PointResult>> points = {test::fixturePoints(), slower, scaled(test::fixturePoints(), 0.5)};
    for (std::size_t i = 0; i < 3; ++i) {
      const std::int64_t id = storeRun(*store, points[i]);
      runs[i] = {*store->findRun(id), store->loadPoints(id)};
    }
  }
  MainWindow window(test::quietOptions(db));
  window.compareRuns({runs[0].run.id, runs[1].run.id, runs[2].run.id});
  CompareView* view = window.compareView();
  EXPECT_EQ(window.tabs()->currentWidget(), view);
  ASSERT_EQ(view->runs().size(), 3u);
  expectTablesShow(*view, runs);

  // What the rules make of these runs, so the comparison above is not of empty cells.
  const Comparison first = view->comparison();
  EXPECT_EQ(first.rows.front().runs[1].verdict, Verdict::Slower);
  EXPECT_NEAR(first.rows.front().runs[1].ratio, 3.0, 1e-9);
  EXPECT_EQ(first.rows.back().runs[1].point, nullptr);
  EXPECT_NEAR(first.summaries[2].at("flash").geomean_ratio, 0.5, 1e-9);
  EXPECT_GT(first.summaries[2].at("flash").faster, 0);

  // The third run as the baseline, chosen in the box: the others follow in their order.
  view->baselineBox()->setCurrentIndex(2);
  Q_EMIT view->baselineBox()->activated(2);
  expectTablesShow(*view, {runs[2], runs[0], runs[1]});
  EXPECT_NEAR(view->comparison().summaries[1].at("flash").geomean_ratio, 2.0, 1e-9);

  // All three runs overlaid: each has its curves on the latency chart.
  QStringList names;
  for (QAbstractSeries* s : view->charts()->chart(ChartKind::Latency)->series()) names << s->name();
  for (const RunPoints& r : runs) {
    EXPECT_FALSE(names.filter(QStringLiteral("#%1 flash").arg(r.run.id)).isEmpty()) << names.join(QStringLiteral(", ")).toStdString();
  }
}

// How fast this is lives in benchmarks/ui_responsiveness.cpp, not here.
TEST(History, LoadsALargeDatabase) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("big.db"));
  constexpr int kPoints = 10000;
  std::int64_t big = 0;
  {
    auto store = Store::open(db.toStdString());
    for (int i = 0; i < 5; ++i) test::storeFixtureRun(*store);
    const RunRecord run = test::fixtureRun();
    big = store->createRun(run.spec, run.device, kPoints);
    PointResult p = test::fixturePoints().front();
    for (int i = 0; i < kPoints; ++i) {
      p.point.index = i;
      p.point.shape = modelShape(p.point.model, 1 + (i / 20) % 8, 64 << (i % 10), p.point.shape.dtype, p.point.shape.causal);
      p.point.kernel = (i / 10) % 2 == 0 ? KernelKind::Flash : KernelKind::Standard;
      p.stats.median_ms = 0.01 * p.point.shape.seq_kv * (1 + i % 7);
      store->recordPoint(big, p);
    }
    store->setRunStatus(big, RunStatus::Completed);
  }

  auto store = Store::open(db.toStdString());
  HistoryPanel panel;
  panel.setDatabase(Database::create(QString::fromStdString(store->path())));
  EXPECT_EQ(panel.model()->rowCount(), 6);

  MainWindow window(test::quietOptions(db));
  ASSERT_TRUE(window.openRun(big));
  EXPECT_EQ(window.runData()->points().size(), static_cast<std::size_t>(kPoints));
}

// Runs written by `attnbench --batch` in another process appear while the window is open, without
// Refresh: the history follows the database's files (and polls).
TEST(History, FollowsRunsWrittenByAnotherProcess) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("live.db"));
  test::createFixtureDb(db);
  MainWindow window(test::quietOptions(db));
  HistoryPanel* history = window.historyPanel();
  ASSERT_EQ(history->model()->rowCount(), 1);
  SweepSpec spec = test::fixtureRun().spec;
  spec.name = "from-another-process";
  spec.device = "cpu";
  spec.seq_lens = {64};
  spec.batch_sizes = {1};
  spec.repetitions = 1;
  const QString spec_path = dir.filePath(QStringLiteral("spec.json"));
  {
    QFile f(spec_path);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(QByteArray::fromStdString(specToJson(spec).dump()));
  }
  QProcess batch;
  batch.start(QStringLiteral(ATTNBENCH_EXE), {QStringLiteral("--batch"), QStringLiteral("--spec"), spec_path, QStringLiteral("--db"), db,
                                              QStringLiteral("--no-progress")});
  ASSERT_TRUE(batch.waitForStarted());
  QElapsedTimer clock;
  clock.start();
  ASSERT_TRUE(test::waitFor([&] { return history->model()->rowCount() == 2; }, 60000)) << "the new run never appeared";
  ASSERT_TRUE(test::waitFor([&] { return batch.state() == QProcess::NotRunning; }, 60000));
  EXPECT_EQ(batch.exitCode(), 0) << batch.readAllStandardError().toStdString();
  // Its end (completed, every point) shows too, within the settle time of the last write or a poll.
  const auto finished = [&] {
    for (int r = 0; r < history->model()->rowCount(); ++r) {
      if (history->model()->item(r, HistoryPanel::Name)->text() == QLatin1String("from-another-process")) {
        return history->model()->item(r, HistoryPanel::Status)->text() == QLatin1String("completed");
      }
    }
    return false;
  };
  EXPECT_TRUE(test::waitFor(finished, HistoryPanel::kPollMs + 2000));
  // Its own reads do not set it off again: idle, it re-reads nothing.
  int rereads = 0;
  QObject::connect(history->model(), &QAbstractItemModel::rowsRemoved, [&] { ++rereads; });
  test::waitFor([] { return false; }, 4 * HistoryPanel::kSettleMs);
  EXPECT_EQ(rereads, 0);
}

}  // namespace
}  // namespace attnbench::ui
