#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QImage>
#include <QSvgRenderer>
#include <QTemporaryDir>
#include <QXmlStreamReader>

#include "attnbench/ui/gui_main.h"
#include "chart_export.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void expectDecodablePng(const QString& path, QSize size) {
  QImage image(path);
  ASSERT_FALSE(image.isNull()) << path.toStdString();
  EXPECT_EQ(image.size(), size);
  // Something was drawn: not a blank page.
  QSet<QRgb> colors;
  for (int y = 0; y < image.height(); y += 7) {
    for (int x = 0; x < image.width(); x += 7) colors.insert(image.pixel(x, y));
  }
  EXPECT_GT(colors.size(), 5) << path.toStdString();
}

void expectParseableSvg(const QString& path) {
  QXmlStreamReader xml(readAll(path));
  int elements = 0;
  while (!xml.atEnd()) {
    if (xml.readNext() == QXmlStreamReader::StartElement) ++elements;
  }
  EXPECT_FALSE(xml.hasError()) << path.toStdString() << ": " << xml.errorString().toStdString();
  EXPECT_GT(elements, 10);
  QSvgRenderer renderer(path);
  EXPECT_TRUE(renderer.isValid()) << path.toStdString();
}

void expectPdf(const QString& path) {
  const QByteArray pdf = readAll(path);
  EXPECT_TRUE(pdf.startsWith("%PDF")) << path.toStdString();
  EXPECT_GT(pdf.size(), 1000);
}

TEST(Export, RunChartsToEveryFormat) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString out = dir.filePath(QStringLiteral("charts"));
  ASSERT_EQ(exportRunCharts(test::fixtureRun(), test::fixturePoints(), out), 0);
  for (const char* stem : {"latency", "speedup", "tflops", "memory"}) {
    const QString base = QDir(out).filePath(QString::fromLatin1(stem));
    expectDecodablePng(base + QStringLiteral(".png"), kDefaultChartSize);
    expectParseableSvg(base + QStringLiteral(".svg"));
    expectPdf(base + QStringLiteral(".pdf"));
  }
}

TEST(Export, OneChartAtAChosenSize) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString png = dir.filePath(QStringLiteral("latency.png"));
  ASSERT_TRUE(exportChart(test::fixtureRun(), test::fixturePoints(), ChartKind::Latency, png, QSize(640, 400), nullptr, &error))
      << error.toStdString();
  expectDecodablePng(png, QSize(640, 400));
  EXPECT_FALSE(exportChart(test::fixtureRun(), test::fixturePoints(), ChartKind::Latency, dir.filePath(QStringLiteral("x.bmp")),
                           QSize(640, 400), nullptr, &error));
  EXPECT_TRUE(error.contains(QLatin1String("bmp")));
}

TEST(Export, TableAsCsvAndJson) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString csv = dir.filePath(QStringLiteral("points.csv"));
  ASSERT_TRUE(exportTable(test::fixtureRun(), test::fixturePoints(), csv, &error)) << error.toStdString();
  const QList<QByteArray> lines = readAll(csv).trimmed().split('\n');
  EXPECT_EQ(lines.size(), 13);  // header + 12 points
  EXPECT_TRUE(lines.front().contains(','));

  const QString json = dir.filePath(QStringLiteral("run.json"));
  ASSERT_TRUE(exportTable(test::fixtureRun(), test::fixturePoints(), json, &error)) << error.toStdString();
  const auto j = nlohmann::json::parse(readAll(json).toStdString());
  EXPECT_TRUE(j.is_object());
  EXPECT_NE(j.dump().find("median_ms"), std::string::npos);
}

TEST(Export, ReportAsHtmlAndPdf) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString html_path = dir.filePath(QStringLiteral("report.html"));
  ASSERT_TRUE(exportReport(test::fixtureRun(), test::fixturePoints(), html_path, &error)) << error.toStdString();
  const QString html = QString::fromUtf8(readAll(html_path));
  EXPECT_EQ(html.count(QStringLiteral("src=\"data:image/png;base64,")), 4);
  EXPECT_TRUE(html.contains(QLatin1String("AMD EPYC")));
  EXPECT_TRUE(html.contains(QLatin1String("Flash vs standard")));
  EXPECT_TRUE(html.contains(QLatin1String("would need")));  // the skip reasons are in the points table

  const QString pdf = dir.filePath(QStringLiteral("report.pdf"));
  ASSERT_TRUE(exportReport(test::fixtureRun(), test::fixturePoints(), pdf, &error)) << error.toStdString();
  expectPdf(pdf);
}

}  // namespace
}  // namespace attnbench::ui
