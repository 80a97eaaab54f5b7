// Exports: charts to PNG/SVG/PDF (rendered from the chart's scene, so legends keep their markers),
// the points table to CSV/JSON (core's exporters), and a whole-run report to HTML or PDF.
#pragma once

#include <vector>

#include <QImage>
#include <QList>
#include <QSize>
#include <QString>
#include <QStringList>

#include "attnbench/results.h"
#include "attnbench/store.h"
#include "run_charts.h"

QT_BEGIN_NAMESPACE
class QChart;
QT_END_NAMESPACE

namespace attnbench::ui {

enum class ImageFormat { Png, Svg, Pdf };
QString formatSuffix(ImageFormat format);  // "png", "svg", "pdf"
inline const QList<ImageFormat> kAllImageFormats = {ImageFormat::Png, ImageFormat::Svg, ImageFormat::Pdf};

inline constexpr QSize kDefaultChartSize{1200, 800};

// Draws `chart` at `size` pixels into an image (white background).
QImage renderChartImage(QChart* chart, QSize size);
// Writes `chart` to `path` at `size` pixels (PDF: the same size in points at 96 dpi).
bool renderChart(QChart* chart, const QString& path, ImageFormat format, QSize size, QString* error);

// Draws the run's charts afresh (light theme) and writes <dir>/<stem>.<suffix> for each chart
// kind in `kinds` and format in `formats`. Series hidden in `visibility_from` are left out.
bool exportCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                  const QList<ChartKind>& kinds, const QList<ImageFormat>& formats, QSize size,
                  const RunCharts* visibility_from, QStringList* written, QString* error);

// One chart to one file; the format comes from the suffix of `path`.
bool exportChart(const RunRecord& run, const std::vector<PointResult>& points, ChartKind kind, const QString& path,
                 QSize size, const RunCharts* visibility_from, QString* error);

// The points as CSV (.csv) or the run as JSON (.json), by the suffix of `path`.
bool exportTable(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error);

// A report of the run: device, sweep, charts, summary and points tables. HTML (.html, images
// embedded) or PDF (.pdf), by the suffix of `path`.
bool exportReport(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error);

}  // namespace attnbench::ui
