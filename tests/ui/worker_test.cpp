#include <gtest/gtest.h>

#include <QAction>
#include <QElapsedTimer>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTemporaryDir>

#include "main_window.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "ui_test_support.h"
#include "worker_client.h"

namespace attnbench::ui {
namespace {

QStringList fakeWorker(const char* mode, const char* delay) {
  return {test::dataPath(QStringLiteral("fake_worker.sh")), test::fixturePath(), QString::fromLatin1(mode),
          QString::fromLatin1(delay)};
}

struct Recorder {
  std::vector<RunEvent> events;
  QStringList output;
  int finished = 0, exit_code = -1;
  bool crashed = false, cancelled = false;
  explicit Recorder(WorkerClient& worker) {
    QObject::connect(&worker, &WorkerClient::eventReceived, [this](const RunEvent& e) { events.push_back(e); });
    QObject::connect(&worker, &WorkerClient::outputLine, [this](const QString& line) { output << line; });
    QObject::connect(&worker, &WorkerClient::finished, [this](int code, bool crash, bool cancel) {
      ++finished;
      exit_code = code;
      crashed = crash;
      cancelled = cancel;
    });
  }
  template <class Kind>
  int count() const {
    return static_cast<int>(std::count_if(events.begin(), events.end(), [](const RunEvent& e) { return std::holds_alternative<Kind>(e); }));
  }
};

SweepSpec smallSpec() { return test::fixtureRun().spec; }

// A WorkerClient on the fake worker script in `mode` (`delay` seconds per point) with its events
// recorded, writing to a store in a temporary folder. Needs test::ensureApp() first.
struct FakeWorkerRun {
  QTemporaryDir dir;
  WorkerClient worker;
  Recorder rec{worker};
  QString error;  // startRun's message when start() fails

  FakeWorkerRun(const char* mode, const char* delay) {
    worker.setProgram(QStringLiteral("/bin/sh"), fakeWorker(mode, delay));
  }
  QString db() const { return dir.filePath(QStringLiteral("r.db")); }
  bool start() { return worker.startRun(smallSpec(), db(), &error); }
};

TEST(Worker, StreamsEveryEventAndPassesTheBatchFlags) {
  test::ensureApp();
  FakeWorkerRun run("complete", "0");
  ASSERT_TRUE(run.start()) << run.error.toStdString();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.finished == 1; }, 10000));
  EXPECT_EQ(run.rec.events.size(), 27u);
  EXPECT_EQ(run.rec.count<PointFinishedEvent>(), 12);
  EXPECT_EQ(run.rec.exit_code, 0);
  EXPECT_FALSE(run.rec.crashed);
  EXPECT_FALSE(run.rec.cancelled);
  EXPECT_EQ(run.worker.currentRunId(), 1);
  const QStringList args = run.worker.lastArguments();
  for (const char* flag : {"--batch", "--spec", "--db", "--events", "jsonl", "--no-progress"}) {
    EXPECT_TRUE(args.contains(QString::fromLatin1(flag))) << flag;
  }

  ASSERT_TRUE(run.worker.resumeRun(1, run.db(), &run.error));
  EXPECT_TRUE(run.worker.lastArguments().contains(QStringLiteral("--resume")));
  EXPECT_EQ(run.worker.lastArguments().at(run.worker.lastArguments().indexOf(QStringLiteral("--resume")) + 1), QStringLiteral("1"));
  ASSERT_TRUE(test::waitFor([&] { return run.rec.finished == 2; }, 10000));
}

TEST(Worker, CancelStopsTheWorkerCleanly) {
  test::ensureApp();
  FakeWorkerRun run("complete", "0.2");
  ASSERT_TRUE(run.start()) << run.error.toStdString();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.count<PointFinishedEvent>() >= 1; }, 10000));
  QElapsedTimer clock;
  clock.start();
  run.worker.cancel();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.finished == 1; }, 5000));
  EXPECT_LT(clock.elapsed(), 2000);
  EXPECT_TRUE(run.rec.cancelled);
  EXPECT_FALSE(run.rec.crashed);
  EXPECT_FALSE(run.worker.isRunning());
  EXPECT_LT(run.rec.count<PointFinishedEvent>(), 12);
  ASSERT_EQ(run.rec.count<RunFinishedEvent>(), 1);
  ASSERT_TRUE(std::holds_alternative<RunFinishedEvent>(run.rec.events.back()));
  EXPECT_EQ(std::get<RunFinishedEvent>(run.rec.events.back()).status, RunStatus::Interrupted);
}

TEST(Worker, KillsAWorkerThatIgnoresTerminate) {
  test::ensureApp();
  FakeWorkerRun run("stubborn", "0.2");
  run.worker.setGracePeriodMs(300);
  ASSERT_TRUE(run.start()) << run.error.toStdString();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.count<RunStartedEvent>() == 1; }, 10000));
  run.worker.cancel();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.finished == 1; }, 3000));
  EXPECT_TRUE(run.rec.cancelled);
  EXPECT_TRUE(run.rec.output.join(QLatin1Char('\n')).contains(QLatin1String("killed")));
}

TEST(Worker, ReportsACrash) {
  test::ensureApp();
  FakeWorkerRun run("crash", "0");
  ASSERT_TRUE(run.start()) << run.error.toStdString();
  ASSERT_TRUE(test::waitFor([&] { return run.rec.finished == 1; }, 10000));
  EXPECT_TRUE(run.rec.crashed);
  EXPECT_EQ(run.rec.exit_code, 3);
  EXPECT_EQ(run.rec.count<PointFinishedEvent>(), 3);
  EXPECT_TRUE(run.rec.output.join(QLatin1Char('\n')).contains(QLatin1String("simulated device fault")));
}

TEST(Worker, MissingProgramFailsToStart) {
  test::ensureApp();
  WorkerClient worker;
  worker.setProgram(QStringLiteral("/nonexistent/attnbench"));
  QString error;
  EXPECT_FALSE(worker.startRun(smallSpec(), QStringLiteral("/tmp/x.db"), &error));
  EXPECT_TRUE(error.contains(QLatin1String("cannot start")));
}

MainWindowOptions windowOptions(const QString& db, const char* mode, const char* delay) {
  MainWindowOptions options;
  options.db_path = db;
  options.use_settings = false;
  options.list_devices = false;
  options.worker_program = QStringLiteral("/bin/sh");
  options.worker_args = fakeWorker(mode, delay);
  options.cancel_grace_ms = 1000;
  return options;
}

TEST(MainWindowRun, ProgressIsIndeterminateUntilTheFirstPointThenCancels) {
  test::ensureApp();
  QTemporaryDir dir;
  MainWindow window(windowOptions(dir.filePath(QStringLiteral("w.db")), "complete", "0.25"));
  window.editor()->setSpec(smallSpec());
  ASSERT_TRUE(window.startRun());
  EXPECT_EQ(window.progressBar()->maximum(), 0);  // indeterminate
  ASSERT_TRUE(test::waitFor([&] { return window.runData()->points().size() >= 1; }, 10000));
  EXPECT_EQ(window.progressBar()->maximum(), 12);
  EXPECT_GE(window.progressBar()->value(), 1);
  EXPECT_FALSE(window.editor()->isEnabled());  // no edits while running

  window.cancelRun();
  ASSERT_TRUE(test::waitFor([&] { return !window.worker()->isRunning(); }, 5000));
  QCoreApplication::processEvents();
  EXPECT_TRUE(window.logPane()->toPlainText().contains(QLatin1String("cancelled")));
  EXPECT_EQ(window.runData()->run().status, RunStatus::Interrupted);
  EXPECT_TRUE(window.editor()->isEnabled());
}

TEST(MainWindowRun, CrashIsLoggedAndTheRunCanBeResumed) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("w.db"));
  {
    // The worker's run #1 as the store holds it when the worker dies: three points recorded.
    auto store = Store::open(db.toStdString());
    const RunRecord run = test::fixtureRun();
    const auto id = store->createRun(run.spec, run.device, run.total_points);
    ASSERT_EQ(id, 1);
    const auto points = test::fixturePoints();
    for (int i = 0; i < 3; ++i) store->recordPoint(id, points[static_cast<std::size_t>(i)]);
  }
  MainWindow window(windowOptions(db, "crash", "0"));
  window.editor()->setSpec(smallSpec());
  ASSERT_TRUE(window.startRun());
  ASSERT_TRUE(test::waitFor([&] { return !window.worker()->isRunning(); }, 10000));
  QCoreApplication::processEvents();
  const QString log = window.logPane()->toPlainText();
  EXPECT_TRUE(log.contains(QLatin1String("stopped unexpectedly"))) << log.toStdString();
  EXPECT_TRUE(log.contains(QLatin1String("simulated device fault")));
  EXPECT_EQ(window.runData()->points().size(), 3u);

  ASSERT_TRUE(window.resumeRun());
  EXPECT_TRUE(window.worker()->lastArguments().contains(QStringLiteral("--resume")));
  ASSERT_TRUE(test::waitFor([&] { return !window.worker()->isRunning(); }, 10000));
}

}  // namespace
}  // namespace attnbench::ui
