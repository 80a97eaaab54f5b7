#include <gtest/gtest.h>

#include <map>

#include <QAbstractTextDocumentLayout>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QTextDocument>
#include <QTextFrame>
#include <QTextLayout>
#include <QTextTable>

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

// The PDF report laid out for reading: every table as wide as the page's text, each line of a cell
// broken between words (none cut inside a word, none running past its cell), two charts to a page;
// the file read back: A4 landscape pages, the four charts, more than one page.
TEST(Export, PdfReportFillsTheWidthKeepsWordsWholeAndPairsTheCharts) {
  test::ensureApp();
  const RunRecord run = measuredRun();
  const std::vector<PointResult> points = test::fixturePoints();
  std::map<ChartKind, QImage> images;
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#1")}}, QString());
  charts.addPoints(points);
  for (ChartKind kind : kChartKinds) images[kind] = renderChartImage(charts.chart(kind), kDefaultChartSize);
  QTextDocument doc;
  buildReportDocument(&doc, run, points, images);
  const QSizeF page = doc.pageSize();
  ASSERT_GT(page.width(), page.height());  // landscape
  QAbstractTextDocumentLayout* layout = doc.documentLayout();
  int tables = 0, lines = 0;
  for (QTextFrame* frame : doc.rootFrame()->childFrames()) {
    auto* table = qobject_cast<QTextTable*>(frame);
    if (table == nullptr) continue;
    ++tables;
    EXPECT_NEAR(layout->frameBoundingRect(table).width(), page.width(), 2.0) << "table " << tables;
    for (int r = 0; r < table->rows(); ++r) {
      for (int c = 0; c < table->columns(); ++c) {
        for (QTextFrame::iterator it = table->cellAt(r, c).begin(); !it.atEnd(); ++it) {
          const QTextBlock block = it.currentBlock();
          const QString text = block.text();
          QTextLayout* lines_of = block.layout();
          for (int i = 0; i < lines_of->lineCount(); ++i) {
            const QTextLine line = lines_of->lineAt(i);
            ++lines;
            EXPECT_LE(line.naturalTextWidth(), line.width() + 0.5) << text.toStdString() << " runs past its cell";
            const int end = line.textStart() + line.textLength();
            if (end >= text.size()) continue;
            // A break between words: after a space, or after a hyphen or slash in a compound.
            const QChar last = text.at(end - 1);
            EXPECT_TRUE(last.isSpace() || last == QLatin1Char('-') || last == QLatin1Char('/') || last == QLatin1Char(','))
                << "\"" << text.toStdString() << "\" broken inside a word after \"" << text.left(end).toStdString() << "\"";
          }
        }
      }
    }
  }
  EXPECT_GE(tables, 6);  // run, device, provenance, sweep, summary, points
  EXPECT_GT(lines, 100);
  // The four charts: two on one page, two on the next.
  std::map<int, int> charts_on_page;
  for (QTextBlock block = doc.begin(); block.isValid(); block = block.next()) {
    for (QTextBlock::iterator f = block.begin(); !f.atEnd(); ++f) {
      if (!f.fragment().charFormat().isImageFormat()) continue;
      const QRectF at = layout->blockBoundingRect(block);
      const int first = static_cast<int>(at.top() / page.height());
      EXPECT_EQ(static_cast<int>((at.bottom() - 1) / page.height()), first) << "a chart split over two pages";
      ++charts_on_page[first];
    }
  }
  ASSERT_EQ(charts_on_page.size(), 2u);
  EXPECT_EQ(charts_on_page.begin()->second, 2);
  EXPECT_EQ(charts_on_page.rbegin()->second, 2);
  EXPECT_EQ(charts_on_page.rbegin()->first, charts_on_page.begin()->first + 1);

  QTemporaryDir dir;
  QString error;
  const QString pdf = dir.filePath(QStringLiteral("report.pdf"));
  ASSERT_TRUE(exportReport(run, points, pdf, &error)) << error.toStdString();
  const QString bytes = QString::fromLatin1(test::readAll(pdf));
  const QRegularExpressionMatch box = QRegularExpression(QStringLiteral("/MediaBox \\[0 0 ([0-9.]+) ([0-9.]+)\\]")).match(bytes);
  ASSERT_TRUE(box.hasMatch());
  EXPECT_NEAR(box.captured(1).toDouble(), 841.9, 1.0);  // A4 landscape, in points
  EXPECT_NEAR(box.captured(2).toDouble(), 595.3, 1.0);
  EXPECT_GE(static_cast<int>(bytes.count(QRegularExpression(QStringLiteral("/Type /Page\\b")))), doc.pageCount());
  EXPECT_EQ(static_cast<int>(bytes.count(QRegularExpression(QStringLiteral("/Subtype /Image")))), 4);
  if (const QByteArray keep = qgetenv("ATTNBENCH_REPORT_DIR"); !keep.isEmpty()) {
    QFile::copy(pdf, QString::fromLocal8Bit(keep) + QStringLiteral("/report.pdf"));
  }
}

}  // namespace
}  // namespace attnbench::ui
