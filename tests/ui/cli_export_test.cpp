// The real `attnbench` executable draws a run's charts without a display: after a batch run
// (--export-charts) and from a stored run (export RUN --charts).
#include <gtest/gtest.h>

#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTemporaryDir>

#include "chart_export.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

struct Result {
  int exit_code = -1;
  QString output;
};

Result runAttnbench(const QStringList& args) {
  QProcess process;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
  process.setProcessEnvironment(env);
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(QStringLiteral(ATTNBENCH_EXE), args);
  if (!process.waitForFinished(120000)) return {-1, QStringLiteral("timed out")};
  return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1, QString::fromUtf8(process.readAll())};
}

TEST(CliExport, BatchRunExportsItsChartsAndExportRedrawsThem) {
  test::ensureApp();  // QImage / QSvgRenderer for the checks
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("r.db"));
  const QString charts = dir.filePath(QStringLiteral("charts"));
  const Result batch = runAttnbench({QStringLiteral("--batch"), QStringLiteral("--device"), QStringLiteral("cpu"),
                                     QStringLiteral("--heads"), QStringLiteral("4"), QStringLiteral("--head-dim"),
                                     QStringLiteral("64"), QStringLiteral("--seq-lens"), QStringLiteral("32..128"),
                                     QStringLiteral("--dtype"), QStringLiteral("fp32"), QStringLiteral("--no-progress"),
                                     QStringLiteral("--db"), db, QStringLiteral("--export-charts"), charts});
  ASSERT_EQ(batch.exit_code, 0) << batch.output.toStdString();
  test::expectChartFiles(charts, kDefaultChartSize);

  const QString again = dir.filePath(QStringLiteral("again"));
  const Result exported = runAttnbench({QStringLiteral("export"), QStringLiteral("1"), QStringLiteral("--charts"), again,
                                        QStringLiteral("--db"), db});
  ASSERT_EQ(exported.exit_code, 0) << exported.output.toStdString();
  test::expectChartFiles(again, kDefaultChartSize);

  const Result missing = runAttnbench({QStringLiteral("export"), QStringLiteral("7"), QStringLiteral("--charts"), again,
                                       QStringLiteral("--db"), db});
  EXPECT_EQ(missing.exit_code, 2) << missing.output.toStdString();  // bad input: no run 7
}

// `export --charts --style paper ...` draws the figures with the window's FigureStyle code: the run
// id in the names, the PNG at the asked size and DPI, the PDF page at the physical size, dark when
// asked; bad options are refused before anything is written.
TEST(CliExport, ExportDrawsFiguresInTheAskedStyle) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("r.db"));
  const std::int64_t id = test::createFixtureDb(db);
  const QString figs = dir.filePath(QStringLiteral("figs"));
  const auto run = [&](const QString& out, QStringList extra) {
    return runAttnbench(QStringList{QStringLiteral("export"), QString::number(id), QStringLiteral("--charts"), out,
                                    QStringLiteral("--db"), db} +
                        extra);
  };
  const Result paper = run(figs, {QStringLiteral("--style"), QStringLiteral("paper"), QStringLiteral("--size"),
                                  QStringLiteral("3.3x2.2in"), QStringLiteral("--dpi"), QStringLiteral("150")});
  ASSERT_EQ(paper.exit_code, 0) << paper.output.toStdString();
  const QString stem = QDir(figs).filePath(QStringLiteral("run%1-").arg(id));
  for (const char* chart : {"latency", "speedup", "tflops", "memory"}) {
    for (const char* suffix : {"png", "svg", "pdf"}) {
      EXPECT_TRUE(QFileInfo::exists(stem + QLatin1String(chart) + QLatin1Char('.') + QLatin1String(suffix))) << chart << suffix;
    }
  }
  const QImage png(stem + QStringLiteral("latency.png"));
  EXPECT_EQ(png.size(), QSize(495, 330));  // 3.3 x 2.2 in at 150 dpi
  EXPECT_NEAR(png.dotsPerMeterX() * 0.0254, 150.0, 0.5);
  const QRegularExpressionMatch box = QRegularExpression(QStringLiteral("/MediaBox \\[0 0 ([0-9.]+) ([0-9.]+)\\]"))
                                          .match(QString::fromLatin1(test::readAll(stem + QStringLiteral("latency.pdf"))));
  ASSERT_TRUE(box.hasMatch());
  EXPECT_NEAR(box.captured(1).toDouble(), 237.6, 0.5);
  EXPECT_NEAR(box.captured(2).toDouble(), 158.4, 0.5);

  const QString dark_dir = dir.filePath(QStringLiteral("dark"));
  const Result dark = run(dark_dir, {QStringLiteral("--style"), QStringLiteral("paper"), QStringLiteral("--theme"), QStringLiteral("dark")});
  ASSERT_EQ(dark.exit_code, 0) << dark.output.toStdString();
  const QImage dark_png(QDir(dark_dir).filePath(QStringLiteral("run%1-latency.png").arg(id)));
  EXPECT_EQ(dark_png.size(), QSize(990, 660));  // the paper style's 300 dpi
  const auto lightness = [](const QImage& image) {
    double sum = 0;
    int n = 0;
    for (int y = 0; y < image.height(); y += 5) {
      for (int x = 0; x < image.width(); x += 5, ++n) sum += QColor(image.pixel(x, y)).lightnessF();
    }
    return sum / n;
  };
  EXPECT_LT(lightness(dark_png), 0.5);
  EXPECT_GT(lightness(png), 0.8);

  const QString none = dir.filePath(QStringLiteral("none"));
  for (const QStringList& bad : {QStringList{QStringLiteral("--style"), QStringLiteral("poster")},
                                 QStringList{QStringLiteral("--size"), QStringLiteral("3x2")},
                                 QStringList{QStringLiteral("--dpi"), QStringLiteral("5")},
                                 QStringList{QStringLiteral("--theme"), QStringLiteral("sepia")}}) {
    const Result refused = run(none, bad);
    EXPECT_EQ(refused.exit_code, 2) << bad.join(QLatin1Char(' ')).toStdString() << ": " << refused.output.toStdString();
    EXPECT_FALSE(QFileInfo::exists(none)) << bad.join(QLatin1Char(' ')).toStdString();
  }
  const Result alone = runAttnbench({QStringLiteral("export"), QString::number(id), QStringLiteral("--csv"),
                                     dir.filePath(QStringLiteral("p.csv")), QStringLiteral("--dpi"), QStringLiteral("300"),
                                     QStringLiteral("--db"), db});
  EXPECT_EQ(alone.exit_code, 2) << alone.output.toStdString();
  EXPECT_TRUE(alone.output.contains(QLatin1String("go with --charts"))) << alone.output.toStdString();
}

}  // namespace
}  // namespace attnbench::ui
