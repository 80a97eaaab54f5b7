// Rough edges of the window: the missing-GPU note logged once as information, one log line per
// finished point, Run/Cancel/Resume as real buttons following their actions.
#include <gtest/gtest.h>

#include <QAction>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTemporaryDir>

#include "main_window.h"
#include "results_model.h"
#include "run_data.h"
#include "ui_format.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

int countLines(const QString& text, const QString& part) {
  int n = 0;
  for (const QString& line : text.split(QLatin1Char('\n'))) n += line.contains(part) ? 1 : 0;
  return n;
}

TEST(RoughEdges, WorkerLinesGetTheirLevelFromTheirPrefix) {
  // The note comes in the event stream too; its text mentions an error code, yet it is no error.
  EXPECT_EQ(workerLineLevel(QStringLiteral("note: no CUDA device (cudaErrorInsufficientDriver: CUDA driver version is "
                                           "insufficient): using the CPU backend")),
            QString());
  EXPECT_EQ(workerLineLevel(QStringLiteral("error: cannot write 'x.csv': No space left on device")), QStringLiteral("error"));
  EXPECT_EQ(workerLineLevel(QStringLiteral("warning: point 3 over the memory budget")), QStringLiteral("warning"));
  EXPECT_EQ(workerLineLevel(QStringLiteral("llama-2-7b  1  64 fp32  no  1.267  0.05  max error 3e-7")), QStringLiteral("worker"));
}

TEST(RoughEdges, OneLogLinePerFinishedPointAndTheGpuNoteOnce) {
  test::ensureApp();
  QTemporaryDir dir;
  MainWindow window(test::quietOptions(dir.filePath(QStringLiteral("r.db"))));
  for (const auto& event : test::fixtureEvents()) window.runData()->applyEvent(event);
  const QString log = window.logPane()->toPlainText();
  int finished = 0;
  for (const auto& event : test::fixtureEvents()) finished += std::holds_alternative<PointFinishedEvent>(event) ? 1 : 0;
  ASSERT_EQ(finished, 12);
  EXPECT_EQ(countLines(log, QStringLiteral("llama-2-7b B=")), finished) << log.toStdString();
  EXPECT_EQ(countLines(log, QStringLiteral("no CUDA device")), 1) << log.toStdString();
  EXPECT_EQ(countLines(log, QStringLiteral("skipped — would need")), 3);  // the fixture's three skips, with why
  EXPECT_EQ(countLines(log, QStringLiteral("TFLOP/s")), 9);
}

TEST(RoughEdges, RunCancelAndResumeAreButtonsThatFollowTheirActions) {
  test::ensureApp();
  QTemporaryDir dir;
  MainWindow window(test::quietOptions(dir.filePath(QStringLiteral("r.db"))));
  QAction* run = nullptr;
  for (QAction* a : window.findChildren<QAction*>()) {
    if (a->text() == QLatin1String("&Run") && !a->shortcut().isEmpty()) run = a;
  }
  ASSERT_NE(run, nullptr);
  QPushButton* run_button = nullptr;
  int buttons = 0;
  for (QPushButton* b : window.findChildren<QPushButton*>()) {
    if (b->text() == QLatin1String("Run")) run_button = b;
    if (b->text() == QLatin1String("Cancel") || b->text().startsWith(QLatin1String("Resume"))) ++buttons;
  }
  ASSERT_NE(run_button, nullptr);
  EXPECT_EQ(buttons, 2);
  EXPECT_EQ(run_button->isEnabled(), run->isEnabled());
  run->setEnabled(!run->isEnabled());
  EXPECT_EQ(run_button->isEnabled(), run->isEnabled());
}

// The results table: one unit per column (in its header), the tile auto resolved to, and the
// speedup of each flash point over the standard kernel on the same shape.
TEST(RoughEdges, ResultsTableHasOneUnitPerColumnAndASpeedup) {
  test::ensureApp();
  RunData data;
  data.reset(test::fixtureRun(), test::fixturePoints());
  ResultsModel model(&data);
  EXPECT_EQ(model.headerData(ResultsModel::Median, Qt::Horizontal, Qt::DisplayRole).toString(), QStringLiteral("Median (ms)"));
  EXPECT_EQ(model.headerData(ResultsModel::Peak, Qt::Horizontal, Qt::DisplayRole).toString(), QStringLiteral("Peak (MiB)"));
  int speedups = 0;
  for (int row = 0; row < model.rowCount(); ++row) {
    const PointResult& r = data.points()[static_cast<std::size_t>(row)];
    const QString median = model.index(row, ResultsModel::Median).data().toString();
    if (r.stats.median_ms > 0) {
      EXPECT_NEAR(median.toDouble(), r.stats.median_ms, 0.01) << median.toStdString();  // a plain number of ms
    }
    const double speedup = model.index(row, ResultsModel::Speedup).data(ResultsModel::SortRole).toDouble();
    if (speedup > 0) {
      ++speedups;
      EXPECT_EQ(r.point.kernel, KernelKind::Flash);
      EXPECT_TRUE(model.index(row, ResultsModel::Speedup).data().toString().endsWith(QChar(0x00D7)));
    }
    if (r.point.kernel == KernelKind::Flash && r.point.tile.isAuto() && r.status == PointStatus::Ok) {
      EXPECT_TRUE(model.index(row, ResultsModel::Tile).data().toString().startsWith(QStringLiteral("auto → ")));
    }
  }
  // The fixture's flash points with a standard point of the same shape that ran: B=1 N=128, 256; B=2 N=128, 256.
  EXPECT_EQ(speedups, 4);
  // B=1 N=128: standard 4.3645 ms over flash 4.3530 ms.
  EXPECT_NEAR(model.index(0, ResultsModel::Speedup).data(ResultsModel::SortRole).toDouble(), 4.3644725 / 4.3530455, 1e-9);
}

}  // namespace
}  // namespace attnbench::ui
