#include <gtest/gtest.h>

#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QStandardItemModel>
#include <QTableWidget>
#include <QTemporaryDir>

#include "compare_view.h"
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
  const auto a = test::storeFixtureRun(*store);
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
  EXPECT_EQ(shown->index(1, HistoryPanel::Id).data(Qt::UserRole).toLongLong(), a);

  store->deleteRun(a);
  panel.refresh();
  EXPECT_EQ(model->rowCount(), 1);
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

  window.compareRuns(a, b);
  QTableWidget* ratios = window.compareView()->ratioTable();
  ASSERT_EQ(ratios->rowCount(), 12);
  int same = 0;
  for (int r = 0; r < ratios->rowCount(); ++r) {
    if (ratios->item(r, 5)->text().contains(QLatin1String("same"))) ++same;
  }
  EXPECT_EQ(same, 9);  // the 9 points that ran; the skipped ones are not comparable
}

TEST(History, MatchesPointsByShapeAndKernel) {
  auto a = test::fixturePoints();
  auto b = test::fixturePoints();
  b.pop_back();
  b[0].stats.median_ms = a[0].stats.median_ms * 2;
  const auto rows = matchPoints(a, b);
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_DOUBLE_EQ(rows[0].ratio(), 2.0);
  EXPECT_EQ(rows[11].b, nullptr);
  EXPECT_EQ(rows[11].ratio(), 0.0);
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
