#include <gtest/gtest.h>

#include <QTemporaryDir>

#include "attnbench/ui/gui_main.h"
#include "chart_export.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

TEST(Export, RunChartsToEveryFormat) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString out = dir.filePath(QStringLiteral("charts"));
  ASSERT_EQ(exportRunCharts(test::fixtureRun(), test::fixturePoints(), out).toStdString(), "");
  test::expectChartFiles(out, kDefaultChartSize);
}

TEST(Export, OneChartAtAChosenSize) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString png = dir.filePath(QStringLiteral("latency.png"));
  ASSERT_TRUE(exportChart(test::fixtureRun(), test::fixturePoints(), ChartKind::Latency, png, QSize(640, 400), nullptr, &error))
      << error.toStdString();
  test::expectDecodablePng(png, QSize(640, 400));
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
  const QList<QByteArray> lines = test::readAll(csv).trimmed().split('\n');
  EXPECT_EQ(lines.size(), 13);  // header + 12 points
  EXPECT_TRUE(lines.front().contains(','));

  const QString json = dir.filePath(QStringLiteral("run.json"));
  ASSERT_TRUE(exportTable(test::fixtureRun(), test::fixturePoints(), json, &error)) << error.toStdString();
  const auto j = nlohmann::json::parse(test::readAll(json).toStdString());
  EXPECT_TRUE(j.is_object());
  EXPECT_NE(j.dump().find("median_ms"), std::string::npos);
}

TEST(Export, ReportAsHtmlAndPdf) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString html_path = dir.filePath(QStringLiteral("report.html"));
  ASSERT_TRUE(exportReport(test::fixtureRun(), test::fixturePoints(), html_path, &error)) << error.toStdString();
  const QString html = QString::fromUtf8(test::readAll(html_path));
  EXPECT_EQ(html.count(QStringLiteral("src=\"data:image/png;base64,")), 4);
  EXPECT_TRUE(html.contains(QLatin1String("AMD EPYC")));
  EXPECT_TRUE(html.contains(QLatin1String("Flash vs standard")));
  EXPECT_TRUE(html.contains(QLatin1String("would need")));  // the skip reasons are in the points table

  const QString pdf = dir.filePath(QStringLiteral("report.pdf"));
  ASSERT_TRUE(exportReport(test::fixtureRun(), test::fixturePoints(), pdf, &error)) << error.toStdString();
  test::expectPdf(pdf);
}

}  // namespace
}  // namespace attnbench::ui
