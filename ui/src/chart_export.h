// Exports: charts to PNG/SVG/PDF (rendered from the chart's scene, so legends keep their markers),
// the points table to CSV/JSON (core's exporters), and a whole-run report to HTML or PDF.
#pragma once

#include <map>
#include <vector>

#include <QImage>
#include <QList>
#include <QSize>
#include <QSizeF>
#include <QString>
#include <QStringList>

#include "attnbench/results.h"
#include "attnbench/store.h"
#include "run_charts.h"

QT_BEGIN_NAMESPACE
class QChart;
class QTextDocument;
QT_END_NAMESPACE

namespace attnbench::ui {

enum class ImageFormat { Png, Svg, Pdf };
QString formatSuffix(ImageFormat format);  // "png", "svg", "pdf"
inline const QList<ImageFormat> kAllImageFormats = {ImageFormat::Png, ImageFormat::Svg, ImageFormat::Pdf};

inline constexpr QSize kDefaultChartSize{1200, 800};

// Draws `chart`, laid out at `size` pixels, into an image (white background) of `pixels` (by
// default `size`).
QImage renderChartImage(QChart* chart, QSize size, QSize pixels = QSize());
// Writes `chart` to `path` at `size` pixels (PDF: the same size in points at 96 dpi).
bool renderChart(QChart* chart, const QString& path, ImageFormat format, QSize size, QString* error);

// Draws the run's charts afresh (light theme) and writes <dir>/<stem>.<suffix> for each chart
// kind in `kinds` and format in `formats`. Series hidden in `view_from` are left out, and its
// axes' log/linear scales kept.
bool exportCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                  const QList<ChartKind>& kinds, const QList<ImageFormat>& formats, QSize size,
                  const RunCharts* view_from, QStringList* written, QString* error);

// One chart to one file; the format comes from the suffix of `path`.
bool exportChart(const RunRecord& run, const std::vector<PointResult>& points, ChartKind kind, const QString& path,
                 QSize size, const RunCharts* view_from, QString* error);

// How a figure for a paper or slides is drawn: its size on the page, every text at one point size
// at that size, a title or none (a caption says it instead), light or dark.
struct FigureStyle {
  QSizeF size_inches{3.3, 2.2};  // a single column; 7 x 3 spans two
  int png_dpi = 300;
  double font_pt = 8.0;
  bool title = false;
  bool dark = false;
};
// The named styles: "paper" (the defaults above) and "screen" (1200 x 800 px at 96 dpi, 9 pt, with
// a title, as the window's exports); false with a one-line error for another name.
bool namedFigureStyle(const QString& name, FigureStyle* style, QString* error);
// The PNG resolutions a figure may ask for.
inline constexpr int kMinFigureDpi = 50;
inline constexpr int kMaxFigureDpi = 1200;
// "3.3x2.2in", "7x3in", "84x56mm", "8.5x5.5cm" (width x height, one unit) -> inches; false with a
// one-line error for anything else or a side outside 0.5-40 in.
bool parseFigureSize(const QString& text, QSizeF* inches, QString* error);

// The run's charts of `kinds` in `formats` as <dir>/run<ID>-<stem>.<suffix>, drawn in `style`:
// SVG and PDF at the physical size (vector), PNG at size x png_dpi pixels with that DPI recorded.
// Series hidden in `view_from` are left out, and its axes' log/linear scales kept.
bool exportFigures(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                   const QList<ChartKind>& kinds, const QList<ImageFormat>& formats, const FigureStyle& style,
                   const RunCharts* view_from, QStringList* written, QString* error);

// The points as CSV (.csv) or the run as JSON (.json), by the suffix of `path`.
bool exportTable(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error);

// The PDF report as a document paged at its A4 landscape text area (in 96-per-inch units): tables
// as wide as the page, lines broken between words only, two charts to a page (`images`, by kind).
void buildReportDocument(QTextDocument* doc, const RunRecord& run, const std::vector<PointResult>& points,
                         const std::map<ChartKind, QImage>& images);

// A report of the run: device, sweep, charts, summary and points tables. HTML (.html, images
// embedded) or PDF (.pdf), by the suffix of `path`.
bool exportReport(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error);

}  // namespace attnbench::ui
