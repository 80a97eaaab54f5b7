#include "chart_export.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <QBuffer>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QPageSize>
#include <QPainter>
#include <QRegularExpression>
#include <QPdfWriter>
#include <QSaveFile>
#include <QSvgGenerator>
#include <QTextDocument>
#include <QUrl>
#include <QtCharts/QAbstractAxis>
#include <QtCharts/QChart>
#include <QtCharts/QLegend>

#include "attnbench/exporters.h"
#include "chart_panel.h"
#include "results_model.h"
#include "ui_format.h"

namespace attnbench::ui {

namespace {

constexpr int kPdfDpi = 96;

// The PDF report: A4 landscape with 12 mm margins, laid out in 96-per-inch units; a chart's width
// such that two of them (3:2) and a heading fit one page's height.
constexpr double kReportMarginMm = 12.0;
const QSizeF kReportTextPx((297.0 - 2 * kReportMarginMm) / 25.4 * kPdfDpi, (210.0 - 2 * kReportMarginMm) / 25.4 * kPdfDpi);
constexpr int kReportChartWidthPx = 460;
constexpr QSize kReportChartSize{600, 400};

// Lays the chart out at `size` in a scene (its own, when no view shows it) and draws that scene
// region: the scene, not a view, so the legend markers survive in PDF (Qt 6.4).
template <typename Paint>
void withChartInScene(QChart* chart, QSize size, Paint paint) {
  QGraphicsScene own;
  const bool borrowed = chart->scene() == nullptr;
  if (borrowed) own.addItem(chart);
  chart->resize(QSizeF(size));
  if (chart->layout() != nullptr) chart->layout()->activate();
  paint(*chart->scene(), QRectF(chart->scenePos(), QSizeF(size)));
  if (borrowed) own.removeItem(chart);  // the chart stays with its owner
}

// Every text of `chart` at `font_px` pixels (the title and axis titles bold); no title unless asked.
void applyFigureFonts(QChart* chart, int font_px, bool title) {
  const auto sized = [font_px](QFont font, bool bold) {
    font.setPixelSize(font_px);
    font.setBold(bold);
    return font;
  };
  chart->setTitleFont(sized(chart->titleFont(), true));
  if (!title) chart->setTitle(QString());
  chart->legend()->setFont(sized(chart->legend()->font(), false));
  for (QAbstractAxis* axis : chart->axes()) {
    axis->setLabelsFont(sized(axis->labelsFont(), false));
    axis->setTitleFont(sized(axis->titleFont(), true));
    // A column-wide figure has no room for the long form beside a legend.
    if (axis->orientation() == Qt::Horizontal && axis->titleText().startsWith(QLatin1String("Sequence length"))) {
      axis->setTitleText(QStringLiteral("N (tokens)"));
    }
  }
  chart->setMargins(QMargins(2, 2, 2, 2));
  chart->setBackgroundRoundness(0);
}


// Writes through a temporary file renamed over `path` on commit, which also reports a failed flush
// or close (a full disk): a failure leaves no truncated file behind.
bool writeFile(const QString& path, const QByteArray& bytes, QString* error) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
    *error = QStringLiteral("cannot write %1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

QString esc(const QString& s) { return s.toHtmlEscaped(); }

QString row(const QString& key, const QString& value) {
  return QStringLiteral("<tr><th align=left width=\"30%\">%1</th><td>%2</td></tr>").arg(esc(key), esc(value));
}

QString joinInts(const std::vector<int>& values) {
  QStringList parts;
  for (int v : values) parts << QString::number(v);
  return parts.join(QStringLiteral(", "));
}

QString propertyText(const nlohmann::json& value) {
  return value.is_string() ? qs(value.get<std::string>()) : qs(value.dump());
}

// The report as HTML; `image_src(kind)` gives each chart's <img src>.
template <typename ImageSrc>
QString reportHtml(const RunRecord& run, const std::vector<PointResult>& points, ImageSrc image_src) {
  QString html;
  html += QStringLiteral("<html><head><meta charset=\"utf-8\"><title>attnbench run #%1</title>"
                         "<style>body{font-family:sans-serif} table{border-collapse:collapse;width:100%}"
                         "td,th{border:1px solid #bbb;padding:2px 4px}</style></head><body>")
              .arg(run.id);
  html += QStringLiteral("<h1>attnbench — run #%1 %2</h1>").arg(run.id).arg(esc(qs(run.name)));
  html += QStringLiteral("<p>Report written %1.</p>").arg(QDateTime::currentDateTime().toString(Qt::ISODate));

  html += QStringLiteral("<h2>Run</h2><table width=\"100%\">");
  html += row(QStringLiteral("Status"), qs(runStatusName(run.status)));
  html += row(QStringLiteral("Points"), QStringLiteral("%1 of %2").arg(points.size()).arg(run.total_points));
  html += row(QStringLiteral("Started"), localTime(run.started_at));
  html += row(QStringLiteral("Finished"), localTime(run.finished_at));
  html += row(QStringLiteral("Host"), qs(run.host));
  html += row(QStringLiteral("attnbench"), qs(run.version));
  if (!run.note.empty()) html += row(QStringLiteral("Note"), qs(run.note));
  html += QStringLiteral("</table>");

  const DeviceInfo& d = run.device;
  html += QStringLiteral("<h2>Device</h2><table width=\"100%\">");
  html += row(QStringLiteral("Name"), qs(d.name));
  html += row(QStringLiteral("Id"), qs(d.id));
  html += row(QStringLiteral("Memory"), formatByteCount(d.memory_bytes));
  if (d.ceilings) {
    html += row(QStringLiteral("Copy bandwidth (measured)"), QStringLiteral("%1 GB/s").arg(d.ceilings->copy_gbps, 0, 'f', 1));
    html += row(QStringLiteral("GEMM (measured)"), QStringLiteral("%1 TFLOP/s %2")
                                                       .arg(formatTflops(d.ceilings->gemm_tflops), qs(d.ceilings->gemm_dtype)));
  }
  for (auto it = d.properties.begin(); it != d.properties.end(); ++it) {
    html += row(qs(it.key()), propertyText(it.value()));
  }
  html += QStringLiteral("</table>");

  // How the run was measured (provenance.h): build, host, device software, clocks, timing settings.
  html += QStringLiteral("<h2>Provenance</h2>");
  if (run.provenance.empty()) {
    html += QStringLiteral("<p>None recorded (a run stored before attnbench recorded it).</p>");
  } else {
    html += QStringLiteral("<table width=\"100%\">");
    for (const auto& e : run.provenance.entries()) html += row(qs(e.key), qs(e.value));
    html += QStringLiteral("</table>");
  }

  const SweepSpec& s = run.spec;
  QStringList models, dtypes, kernels_list, tiles, masks;
  for (const auto& m : s.models) {
    models << QStringLiteral("%1 (%2 heads, %3 kv, d=%4)").arg(qs(m.name)).arg(m.heads).arg(m.kv_heads).arg(m.head_dim);
  }
  for (DType t : s.dtypes) dtypes << qs(std::string(kernels::dtypeName(t)));
  for (KernelKind k : s.kernels) kernels_list << qs(kernelName(k));
  for (const auto& t : s.tiles) tiles << qs(tileName(t));
  for (bool c : s.causal) masks << (c ? QStringLiteral("causal") : QStringLiteral("non-causal"));
  html += QStringLiteral("<h2>Sweep</h2><table width=\"100%\">");
  html += row(QStringLiteral("Models"), models.join(QStringLiteral("; ")));
  html += row(QStringLiteral("Sequence lengths"), joinInts(s.seq_lens));
  html += row(QStringLiteral("Batch sizes"), joinInts(s.batch_sizes));
  html += row(QStringLiteral("Dtypes"), dtypes.join(QStringLiteral(", ")));
  html += row(QStringLiteral("Masking"), masks.join(QStringLiteral(", ")));
  html += row(QStringLiteral("Kernels"), kernels_list.join(QStringLiteral(", ")));
  html += row(QStringLiteral("Flash tiles"), tiles.join(QStringLiteral(", ")));
  const QString samples = s.repetitions > 0 ? QString::number(s.repetitions)
                                             : QStringLiteral("until noise &le; %1 % (min %2, timeout %3 s)")
                                                   .arg(s.sampling.max_noise_percent)
                                                   .arg(s.sampling.min_samples)
                                                   .arg(s.sampling.timeout_s);
  html += row(QStringLiteral("Samples / warm-up"), QStringLiteral("%1 / %2").arg(samples).arg(s.warmup));
  html += row(QStringLiteral("Correctness check"), s.check_correctness ? QStringLiteral("yes") : QStringLiteral("no"));
  html += row(QStringLiteral("Device requested"), qs(s.device));
  html += QStringLiteral("</table>");

  // Two charts to a page, one above the other, each on a page of its own in print.
  html += QStringLiteral("<h2 style=\"page-break-before:always\">Charts</h2>");
  for (std::size_t i = 0; i < kChartKinds.size(); ++i) {
    const QString page_break = i % 2 == 0 && i > 0 ? QStringLiteral(" style=\"page-break-before:always\"") : QString();
    html += QStringLiteral("<p align=\"center\"%1><img src=\"%2\" width=\"%3\"></p>")
                .arg(page_break, image_src(kChartKinds[i]))
                .arg(kReportChartWidthPx);
  }
  html += QStringLiteral("<h2 style=\"page-break-before:always\">Summary</h2>");

  html += QStringLiteral("<h3>Flash vs standard</h3><table width=\"100%\"><tr><th>Model</th><th>B</th><th>N</th><th>dtype</th>"
                         "<th>causal</th><th>flash</th><th>standard</th><th>speedup</th><th>flash peak</th>"
                         "<th>standard peak</th><th>memory ratio</th></tr>");
  for (const auto& sum : summarize(points)) {
    auto ms = [](const PointResult* p) { return p ? formatMs(p->stats.median_ms) : QStringLiteral("—"); };
    auto peak = [](const PointResult* p) { return p ? formatByteCount(p->peak_bytes) : QStringLiteral("—"); };
    auto ratio = [](double r) { return r > 0 ? QStringLiteral("%1×").arg(r, 0, 'f', 2) : QStringLiteral("—"); };
    html += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4</td><td>%5</td><td>%6</td><td>%7</td>"
                           "<td>%8</td><td>%9</td><td>%10</td><td>%11</td></tr>")
                .arg(esc(qs(sum.model)))
                .arg(sum.batch)
                .arg(sum.seq_len)
                .arg(esc(qs(sum.dtype)), sum.causal ? QStringLiteral("yes") : QStringLiteral("no"), ms(sum.flash),
                     ms(sum.standard), ratio(sum.speedup()), peak(sum.flash), peak(sum.standard))
                .arg(ratio(sum.memoryRatio()));
  }
  html += QStringLiteral("</table>");

  // The points table: the results table's own columns and formats.
  RunData data;
  data.reset(run, points);
  ResultsModel model(&data);
  const bool device_column = ranOnWorkers(points);  // as the window shows it
  const auto shown = [&](int c) { return c != ResultsModel::Device || device_column; };
  html += QStringLiteral("<h3>Points</h3><table width=\"100%\"><tr>");
  for (int c = 0; c < model.columnCount(); ++c) {
    if (shown(c)) html += QStringLiteral("<th>%1</th>").arg(esc(model.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString()));
  }
  html += QStringLiteral("</tr>");
  for (int r = 0; r < model.rowCount(); ++r) {
    html += QStringLiteral("<tr>");
    for (int c = 0; c < model.columnCount(); ++c) {
      if (shown(c)) html += QStringLiteral("<td>%1</td>").arg(esc(model.index(r, c).data().toString()));
    }
    html += QStringLiteral("</tr>");
  }
  html += QStringLiteral("</table></body></html>");
  return html;
}

}  // namespace

QString formatSuffix(ImageFormat format) {
  switch (format) {
    case ImageFormat::Png: return QStringLiteral("png");
    case ImageFormat::Svg: return QStringLiteral("svg");
    case ImageFormat::Pdf: return QStringLiteral("pdf");
  }
  return {};
}

QImage renderChartImage(QChart* chart, QSize size, QSize pixels) {
  if (!pixels.isValid()) pixels = size;
  QImage image(pixels, QImage::Format_ARGB32_Premultiplied);
  image.fill(Qt::white);
  withChartInScene(chart, size, [&](QGraphicsScene& scene, const QRectF& source) {
    QPainter painter(&image);
    painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
    scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(pixels)), source);
  });
  return image;
}

// Renders into memory; the file is written by writeFile, whose every step is checked.
static bool renderChartBytes(QChart* chart, ImageFormat format, QSize size, QBuffer* out) {
  out->open(QIODevice::WriteOnly);
  switch (format) {
    case ImageFormat::Png: return renderChartImage(chart, size).save(out, "PNG");
    case ImageFormat::Svg: {
      QSvgGenerator svg;
      svg.setOutputDevice(out);
      svg.setSize(size);
      svg.setResolution(kPdfDpi);  // its physical size (and the fonts') as the PDF's
      svg.setViewBox(QRect(QPoint(0, 0), size));
      svg.setTitle(chart->title());
      svg.setDescription(QStringLiteral("attnbench chart"));
      bool ok = false;
      withChartInScene(chart, size, [&](QGraphicsScene& scene, const QRectF& source) {
        QPainter painter;
        if (!painter.begin(&svg)) return;
        painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
        scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), source);
        ok = painter.end();
      });
      return ok;
    }
    case ImageFormat::Pdf: {
      QPdfWriter pdf(out);
      pdf.setResolution(kPdfDpi);
      pdf.setTitle(chart->title());
      pdf.setCreator(QStringLiteral("attnbench"));
      const QSizeF points(size.width() * 72.0 / kPdfDpi, size.height() * 72.0 / kPdfDpi);
      pdf.setPageSize(QPageSize(points, QPageSize::Point, QString(), QPageSize::ExactMatch));
      pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
      bool ok = false;
      withChartInScene(chart, size, [&](QGraphicsScene& scene, const QRectF& source) {
        QPainter painter;
        if (!painter.begin(&pdf)) return;
        painter.setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
        scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), source);
        ok = painter.end();
      });
      return ok;
    }
  }
  return false;
}

bool renderChart(QChart* chart, const QString& path, ImageFormat format, QSize size, QString* error) {
  QBuffer bytes;
  if (!renderChartBytes(chart, format, size, &bytes)) {
    *error = QStringLiteral("cannot render %1").arg(path);
    return false;
  }
  return writeFile(path, bytes.data(), error);
}

bool namedFigureStyle(const QString& name, FigureStyle* style, QString* error) {
  if (name == QLatin1String("paper")) {
    *style = FigureStyle{};
    return true;
  }
  if (name == QLatin1String("screen")) {
    *style = FigureStyle{};
    style->size_inches = QSizeF(kDefaultChartSize) / kPdfDpi;
    style->png_dpi = kPdfDpi;
    style->font_pt = 9.0;
    style->title = true;
    return true;
  }
  *error = QStringLiteral("figure style \"%1\": use paper or screen").arg(name);
  return false;
}

bool parseFigureSize(const QString& text, QSizeF* inches, QString* error) {
  static const QRegularExpression pattern(QStringLiteral("^\\s*([0-9]*\\.?[0-9]+)\\s*[xX×]\\s*([0-9]*\\.?[0-9]+)\\s*(in|mm|cm)\\s*$"));
  const QRegularExpressionMatch m = pattern.match(text);
  if (!m.hasMatch()) {
    *error = QStringLiteral("figure size \"%1\": expected WIDTHxHEIGHT with a unit, e.g. 3.3x2.2in or 84x56mm").arg(text);
    return false;
  }
  const double per_inch = m.captured(3) == QLatin1String("in") ? 1.0 : m.captured(3) == QLatin1String("cm") ? 2.54 : 25.4;
  const QSizeF size(m.captured(1).toDouble() / per_inch, m.captured(2).toDouble() / per_inch);
  if (size.width() < 0.5 || size.height() < 0.5 || size.width() > 40 || size.height() > 40) {
    *error = QStringLiteral("figure size \"%1\": each side must be 0.5 to 40 inches").arg(text);
    return false;
  }
  *inches = size;
  return true;
}

bool exportFigures(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                   const QList<ChartKind>& kinds, const QList<ImageFormat>& formats, const FigureStyle& style,
                   const RunCharts* view_from, QStringList* written, QString* error) {
  if (!QDir().mkpath(dir)) {
    *error = QStringLiteral("cannot create the folder %1").arg(dir);
    return false;
  }
  RunCharts charts;
  charts.setDark(style.dark);
  charts.reset({chartRunOf(run, QStringLiteral("#%1").arg(run.id))}, chartContext(run));
  charts.addPoints(points);
  if (view_from != nullptr) charts.copyViewOf(*view_from);
  // Laid out at kPdfDpi logical pixels per inch, so that the vector files come out at the physical
  // size (PDF and SVG at kPdfDpi) and the fonts, in pixels, are font_pt there.
  const QSize layout = (style.size_inches * kPdfDpi).toSize();
  const int font_px = std::max(1, static_cast<int>(std::lround(style.font_pt * kPdfDpi / 72.0)));
  // Markers about half the text's height: visible at a column's width, not blobs over the lines.
  charts.setMarkerSize(std::max(3.0, font_px * 0.5));
  for (ChartKind kind : kinds) {
    QChart* chart = charts.chart(kind);
    applyFigureFonts(chart, font_px, style.title);
    for (ImageFormat format : formats) {
      const QString path = QDir(dir).filePath(QStringLiteral("run%1-%2.%3").arg(run.id).arg(charts.stem(kind), formatSuffix(format)));
      if (format == ImageFormat::Png) {
        QImage image = renderChartImage(chart, layout, (style.size_inches * style.png_dpi).toSize());
        const int dots_per_meter = static_cast<int>(std::lround(style.png_dpi / 0.0254));
        image.setDotsPerMeterX(dots_per_meter);
        image.setDotsPerMeterY(dots_per_meter);
        QBuffer png;
        png.open(QIODevice::WriteOnly);
        if (!image.save(&png, "PNG")) {
          *error = QStringLiteral("cannot render %1").arg(path);
          return false;
        }
        if (!writeFile(path, png.data(), error)) return false;
      } else if (!renderChart(chart, path, format, layout, error)) {
        return false;
      }
      if (written != nullptr) *written << path;
    }
  }
  return true;
}

bool exportCharts(const RunRecord& run, const std::vector<PointResult>& points, const QString& dir,
                  const QList<ChartKind>& kinds, const QList<ImageFormat>& formats, QSize size,
                  const RunCharts* view_from, QStringList* written, QString* error) {
  if (!QDir().mkpath(dir)) {
    *error = QStringLiteral("cannot create the folder %1").arg(dir);
    return false;
  }
  RunCharts charts;
  charts.setDark(false);  // reports are printed on white
  charts.reset({chartRunOf(run, QStringLiteral("#%1").arg(run.id))}, chartContext(run));
  charts.addPoints(points);
  if (view_from != nullptr) charts.copyViewOf(*view_from);
  for (ChartKind kind : kinds) {
    for (ImageFormat format : formats) {
      const QString path = QDir(dir).filePath(charts.stem(kind) + QLatin1Char('.') + formatSuffix(format));
      if (!renderChart(charts.chart(kind), path, format, size, error)) return false;
      if (written != nullptr) *written << path;
    }
  }
  return true;
}

bool exportChart(const RunRecord& run, const std::vector<PointResult>& points, ChartKind kind, const QString& path,
                 QSize size, const RunCharts* view_from, QString* error) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  for (ImageFormat format : kAllImageFormats) {
    if (formatSuffix(format) != suffix) continue;
    RunCharts charts;
    charts.setDark(false);
    charts.reset({chartRunOf(run, QStringLiteral("#%1").arg(run.id))}, chartContext(run));
    charts.addPoints(points);
    if (view_from != nullptr) charts.copyViewOf(*view_from);
    return renderChart(charts.chart(kind), path, format, size, error);
  }
  *error = QStringLiteral("unknown image type \"%1\": use .png, .svg or .pdf").arg(suffix);
  return false;
}

bool exportTable(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  std::ostringstream out;
  if (suffix == QLatin1String("csv")) {
    writeCsv(out, points, run.provenance);
  } else if (suffix == QLatin1String("json")) {
    out << runToJson(run, points).dump(2) << '\n';
  } else {
    *error = QStringLiteral("unknown table type \"%1\": use .csv or .json").arg(suffix);
    return false;
  }
  return writeFile(path, QByteArray::fromStdString(out.str()), error);
}

void buildReportDocument(QTextDocument* doc, const RunRecord& run, const std::vector<PointResult>& points,
                         const std::map<ChartKind, QImage>& images) {
  for (const auto& [kind, image] : images) {
    doc->addResource(QTextDocument::ImageResource, QUrl(QStringLiteral("chart:") + chartStem(kind)), image);
  }
  // Lines break between words only; a cell keeps its words whole.
  QTextOption wrap = doc->defaultTextOption();
  wrap.setWrapMode(QTextOption::WordWrap);
  doc->setDefaultTextOption(wrap);
  QFont font = doc->defaultFont();
  font.setPointSizeF(8.0);
  doc->setDefaultFont(font);
  doc->setDocumentMargin(0);
  doc->setPageSize(kReportTextPx);
  doc->setHtml(reportHtml(run, points, [](ChartKind kind) { return QStringLiteral("chart:") + chartStem(kind); }));
}

bool exportReport(const RunRecord& run, const std::vector<PointResult>& points, const QString& path, QString* error) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix != QLatin1String("html") && suffix != QLatin1String("htm") && suffix != QLatin1String("pdf")) {
    *error = QStringLiteral("unknown report type \"%1\": use .html or .pdf").arg(suffix);
    return false;
  }
  RunCharts charts;
  charts.setDark(false);
  charts.reset({chartRunOf(run, QStringLiteral("#%1").arg(run.id))}, chartContext(run));
  charts.addPoints(points);
  std::map<ChartKind, QImage> images;
  // Laid out near the printed width (so the text stays readable there), drawn at twice the pixels.
  for (ChartKind kind : kChartKinds) images[kind] = renderChartImage(charts.chart(kind), kReportChartSize, kReportChartSize * 2);

  if (suffix != QLatin1String("pdf")) {
    const QString html = reportHtml(run, points, [&](ChartKind kind) {
      QByteArray png;
      QBuffer buffer(&png);
      buffer.open(QIODevice::WriteOnly);
      images[kind].save(&buffer, "PNG");
      return QStringLiteral("data:image/png;base64,") + QString::fromLatin1(png.toBase64());
    });
    return writeFile(path, html.toUtf8(), error);
  }

  QTextDocument doc;
  buildReportDocument(&doc, run, points, images);
  QPdfWriter pdf(path);
  pdf.setPageSize(QPageSize(QPageSize::A4));
  pdf.setPageOrientation(QPageLayout::Landscape);
  pdf.setPageMargins(QMarginsF(kReportMarginMm, kReportMarginMm, kReportMarginMm, kReportMarginMm), QPageLayout::Millimeter);
  pdf.setTitle(QStringLiteral("attnbench run #%1").arg(run.id));
  pdf.setCreator(QStringLiteral("attnbench"));
  doc.print(&pdf);
  if (!QFileInfo(path).exists() || QFileInfo(path).size() == 0) {
    *error = QStringLiteral("cannot write %1").arg(path);
    return false;
  }
  return true;
}

}  // namespace attnbench::ui
