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

// The fixture run with a provenance, as a run recorded now has one.
RunRecord measuredRun() {
  RunRecord run = test::fixtureRun();
  run.provenance = {{"attnbench.commit", "abc1234"}, {"gpu.sm_clock_start_mhz", "1980"}, {"odd", "<b>&\"</b>"}};
  return run;
}

TEST(Export, TableAsCsvAndJson) {
  test::ensureApp();
  QTemporaryDir dir;
  QString error;
  const QString csv = dir.filePath(QStringLiteral("points.csv"));
  ASSERT_TRUE(exportTable(measuredRun(), test::fixturePoints(), csv, &error)) << error.toStdString();
  const QList<QByteArray> lines = test::readAll(csv).trimmed().split('\n');
  ASSERT_EQ(lines.size(), 16);  // 3 provenance comments + header + 12 points
  EXPECT_EQ(lines[0], "# attnbench.commit: abc1234");
  EXPECT_EQ(lines[1], "# gpu.sm_clock_start_mhz: 1980");
  EXPECT_TRUE(lines[3].startsWith("index,"));

  const QString json = dir.filePath(QStringLiteral("run.json"));
  ASSERT_TRUE(exportTable(measuredRun(), test::fixturePoints(), json, &error)) << error.toStdString();
  const auto j = nlohmann::json::parse(test::readAll(json).toStdString());
  EXPECT_TRUE(j.is_object());
  EXPECT_NE(j.dump().find("median_ms"), std::string::npos);
  EXPECT_EQ(j["provenance"]["gpu.sm_clock_start_mhz"], "1980");
  EXPECT_EQ(j["provenance"]["odd"], "<b>&\"</b>");
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
  EXPECT_TRUE(html.contains(QLatin1String("None recorded")));  // the fixture run has no provenance

  ASSERT_TRUE(exportReport(measuredRun(), test::fixturePoints(), html_path, &error)) << error.toStdString();
  const QString measured = QString::fromUtf8(test::readAll(html_path));
  EXPECT_TRUE(measured.contains(QLatin1String("<h2>Provenance</h2>")));
  EXPECT_TRUE(measured.contains(QLatin1String("gpu.sm_clock_start_mhz</th><td>1980</td>"))) << measured.toStdString();
  EXPECT_TRUE(measured.contains(QLatin1String("&lt;b&gt;&amp;&quot;&lt;/b&gt;")));  // escaped, not markup
  EXPECT_FALSE(measured.contains(QLatin1String("None recorded")));

  const QString pdf = dir.filePath(QStringLiteral("report.pdf"));
  ASSERT_TRUE(exportReport(test::fixtureRun(), test::fixturePoints(), pdf, &error)) << error.toStdString();
  test::expectPdf(pdf);
}

}  // namespace
}  // namespace attnbench::ui
