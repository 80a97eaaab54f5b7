// What the File menu's and the history's dialogs do once the user has chosen: save and load a
// sweep, rename and annotate a run, export a chart at a chosen size. One test drives the real
// rename dialog.
#include <gtest/gtest.h>

#include <QApplication>
#include <QImage>
#include <QInputDialog>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>

#include "chart_panel.h"
#include "history_panel.h"
#include "main_window.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

QString historyCell(HistoryPanel* history, std::int64_t run_id, int column) {
  const QAbstractItemModel* shown = history->table()->model();
  for (int r = 0; r < shown->rowCount(); ++r) {
    if (shown->index(r, HistoryPanel::Id).data(Qt::UserRole).toLongLong() == run_id) return shown->index(r, column).data().toString();
  }
  return {};
}

TEST(Dialogs, SaveSweepThenLoadItBack) {
  test::ensureApp();
  QTemporaryDir dir;
  MainWindow window(test::quietOptions(dir.filePath(QStringLiteral("d.db"))));
  SweepSpec spec = test::fixtureRun().spec;
  spec.name = "round-trip";
  spec.seq_lens = {256, 1024, 3000};
  spec.batch_sizes = {1, 4};
  spec.causal = {true};
  spec.repetitions = 7;
  window.editor()->setSpec(spec);
  const QString path = dir.filePath(QStringLiteral("sweep.json"));
  ASSERT_TRUE(window.saveSweep(path));

  window.editor()->setSpec(sweepPreset("cpu-quick"));
  ASSERT_NE(specToJson(*window.editor()->spec()), specToJson(spec));
  ASSERT_TRUE(window.loadSweep(path));
  ASSERT_TRUE(window.editor()->spec().has_value());
  EXPECT_EQ(specToJson(*window.editor()->spec()), specToJson(spec));

  EXPECT_FALSE(window.loadSweep(dir.filePath(QStringLiteral("missing.json"))));
  EXPECT_TRUE(window.logPane()->toPlainText().contains(QLatin1String("cannot load")));
  EXPECT_FALSE(window.saveSweep(dir.filePath(QStringLiteral("no/such/folder/s.json"))));
}

TEST(Dialogs, RenameAndAnnotateReachTheStoreTheHistoryAndTheTitle) {
  test::ensureApp();
  test::FixtureWindow fixture;
  MainWindow& window = fixture.window;
  ASSERT_TRUE(window.openRun(fixture.run_id));
  HistoryPanel* history = window.historyPanel();
  ASSERT_TRUE(history->renameRun(fixture.run_id, QStringLiteral("  before the driver update ")));
  ASSERT_TRUE(history->annotateRun(fixture.run_id, QStringLiteral("fans at 100%\nsecond line")));
  EXPECT_FALSE(history->renameRun(fixture.run_id, QStringLiteral("   ")));  // a name is required
  EXPECT_FALSE(history->renameRun(999, QStringLiteral("x")));    // no such run: logged, not thrown
  EXPECT_TRUE(window.logPane()->toPlainText().contains(QLatin1String("999")));

  EXPECT_EQ(historyCell(history, fixture.run_id, HistoryPanel::Name), QStringLiteral("before the driver update"));
  EXPECT_EQ(historyCell(history, fixture.run_id, HistoryPanel::Note), QStringLiteral("fans at 100%\nsecond line"));
  EXPECT_TRUE(window.windowTitle().contains(QLatin1String("before the driver update"))) << window.windowTitle().toStdString();
  auto store = Store::open(fixture.db.toStdString());
  const RunRecord run = store->requireRun(fixture.run_id);
  EXPECT_EQ(run.name, "before the driver update");
  EXPECT_EQ(run.note, "fans at 100%\nsecond line");
}

TEST(Dialogs, TheRenameButtonAsksForTheNameInADialog) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("d.db"));
  auto store = Store::open(db.toStdString());
  const auto id = test::storeFixtureRun(*store);
  HistoryPanel panel;
  panel.setDatabase(Database::create(QString::fromStdString(store->path())));
  panel.table()->selectRow(0);
  QPushButton* rename = nullptr;
  for (QPushButton* b : panel.findChildren<QPushButton*>()) {
    if (b->text().startsWith(QLatin1String("Rename"))) rename = b;
  }
  ASSERT_TRUE(rename != nullptr && rename->isEnabled());
  bool answered = false;
  QTimer::singleShot(0, [&] {
    auto* dialog = qobject_cast<QInputDialog*>(QApplication::activeModalWidget());
    if (dialog == nullptr) return;
    EXPECT_EQ(dialog->textValue(), QString::fromStdString(test::fixtureRun().name));
    dialog->setTextValue(QStringLiteral("typed in the dialog"));
    dialog->accept();
    answered = true;
  });
  rename->click();  // runs the modal dialog until the timer accepts it
  EXPECT_TRUE(answered);
  EXPECT_EQ(store->requireRun(id).name, "typed in the dialog");
  EXPECT_EQ(historyCell(&panel, id, HistoryPanel::Name), QStringLiteral("typed in the dialog"));
}

TEST(Dialogs, ExportsAChartAtTheChosenSize) {
  test::ensureApp();
  test::FixtureWindow fixture;
  MainWindow& window = fixture.window;
  EXPECT_FALSE(window.exportChartFile(ChartKind::Latency, fixture.dir.filePath(QStringLiteral("none.png")), QSize(800, 500)));
  ASSERT_TRUE(window.openRun(fixture.run_id));
  const QString png = fixture.dir.filePath(QStringLiteral("speedup.png"));
  ASSERT_TRUE(window.exportChartFile(ChartKind::Speedup, png, QSize(800, 500)));
  test::expectDecodablePng(png, QSize(800, 500));
  EXPECT_FALSE(window.exportChartFile(ChartKind::Speedup, fixture.dir.filePath(QStringLiteral("x.gif")), QSize(800, 500)));

  const QString all = fixture.dir.filePath(QStringLiteral("all"));
  ASSERT_TRUE(window.exportAllCharts(all, ImageFormat::Png, QSize(640, 480)));
  for (const char* stem : {"latency", "speedup", "tflops", "memory"}) {
    test::expectDecodablePng(all + QLatin1Char('/') + QString::fromLatin1(stem) + QStringLiteral(".png"), QSize(640, 480));
  }

  // Figures from the window: the style's physical size at its DPI, the chart as the window shows it
  // (here switched to TFLOP/s over the batch size), named with the run id.
  window.chartPanel()->setChoice(ChartKind::Speedup, {ChartX::Batch, ChartMetric::Throughput});
  FigureStyle paper;
  paper.png_dpi = 100;
  const QString figures = fixture.dir.filePath(QStringLiteral("figures"));
  ASSERT_TRUE(window.exportFigureFiles(figures, {ChartKind::Speedup}, ImageFormat::Png, paper));
  test::expectDecodablePng(QStringLiteral("%1/run%2-tflops-vs-batch.png").arg(figures).arg(fixture.run_id), QSize(330, 220));
}

}  // namespace
}  // namespace attnbench::ui
