#include "run_charts.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include <QCursor>
#include <QGraphicsSimpleTextItem>
#include <QLegendMarker>
#include <QToolTip>
#include <QtCharts/QAreaSeries>
#include <QtCharts/QChart>
#include <QtCharts/QLegend>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QScatterSeries>
#include <QtCharts/QValueAxis>

#include "ui_format.h"

namespace attnbench::ui {

QScatterSeries::MarkerShape kernelMarker(KernelKind kernel) {
  switch (kernel) {
    case KernelKind::Flash: return QScatterSeries::MarkerShapeCircle;
    case KernelKind::Standard: return QScatterSeries::MarkerShapeTriangle;
    case KernelKind::Cudnn: return QScatterSeries::MarkerShapeRectangle;
  }
  return QScatterSeries::MarkerShapeCircle;
}

namespace {

// The line style that tells the kernels apart (colour tells the batch, model and run).
Qt::PenStyle kernelLine(KernelKind kernel) {
  switch (kernel) {
    case KernelKind::Flash: return Qt::SolidLine;
    case KernelKind::Standard: return Qt::DashLine;
    case KernelKind::Cudnn: return Qt::DotLine;
  }
  return Qt::SolidLine;
}

// The legend key of a kernel: its line and its marker.
QString kernelKeyName(KernelKind kernel) {
  QString line;
  switch (kernelLine(kernel)) {
    case Qt::DashLine: line = QStringLiteral("dashed"); break;
    case Qt::DotLine: line = QStringLiteral("dotted"); break;
    default: line = QStringLiteral("solid"); break;
  }
  QString marker;
  switch (kernelMarker(kernel)) {
    case QScatterSeries::MarkerShapeTriangle: marker = QStringLiteral("▲"); break;
    case QScatterSeries::MarkerShapeRectangle: marker = QStringLiteral("■"); break;
    default: marker = QStringLiteral("●"); break;
  }
  return QStringLiteral("%1: %2 %3").arg(qs(kernelName(kernel)), line, marker);
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

// Ten distinguishable colours (the Tableau palette); one per batch size (x model x run).
const std::array<QColor, 10> kPalette = {QColor(0x1f77b4), QColor(0xff7f0e), QColor(0x2ca02c), QColor(0xd62728),
                                         QColor(0x9467bd), QColor(0x8c564b), QColor(0xe377c2), QColor(0x7f7f7f),
                                         QColor(0xbcbd22), QColor(0x17becf)};

// Where a new x goes in a series sorted by x: the index of the first point with x >= `x`.
int lowerBound(const QXYSeries* series, double x) {
  int lo = 0, hi = series->count();
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (series->at(mid).x() < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// The nearest of 1, 2, 5 x 10^k below (or above) `v`.
double niceLogStep(double v, bool up) {
  const double decade = std::pow(10.0, std::floor(std::log10(v)));
  const double steps[] = {1.0, 2.0, 5.0, 10.0};
  if (up) {
    for (double s : steps) {
      if (s * decade >= v * (1.0 - 1e-9)) return s * decade;
    }
    return 10.0 * decade;
  }
  double best = decade;
  for (double s : steps) {
    if (s * decade <= v * (1.0 + 1e-9)) best = s * decade;
  }
  return best;
}

// What a theme change resets: a bold, larger title and the legend below the plot.
void styleChart(QChart* chart) {
  QFont title_font = chart->titleFont();
  title_font.setPointSizeF(QFont().pointSizeF() * 1.2);
  title_font.setBold(true);
  chart->setTitleFont(title_font);
  chart->legend()->setAlignment(Qt::AlignBottom);
  QFont legend_font = chart->legend()->font();
  legend_font.setPointSizeF(QFont().pointSizeF() * 0.9);
  chart->legend()->setFont(legend_font);
}

QLogValueAxis* logAxis(const QString& title, double base, const QString& format) {
  auto* axis = new QLogValueAxis;
  axis->setTitleText(title);
  axis->setBase(base);
  axis->setLabelFormat(format);
  return axis;
}

QValueAxis* valueAxis(const QString& title, const QString& format) {
  auto* axis = new QValueAxis;
  axis->setTitleText(title);
  axis->setLabelFormat(format);
  axis->setTickCount(6);
  return axis;
}

// The metrics drawn on a log axis by default: those spanning decades over a sweep.
bool logByDefault(ChartMetric metric) {
  return metric == ChartMetric::Latency || metric == ChartMetric::Memory || metric == ChartMetric::TimeToFirstToken;
}

double xOf(ChartX x, const SweepPoint& p) {
  switch (x) {
    case ChartX::SeqLen: return p.shape.seq_kv;
    case ChartX::Batch: return p.shape.batch;
    case ChartX::HeadDim: return p.shape.head_dim;
  }
  return p.shape.seq_kv;
}

QString xTitle(ChartX x) {
  switch (x) {
    case ChartX::SeqLen: return QStringLiteral("Sequence length (tokens)");
    case ChartX::Batch: return QStringLiteral("Batch size");
    case ChartX::HeadDim: return QStringLiteral("Head dim");
  }
  return {};
}

QString metricStem(ChartMetric metric) {
  switch (metric) {
    case ChartMetric::Latency: return QStringLiteral("latency");
    case ChartMetric::Throughput: return QStringLiteral("tflops");
    case ChartMetric::Bandwidth: return QStringLiteral("gbps");
    case ChartMetric::Memory: return QStringLiteral("memory");
    case ChartMetric::Speedup: return QStringLiteral("speedup");
    case ChartMetric::TimeToFirstToken: return QStringLiteral("ttft");
  }
  return {};
}

QString metricTitle(ChartMetric metric) {
  switch (metric) {
    case ChartMetric::Latency: return QStringLiteral("Latency");
    case ChartMetric::Throughput: return QStringLiteral("Throughput");
    case ChartMetric::Bandwidth: return QStringLiteral("Bandwidth");
    case ChartMetric::Memory: return QStringLiteral("Peak memory");
    case ChartMetric::Speedup: return QStringLiteral("Speedup");
    case ChartMetric::TimeToFirstToken: return QStringLiteral("Time to first token");
  }
  return {};
}

// A device's name in a label: without the vendor, and none at all when it is too long for a plot.
QString shortDeviceName(const std::string& name) {
  QString n = qs(name);
  if (n.startsWith(QLatin1String("NVIDIA "))) n = n.mid(7);
  return n.size() <= 20 ? n : QStringLiteral("device");
}

}  // namespace

QString chartStem(ChartKind kind) { return metricStem(defaultChoice(kind).metric); }

QString chartTitle(ChartKind kind) { return metricTitle(defaultChoice(kind).metric); }

ChartChoice defaultChoice(ChartKind kind) {
  switch (kind) {
    case ChartKind::Latency: return {ChartX::SeqLen, ChartMetric::Latency};
    case ChartKind::Speedup: return {ChartX::SeqLen, ChartMetric::Speedup};
    case ChartKind::Throughput: return {ChartX::SeqLen, ChartMetric::Throughput};
    case ChartKind::Memory: return {ChartX::SeqLen, ChartMetric::Memory};
  }
  return {};
}

QString xSymbol(ChartX x) {
  switch (x) {
    case ChartX::SeqLen: return QStringLiteral("N");
    case ChartX::Batch: return QStringLiteral("B");
    case ChartX::HeadDim: return QStringLiteral("D");
  }
  return {};
}

QString xName(ChartX x) {
  switch (x) {
    case ChartX::SeqLen: return QStringLiteral("N");
    case ChartX::Batch: return QStringLiteral("batch");
    case ChartX::HeadDim: return QStringLiteral("head dim");
  }
  return {};
}

QString metricName(ChartMetric metric) {
  switch (metric) {
    case ChartMetric::Latency: return QStringLiteral("latency");
    case ChartMetric::Throughput: return QStringLiteral("TFLOP/s");
    case ChartMetric::Bandwidth: return QStringLiteral("GB/s");
    case ChartMetric::Memory: return QStringLiteral("peak memory");
    case ChartMetric::Speedup: return QStringLiteral("speedup");
    case ChartMetric::TimeToFirstToken: return QStringLiteral("time to first token");
  }
  return {};
}

bool xFromName(const QString& name, ChartX* x) {
  for (ChartX candidate : kChartXs) {
    if (xName(candidate) == name) {
      *x = candidate;
      return true;
    }
  }
  return false;
}

bool metricFromName(const QString& name, ChartMetric* metric) {
  for (ChartMetric candidate : kChartMetrics) {
    if (metricName(candidate) == name) {
      *metric = candidate;
      return true;
    }
  }
  return false;
}

void RunCharts::Range::add(double v) {
  if (!(v > 0)) return;
  if (empty()) {
    lo = hi = v;
  } else {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
}

RunCharts::RunCharts(QObject* parent) : QObject(parent) { createCharts(); }

RunCharts::~RunCharts() {
  for (auto& p : plots_) {
    if (p.chart && p.chart->scene() == nullptr) delete p.chart.data();
  }
}

void RunCharts::createCharts() {
  for (ChartKind kind : kChartKinds) {
    Plot& pl = plot(kind);
    auto* chart = new QChart;
    pl.chart = chart;
    pl.choice = defaultChoice(kind);
    chart->setTitle(chartTitle(kind));
    styleChart(chart);
    chart->legend()->setShowToolTips(true);
    // Legend entries drawn as short line segments: flash (solid) and standard (dashed) differ there too.
    chart->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);
    chart->setAnimationOptions(QChart::NoAnimation);  // a point per update; animations would lag
    connect(chart, &QGraphicsWidget::geometryChanged, this, [this, kind] { tidyLegend(kind); });
    connect(chart, &QChart::plotAreaChanged, this, [this, kind] { placeReferenceLabels(kind); });

    pl.x_axis = logAxis(xTitle(pl.choice.x), 2.0, QStringLiteral("%.0f"));
    pl.y_axis = logByDefault(pl.choice.metric) ? static_cast<QAbstractAxis*>(logAxis({}, 10.0, QStringLiteral("%g")))
                                               : valueAxis({}, pl.choice.metric == ChartMetric::Speedup ? QStringLiteral("%.1f")
                                                                                                         : QStringLiteral("%g"));
    chart->addAxis(pl.x_axis, Qt::AlignBottom);
    chart->addAxis(pl.y_axis, Qt::AlignLeft);
    watchAxis(kind, pl.x_axis);
    watchAxis(kind, pl.y_axis);
  }
}

void RunCharts::watchAxis(ChartKind kind, QAbstractAxis* axis) {
  if (auto* log = qobject_cast<QLogValueAxis*>(axis)) {
    connect(log, &QLogValueAxis::rangeChanged, this, [this, kind] { placeReferenceLabels(kind); });
  } else if (auto* linear = qobject_cast<QValueAxis*>(axis)) {
    connect(linear, &QValueAxis::rangeChanged, this, [this, kind] { placeReferenceLabels(kind); });
  }
}

std::vector<int> RunCharts::xValues(ChartX x) const {
  std::set<int> values;
  for (const auto& run : runs_) {
    switch (x) {
      case ChartX::SeqLen: values.insert(run.spec.seq_lens.begin(), run.spec.seq_lens.end()); break;
      case ChartX::Batch: values.insert(run.spec.batch_sizes.begin(), run.spec.batch_sizes.end()); break;
      case ChartX::HeadDim:
        for (const auto& m : run.spec.models) values.insert(m.head_dim);
        break;
    }
  }
  return {values.begin(), values.end()};
}

void RunCharts::reset(std::vector<ChartRun> runs, const QString& context) {
  runs_ = std::move(runs);
  context_ = context;
  points_.clear();
  group_colors_.clear();
  staged_.clear();
  staged_skipped_.clear();

  std::set<std::string> models;
  std::set<DType> dtypes;
  std::set<bool> causal;
  std::set<std::string> tiles;
  kernels_.clear();
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) models.insert(m.name);
    dtypes.insert(run.spec.dtypes.begin(), run.spec.dtypes.end());
    causal.insert(run.spec.causal.begin(), run.spec.causal.end());
    for (const auto& t : run.spec.tiles) tiles.insert(tileName(t));
    kernels_.insert(run.spec.kernels.begin(), run.spec.kernels.end());
  }
  many_models_ = models.size() > 1;
  many_dtypes_ = dtypes.size() > 1;
  many_causal_ = causal.size() > 1;
  many_tiles_ = tiles.size() > 1;
  many_kernels_ = kernels_.size() > 1;
  std::set<int> q_lens;
  all_decode_ = all_inference_ = !runs_.empty();
  for (const auto& run : runs_) {
    all_decode_ = all_decode_ && run.spec.workload == Workload::Decode;
    all_inference_ = all_inference_ && run.spec.workload == Workload::Inference;
    if (run.spec.workload == Workload::Decode) q_lens.insert(run.spec.q_lens.begin(), run.spec.q_lens.end());
  }
  many_q_lens_ = q_lens.size() > 1;
  split_workers_ = std::any_of(runs_.begin(), runs_.end(), [](const ChartRun& run) { return run.workers.size() > 1; });
  useWorkloadRate();
  // GiB on the memory axis for devices with tens of GiB (its labels stay short), else MiB.
  std::uint64_t largest_memory = 0;
  for (const auto& run : runs_) largest_memory = std::max(largest_memory, run.device.memory_bytes);
  memory_unit_ = largest_memory >= 32ULL << 30 ? kGiB : kMiB;
  for (ChartKind kind : kChartKinds) preparePlot(kind);
}

// The rate chart follows the workload unless the user chose its metric: decode is memory-bound (GB/s
// against the copy bandwidth), inference's other headline is the time to first token; attention
// (and a mix of workloads) keeps TFLOP/s.
void RunCharts::useWorkloadRate() {
  Plot& rate = plot(ChartKind::Throughput);
  const ChartChoice tflops = defaultChoice(ChartKind::Throughput);
  if (rate.choice != tflops && !rate_switched_) return;  // the user's choice
  ChartChoice wanted = tflops;
  if (all_decode_) wanted.metric = ChartMetric::Bandwidth;
  if (all_inference_) wanted.metric = ChartMetric::TimeToFirstToken;
  rate_switched_ = wanted != tflops;
  if (wanted == rate.choice) return;
  rate.choice = wanted;
  setLogScale(ChartKind::Throughput, Qt::Vertical, logByDefault(wanted.metric));
}

void RunCharts::preparePlot(ChartKind kind) {
  Plot& pl = plot(kind);
  QChart* chart = pl.chart;
  for (QAbstractSeries* s : chart->series()) {
    auto* xy = qobject_cast<QXYSeries*>(s);
    if (xy != nullptr) {
      tips_.remove(xy);
      staged_.erase(xy);
      const Decoration d = decorations_.take(xy);
      for (QXYSeries* edge : {static_cast<QXYSeries*>(d.upper), static_cast<QXYSeries*>(d.lower)}) {
        if (edge != nullptr) staged_.erase(edge);
      }
      if (auto* scatter = qobject_cast<QScatterSeries*>(xy)) staged_skipped_.erase(scatter);
    }
    styles_.remove(s);
    legend_members_.remove(s);
    legend_labels_.remove(s);
    legend_hidden_.remove(s);
  }
  for (auto& members : legend_members_) {
    members.removeIf([chart](QAbstractSeries* s) { return s->chart() == chart; });
  }
  chart->removeAllSeries();
  for (ReferenceLine& ref : pl.references) delete ref.label;
  pl.references.clear();
  pl.curves.clear();
  pl.speedups.clear();
  pl.skipped = nullptr;
  pl.kernel_keys = {};
  pl.group_entries.clear();
  pl.y_range = {};
  pl.y_dirty = false;

  const ChartChoice choice = pl.choice;
  chart->setTitle(context_.isEmpty() ? title(kind) : title(kind) + QStringLiteral(" — ") + context_);
  pl.x_axis->setTitleText(all_decode_ && choice.x == ChartX::SeqLen ? QStringLiteral("KV cache length N (tokens)")
                                                                     : xTitle(choice.x));
  switch (choice.metric) {
    case ChartMetric::Latency:
      // An inference point's samples are decode steps with the KV cache, in ms per token.
      pl.y_axis->setTitleText(all_inference_ ? QStringLiteral("Decode (ms per token)") : QStringLiteral("Median latency (ms)"));
      break;
    case ChartMetric::Throughput: pl.y_axis->setTitleText(QStringLiteral("TFLOP/s")); break;
    case ChartMetric::Bandwidth: pl.y_axis->setTitleText(QStringLiteral("GB/s (compulsory traffic)")); break;
    case ChartMetric::Memory:
      pl.y_axis->setTitleText(memory_unit_ == kGiB ? QStringLiteral("Peak memory (GiB)") : QStringLiteral("Peak memory (MiB)"));
      break;
    case ChartMetric::Speedup: pl.y_axis->setTitleText(QStringLiteral("standard / flash (×)")); break;
    case ChartMetric::TimeToFirstToken: pl.y_axis->setTitleText(QStringLiteral("Time to first token (ms)")); break;
  }
  // Half a step of margin on the log2 axis so the end points are not on the frame.
  const std::vector<int> xs = xValues(choice.x);
  pl.x_lo = xs.empty() ? 64.0 : xs.front() / std::sqrt(2.0);
  pl.x_hi = xs.empty() ? 8192.0 : xs.back() * std::sqrt(2.0);
  applyXRange(kind);
  applyYRange(kind);

  // Reference lines: short legend names (legends truncate long ones); the value is on the line's
  // label and in the tooltip.
  if (choice.metric == ChartMetric::Speedup) {
    addReferenceLine(kind, QStringLiteral("1× (parity)"), 1.0, QColor(0x888888), {});
  }
  std::set<std::string> seen_devices;
  for (const auto& run : runs_) {
    const auto& d = run.device;
    if (!seen_devices.insert(d.fingerprint.empty() ? d.id + d.name : d.fingerprint).second) continue;
    const QString who = runs_.size() > 1 ? run.label + QLatin1Char(' ') : QString();
    const QColor ceiling(0xc0392b);
    if (choice.metric == ChartMetric::Throughput && d.ceilings && d.ceilings->gemm_tflops > 0) {
      addReferenceLine(kind, who + QStringLiteral("GEMM ceiling"), d.ceilings->gemm_tflops, ceiling,
                       QStringLiteral("%1GEMM ceiling of %2: %3 TFLOP/s (%4, measured)")
                           .arg(who, qs(d.name), formatTflops(d.ceilings->gemm_tflops), qs(d.ceilings->gemm_dtype)));
    }
    if (choice.metric == ChartMetric::Bandwidth && d.ceilings && d.ceilings->copy_gbps > 0) {
      addReferenceLine(kind, who + QStringLiteral("copy bandwidth"), d.ceilings->copy_gbps, ceiling,
                       QStringLiteral("%1copy bandwidth of %2: %3 GB/s (measured)").arg(who, qs(d.name)).arg(d.ceilings->copy_gbps, 0, 'f', 0));
    }
    if (choice.metric == ChartMetric::Memory && d.memory_bytes > 0) {
      addReferenceLine(kind, who + QStringLiteral("memory size"), static_cast<double>(d.memory_bytes) / memory_unit_, ceiling,
                       QStringLiteral("%1memory of %2: %3").arg(who, qs(d.name), formatByteCount(d.memory_bytes)));
    }
  }

  // Every curve of the sweeps now, so the legends are complete from the start: a series added
  // mid-run would lay each chart out again and redraw all of its points. Flash first in each
  // legend group (the sweep runs standard first); groups keep the sweep's order.
  const bool speedup = choice.metric == ChartMetric::Speedup;
  // Curves split by worker are made as points arrive: which worker runs a point is not known before.
  if ((speedup && !many_kernels_) || split_workers_) {
    tidyLegend(kind);
    return;
  }
  struct Planned {
    int run_slot;
    SweepPoint point;
    std::size_t group_order;
  };
  std::vector<Planned> planned;
  std::map<QString, std::size_t> group_order;
  for (std::size_t run_slot = 0; run_slot < runs_.size(); ++run_slot) {
    for (auto& p : expandPoints(runs_[run_slot].spec)) {
      const QString group = curveName(p, static_cast<int>(run_slot), false, choice.x);
      const std::size_t order = group_order.try_emplace(group, group_order.size()).first->second;
      planned.push_back({static_cast<int>(run_slot), std::move(p), order});
    }
  }
  std::stable_sort(planned.begin(), planned.end(), [](const Planned& a, const Planned& b) {
    return std::make_pair(a.group_order, a.point.kernel != KernelKind::Flash) <
           std::make_pair(b.group_order, b.point.kernel != KernelKind::Flash);
  });
  std::set<QString> names;
  for (const auto& plan : planned) names.insert(curveName(plan.point, plan.run_slot, true, choice.x));
  pl.compact_legend = !speedup && many_kernels_ && names.size() > static_cast<std::size_t>(kFullLegendUpTo);
  if (pl.compact_legend) {
    const QColor key_color(0x888888);  // readable on the light and the dark theme
    for (const KernelKind kernel : kernels_) {
      pl.kernel_keys[static_cast<std::size_t>(kernel)] = addLine(kind, kernelKeyName(kernel), QPen(key_color, 2.0, kernelLine(kernel)));
    }
  }
  for (const auto& plan : planned) {
    if (speedup) {
      speedupFor(kind, plan.point, plan.run_slot);
    } else {
      curveFor(kind, plan.point, plan.run_slot);
    }
  }
  tidyLegend(kind);
}

void RunCharts::joinLegendGroup(ChartKind kind, QLineSeries* series, const SweepPoint& p, const QString& group) {
  Plot& pl = plot(kind);
  QLineSeries* key = pl.kernel_keys[static_cast<std::size_t>(p.kernel)];
  if (key != nullptr) legend_members_[key].append(series);
  auto [owner, first] = pl.group_entries.try_emplace(group.toStdString(), series);
  if (first) {
    legend_labels_.insert(series, group);
  } else {
    legend_members_[owner->second].append(series);
    legend_hidden_.insert(series);
  }
}

void RunCharts::tidyLegend(ChartKind kind) {
  // One row below the plot while its entries fit the chart's width; else a column at the right,
  // where nothing is elided.
  QChart* chart = this->chart(kind);
  double row_width = 0;
  const QFontMetricsF metrics(chart->legend()->font());
  for (QAbstractSeries* s : chart->series()) {
    const auto label = legend_labels_.constFind(s);
    for (QLegendMarker* m : chart->legend()->markers(s)) {
      if (legend_hidden_.contains(s)) {
        m->setVisible(false);
      } else if (label != legend_labels_.cend()) {
        m->setLabel(*label);
      }
    }
    // Counted from the series: the legend may not have made their markers yet.
    if (!legend_hidden_.contains(s)) {
      row_width += metrics.horizontalAdvance(label != legend_labels_.cend() ? *label : s->name()) + kLegendEntryExtraPx;
    }
  }
  const bool fits_below = row_width <= chart->size().width() - 2 * kLegendEntryExtraPx;
  const Qt::Alignment where = plot(kind).compact_legend || !fits_below ? Qt::AlignRight : Qt::AlignBottom;
  if (chart->legend()->alignment() != where) chart->legend()->setAlignment(where);
}

QLineSeries* RunCharts::addLine(ChartKind kind, const QString& name, const QPen& pen) {
  auto* series = new QLineSeries;
  series->setName(name);
  styles_.insert(series, pen);
  QChart* chart = this->chart(kind);
  chart->addSeries(series);
  series->attachAxis(plot(kind).x_axis);
  series->attachAxis(plot(kind).y_axis);
  applyStyle(series);
  connectSeries(chart, series);
  return series;
}

void RunCharts::addReferenceLine(ChartKind kind, const QString& name, double y, const QColor& color, const QString& tip) {
  Plot& pl = plot(kind);
  QLineSeries* line = addLine(kind, name, QPen(color, 1.5, Qt::DashDotLine));
  line->append(pl.x_lo, y);
  line->append(pl.x_hi, y);
  tips_[line][0] = tip.isEmpty() ? name : tip;
  // Labelled with its value on the plot, where a reader of a printed figure looks for it.
  QString value;
  switch (pl.choice.metric) {
    case ChartMetric::Throughput: value = QStringLiteral("%1 TFLOP/s").arg(y, 0, 'g', 4); break;
    case ChartMetric::Bandwidth: value = QStringLiteral("%1 GB/s").arg(y, 0, 'g', 4); break;
    case ChartMetric::Memory: value = QStringLiteral("%1 %2").arg(y, 0, 'f', 1).arg(memory_unit_ == kGiB ? "GiB" : "MiB"); break;
    default: value = QStringLiteral("%1×").arg(y, 0, 'g', 3); break;
  }
  QString label_name = name;
  if (pl.choice.metric == ChartMetric::Memory) {
    // "H200 memory 139.8 GiB": the device, as the legend's short name does not say it.
    for (const auto& run : runs_) {
      if (run.device.memory_bytes > 0 && std::abs(static_cast<double>(run.device.memory_bytes) / memory_unit_ - y) < 1e-9 * y) {
        label_name = (runs_.size() > 1 ? run.label + QLatin1Char(' ') : QString()) + shortDeviceName(run.device.name) +
                     QStringLiteral(" memory");
        break;
      }
    }
  } else if (pl.choice.metric == ChartMetric::Speedup) {
    label_name = QStringLiteral("parity");
  }
  auto* label = new QGraphicsSimpleTextItem(label_name + QLatin1Char(' ') + value, pl.chart);
  label->setZValue(12);  // above the series
  pl.references.push_back({line, label, label_name, value});
  applyStyle(line);
  extendY(kind, y);
  placeReferenceLabels(kind);
}

void RunCharts::placeReferenceLabels(ChartKind kind) {
  const Plot& pl = plot(kind);
  const QRectF area = pl.chart->plotArea();
  for (const ReferenceLine& ref : pl.references) {
    if (ref.line->count() == 0) continue;
    ref.label->setFont(pl.chart->legend()->font());  // a figure's legend font is its text size
    ref.label->setBrush(ref.line->pen().color());
    const double y = pl.chart->mapToPosition(ref.line->at(0), ref.line).y();
    // The value below the name where the plot is too narrow for one line (a column-wide figure).
    ref.label->setText(ref.name + QLatin1Char(' ') + ref.value);
    if (ref.label->boundingRect().width() > area.width() - 8) ref.label->setText(ref.name + QLatin1Char('\n') + ref.value);
    const QRectF box = ref.label->boundingRect();
    // Right-aligned just above the line (below it where the plot's top leaves no room); hidden when
    // the line is out of view (zoomed away) or hidden.
    const bool room_above = y - box.height() - 1 >= area.top();
    // A label wider than a narrow plot reaches left over the axis' labels, not out of the chart.
    const double left = std::max(2.0, area.right() - box.width() - 4);
    ref.label->setPos(left, room_above ? y - box.height() - 1 : y + 2);
    ref.label->setVisible(ref.line->isVisible() && y >= area.top() && y <= area.bottom() && left + box.width() <= area.right());
  }
}

QString RunCharts::curveName(const SweepPoint& p, int run_slot, bool with_kernel, ChartX x, const std::string& worker) const {
  QStringList parts;
  if (runs_.size() > 1 && run_slot >= 0 && static_cast<std::size_t>(run_slot) < runs_.size()) {
    parts << runs_[static_cast<std::size_t>(run_slot)].label;
  }
  if (!worker.empty()) parts << qs(worker);
  if (with_kernel) {
    QString kernel = qs(kernelName(p.kernel));
    if (many_tiles_ && p.kernel == KernelKind::Flash) kernel += QLatin1Char(' ') + qs(tileName(p.tile));
    parts << kernel;
  }
  if (x != ChartX::Batch) parts << QStringLiteral("B=%1").arg(p.shape.batch);
  if (x != ChartX::SeqLen) parts << QStringLiteral("N=%1").arg(p.shape.seq_kv);
  if (many_q_lens_ && p.isDecode()) parts << QStringLiteral("q=%1").arg(p.shape.seq_q);
  // Over the head dim, the model (which sets the head dim) is the x, not a curve of its own.
  if (many_models_ && x != ChartX::HeadDim) parts << modelLabel(p.model);
  if (many_dtypes_) parts << QString::fromLatin1(kernels::dtypeName(p.shape.dtype).data(),
                                                 static_cast<qsizetype>(kernels::dtypeName(p.shape.dtype).size()));
  if (many_causal_) parts << (p.shape.causal ? QStringLiteral("causal") : QStringLiteral("non-causal"));
  return parts.join(QLatin1Char(' '));
}
QString RunCharts::modelLabel(const ModelPreset& model) const {
  // Points read back from events or the store carry the model's id only: its shape and name are
  // the spec's. Models of one attention shape (heads, KV heads, head dim: Llama-2-7B and
  // Granite-7B) run the same problem, so they share one curve named after all of them instead of
  // two curves drawn over each other.
  const ModelPreset* shape = &model;
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) {
      if (m.name == model.name) shape = &m;
    }
  }
  QStringList names;
  for (const auto& run : runs_) {
    for (const auto& m : run.spec.models) {
      const bool same = m.heads == shape->heads && m.kv_heads == shape->kv_heads && m.head_dim == shape->head_dim;
      const QString name = qs(m.display_name.empty() ? m.name : m.display_name);
      if (same && !names.contains(name)) names << name;
    }
  }
  if (names.isEmpty()) return qs(model.display_name.empty() ? model.name : model.display_name);
  return names.join(QStringLiteral(" / "));
}
QColor RunCharts::groupColor(const std::string& group_key) {
  auto it = group_colors_.find(group_key);
  if (it != group_colors_.end()) return it->second;
  const QColor color = kPalette[group_colors_.size() % kPalette.size()];
  group_colors_.emplace(group_key, color);
  return color;
}

QLineSeries* RunCharts::curveFor(ChartKind kind, const SweepPoint& p, int run_slot, const std::string& worker) {
  Plot& pl = plot(kind);
  const QString name = curveName(p, run_slot, true, pl.choice.x, worker);
  auto [it, inserted] = pl.curves.try_emplace(name.toStdString(), nullptr);
  if (inserted) {
    const QString group = curveName(p, run_slot, false, pl.choice.x, worker);
    // Colour says which batch (x model x run), the dash and the marker which kernel.
    const QPen pen(groupColor(group.toStdString()), 2.0,
                   p.kernel == KernelKind::Flash && many_tiles_ && !p.tile.isAuto() ? Qt::DashDotDotLine : kernelLine(p.kernel));
    it->second = addLine(kind, name, pen);
    decorate(kind, it->second, p.kernel);
    if (pl.compact_legend) joinLegendGroup(kind, it->second, p, group);
  }
  return it->second;
}

QLineSeries* RunCharts::speedupFor(ChartKind kind, const SweepPoint& p, int run_slot, const std::string& worker) {
  Plot& pl = plot(kind);
  const QString group = curveName(p, run_slot, false, pl.choice.x, worker);
  auto [it, inserted] = pl.curves.try_emplace(group.toStdString(), nullptr);
  if (inserted) {
    it->second = addLine(kind, group, QPen(groupColor(group.toStdString()), 2.0));
    decorate(kind, it->second, KernelKind::Flash);  // a ratio: plain circles
  }
  return it->second;
}

void RunCharts::decorate(ChartKind kind, QLineSeries* curve, KernelKind kernel) {
  const Plot& pl = plot(kind);
  const QColor color = styles_.value(curve).color();
  Decoration d;
  const auto attach = [&](QAbstractSeries* series, const QPen& style) {
    styles_.insert(series, style);
    pl.chart->addSeries(series);
    series->attachAxis(pl.x_axis);
    series->attachAxis(pl.y_axis);
    legend_hidden_.insert(series);  // the curve's own entry stands for it
    applyStyle(series);
  };
  const ChartMetric metric = pl.choice.metric;
  if (spread_ != Spread::None &&
      (metric == ChartMetric::Latency || metric == ChartMetric::Throughput || metric == ChartMetric::Bandwidth)) {
    d.upper = new QLineSeries;
    d.lower = new QLineSeries;
    d.band = new QAreaSeries(d.upper, d.lower);
    d.upper->setParent(d.band);
    d.lower->setParent(d.band);
    attach(d.band, QPen(color));
  }
  // Sweeps too dense for markers (they would merge into a thick line) get none.
  if (xValues(pl.choice.x).size() <= static_cast<std::size_t>(kMarkedPointsUpTo)) {
    d.markers = new QScatterSeries;
    d.markers->setMarkerShape(kernelMarker(kernel));
    attach(d.markers, QPen(color));
    connectSeries(pl.chart, d.markers);  // its tooltips
  }
  decorations_.insert(curve, d);
}

QScatterSeries* RunCharts::markersOf(QXYSeries* curve) const { return decorations_.value(curve).markers; }

QAreaSeries* RunCharts::bandOf(QXYSeries* curve) const { return decorations_.value(curve).band; }

void RunCharts::placePoint(QXYSeries* series, double x, double y, const QString& tip) {
  if (!tip.isEmpty()) tips_[series][x] = tip;
  if (QScatterSeries* markers = decorations_.value(series).markers) placePoint(markers, x, y, tip);
  if (batching_) {
    auto [staged, fresh] = staged_.try_emplace(series);
    if (fresh) {
      for (const QPointF& p : series->points()) staged->second.emplace(p.x(), p.y());
    }
    staged->second[x] = y;
    return;
  }
  const int at = lowerBound(series, x);
  if (at < series->count() && series->at(at).x() == x) {
    series->replace(at, QPointF(x, y));
  } else {
    series->insert(at, QPointF(x, y));
  }
}

void RunCharts::placeBand(QLineSeries* curve, double x, double lo, double hi) {
  const Decoration d = decorations_.value(curve);
  if (d.band == nullptr) return;
  placePoint(d.upper, x, hi, {});
  placePoint(d.lower, x, lo, {});
}

void RunCharts::appendSkipped(ChartKind kind, QPointF point) {
  QScatterSeries* skipped = plot(kind).skipped;
  if (batching_) {
    staged_skipped_[skipped].append(point);
  } else {
    skipped->append(point);
  }
}

void RunCharts::beginBatch() { batching_ = true; }

void RunCharts::endBatch() {
  batching_ = false;
  for (auto& [series, points] : staged_) {
    QList<QPointF> sorted;
    sorted.reserve(static_cast<qsizetype>(points.size()));
    for (const auto& [x, y] : points) sorted.append(QPointF(x, y));
    series->replace(sorted);
  }
  staged_.clear();
  // One replace: appending a list appends (and redraws) point by point.
  for (auto& [skipped, points] : staged_skipped_) skipped->replace(skipped->points() + points);
  staged_skipped_.clear();
  for (ChartKind kind : kChartKinds) {
    if (std::exchange(plot(kind).y_dirty, false)) applyYRange(kind);
  }
}

void RunCharts::extendY(ChartKind kind, double value) {
  Plot& pl = plot(kind);
  const Range before = pl.y_range;
  pl.y_range.add(value);
  if (pl.y_range.lo == before.lo && pl.y_range.hi == before.hi) return;
  if (batching_) {
    pl.y_dirty = true;
  } else {
    applyYRange(kind);
  }
}

void RunCharts::applyXRange(ChartKind kind) {
  const Plot& pl = plot(kind);
  if (auto* x = qobject_cast<QLogValueAxis*>(pl.x_axis)) {
    x->setRange(pl.x_lo, pl.x_hi);
    // A label per doubling over a few octaves; over many, a label per quadrupling: a label per
    // doubling would be cut short (even slanted) in a chart of the window's size.
    const double octaves = std::log2(pl.x_hi / pl.x_lo);
    x->setBase(octaves > 7.0 ? 4.0 : 2.0);
    x->setLabelsAngle(0);
  } else {
    auto* linear = static_cast<QValueAxis*>(pl.x_axis);
    linear->setRange(0.0, pl.x_hi);
    linear->applyNiceNumbers();
  }
}

bool RunCharts::logScale(ChartKind kind, Qt::Orientation orientation) const {
  const Plot& pl = plot(kind);
  return qobject_cast<QLogValueAxis*>(orientation == Qt::Horizontal ? pl.x_axis : pl.y_axis) != nullptr;
}

void RunCharts::setLogScale(ChartKind kind, Qt::Orientation orientation, bool log) {
  if (logScale(kind, orientation) == log) return;
  Plot& pl = plot(kind);
  QChart* c = pl.chart;
  QAbstractAxis*& axis = orientation == Qt::Horizontal ? pl.x_axis : pl.y_axis;
  const QString format = orientation == Qt::Horizontal ? QStringLiteral("%.0f")
                         : pl.choice.metric == ChartMetric::Speedup && !log ? QStringLiteral("%.1f")
                                                                            : QStringLiteral("%g");
  QAbstractAxis* replacement = log ? static_cast<QAbstractAxis*>(logAxis(axis->titleText(), 10.0, format))
                                   : static_cast<QAbstractAxis*>(valueAxis(axis->titleText(), format));
  QList<QAbstractSeries*> attached;
  for (QAbstractSeries* s : c->series()) {
    if (s->attachedAxes().contains(axis)) attached.append(s);
  }
  for (QAbstractSeries* s : attached) s->detachAxis(axis);
  c->removeAxis(axis);
  delete axis;
  axis = replacement;
  c->addAxis(axis, orientation == Qt::Horizontal ? Qt::AlignBottom : Qt::AlignLeft);
  for (QAbstractSeries* s : attached) s->attachAxis(axis);
  watchAxis(kind, axis);
  if (orientation == Qt::Horizontal) {
    applyXRange(kind);
  } else {
    applyYRange(kind);
  }
  placeReferenceLabels(kind);
}

void RunCharts::applyYRange(ChartKind kind) {
  const Plot& pl = plot(kind);
  const Range& r = pl.y_range;
  QAbstractAxis* axis = pl.y_axis;
  if (auto* linear = qobject_cast<QValueAxis*>(axis)) {
    // Linear: from zero, so heights compare; speedup at least to 2x, with its parity line in view.
    const double hi = r.empty() ? 1.0 : r.hi * 1.12;
    linear->setRange(0.0, pl.choice.metric == ChartMetric::Speedup ? std::max(2.0, hi) : hi);
    linear->applyNiceNumbers();
    return;
  }
  auto* log_axis = static_cast<QLogValueAxis*>(axis);
  if (r.empty()) {
    axis->setRange(0.01, 10.0);
    return;
  }
  // A log axis labels only powers of its base: over a short span use base 2 (a label per doubling),
  // over a long one base 10 with 1-2-5 bounds.
  double lo = 0, hi = 0;
  if (std::log10(r.hi / r.lo) < 2.5) {
    lo = std::exp2(std::floor(std::log2(r.lo) + 1e-9));
    hi = std::exp2(std::ceil(std::log2(r.hi) - 1e-9));
    if (hi <= lo) hi = lo * 2.0;
    log_axis->setBase(2.0);
    log_axis->setMinorTickCount(0);
  } else {
    lo = niceLogStep(r.lo, false);
    hi = niceLogStep(r.hi, true);
    log_axis->setBase(10.0);
    log_axis->setMinorTickCount(8);
  }
  axis->setRange(lo, hi);
}

void RunCharts::addPoints(const std::vector<PointResult>& results, int run_slot) {
  beginBatch();
  for (const auto& r : results) addPoint(r, run_slot);
  endBatch();
}

void RunCharts::addPoint(const PointResult& r, int run_slot) {
  PointResult kept = r;
  kept.samples_ms = {};  // the statistics are enough to draw it again
  points_.emplace_back(run_slot, std::move(kept));
  for (ChartKind kind : kChartKinds) drawPoint(kind, r, run_slot);
}

namespace {

// A point's time interval, fastest to slowest, in the spread asked for (none where it is unknown).
std::optional<std::pair<double, double>> timeInterval(const SampleStats& s, Spread spread) {
  if (spread == Spread::MinMax && s.min_ms > 0 && s.max_ms >= s.min_ms) return std::make_pair(s.min_ms, s.max_ms);
  if (spread == Spread::Std && s.median_ms > s.std_ms) return std::make_pair(s.median_ms - s.std_ms, s.median_ms + s.std_ms);
  return std::nullopt;
}

}  // namespace

void RunCharts::drawPoint(ChartKind kind, const PointResult& r, int run_slot) {
  Plot& pl = plot(kind);
  const ChartChoice choice = pl.choice;
  const SweepPoint& p = r.point;
  const double x = xOf(choice.x, p);
  if (x < pl.x_lo || x > pl.x_hi) {
    // A point outside the spec's range (an edited spec): widen the axis and the reference lines.
    pl.x_lo = std::min(pl.x_lo, x / std::sqrt(2.0));
    pl.x_hi = std::max(pl.x_hi, x * std::sqrt(2.0));
    applyXRange(kind);
    for (const ReferenceLine& ref : pl.references) {
      const double y = ref.line->at(0).y();
      ref.line->replace(QList<QPointF>{{pl.x_lo, y}, {pl.x_hi, y}});
    }
  }
  const QString where = QStringLiteral("%1 = %2").arg(xSymbol(choice.x)).arg(x);
  const std::string worker = split_workers_ ? r.worker : std::string();
  const QString head = curveName(p, run_slot, true, choice.x, worker) + QLatin1Char('\n') + where;

  const bool ran = (r.status == PointStatus::Ok || r.status == PointStatus::Failed) && r.stats.median_ms > 0;
  if (ran && choice.metric == ChartMetric::Speedup) {
    auto& [flash, standard] = pl.speedups[curveName(p, run_slot, false, choice.x, worker).toStdString()][x];
    if (r.status == PointStatus::Ok) {
      if (p.kernel == KernelKind::Flash) {
        flash = flash > 0 ? std::min(flash, r.stats.median_ms) : r.stats.median_ms;
      } else if (p.kernel == KernelKind::Standard) {
        standard = r.stats.median_ms;
      }
    }
    if (flash > 0 && standard > 0) {
      const double ratio = standard / flash;
      placePoint(speedupFor(kind, p, run_slot, worker), x, ratio,
                 QStringLiteral("%1\n%2\nstandard %3 / flash %4 = %5×")
                     .arg(curveName(p, run_slot, false, choice.x, worker), where, formatMs(standard), formatMs(flash))
                     .arg(ratio, 0, 'f', 2));
      extendY(kind, ratio);
    }
    return;
  }
  if (ran) {
    const QString check = r.status == PointStatus::Failed ? QStringLiteral("\nINCORRECT output") : QString();
    const double median = r.stats.median_ms;
    double y = 0;
    QString tip;
    switch (choice.metric) {
      case ChartMetric::Latency:
        y = median;
        tip = QStringLiteral("median %1 (min %2, max %3)").arg(formatMs(median), formatMs(r.stats.min_ms), formatMs(r.stats.max_ms));
        break;
      case ChartMetric::Throughput:
        y = r.tflops;
        tip = QStringLiteral("%1 TFLOP/s (median %2)").arg(formatTflops(r.tflops), formatMs(median));
        break;
      case ChartMetric::Bandwidth:
        y = r.gbps;
        tip = QStringLiteral("%1 GB/s of compulsory traffic (median %2)").arg(r.gbps, 0, 'f', 1).arg(formatMs(median));
        break;
      case ChartMetric::Memory:
        y = static_cast<double>(r.peak_bytes) / memory_unit_;
        tip = QStringLiteral("peak %1 (predicted %2)").arg(formatByteCount(r.peak_bytes), formatByteCount(r.predicted_bytes));
        break;
      case ChartMetric::TimeToFirstToken:
        if (!r.inference) break;
        y = r.inference->ttft_ms;
        tip = QStringLiteral("time to first token %1 (min %2, max %3)")
                  .arg(formatMs(y), formatMs(r.inference->ttft_min_ms), formatMs(r.inference->ttft_max_ms));
        break;
      case ChartMetric::Speedup: break;
    }
    if (!(y > 0)) return;
    QLineSeries* curve = curveFor(kind, p, run_slot, worker);
    placePoint(curve, x, y, head + QLatin1Char('\n') + tip + check);
    extendY(kind, y);
    if (const auto interval = timeInterval(r.stats, spread_); interval && choice.metric != ChartMetric::Memory &&
                                                         choice.metric != ChartMetric::TimeToFirstToken) {
      // A rate scales with 1/time: the slowest sample is the lowest rate.
      const auto [fast, slow] = *interval;
      const double lo = choice.metric == ChartMetric::Latency ? fast : y * median / slow;
      const double hi = choice.metric == ChartMetric::Latency ? slow : y * median / fast;
      placeBand(curve, x, lo, hi);
      extendY(kind, lo);
      extendY(kind, hi);
    }
    return;
  }

  if ((r.status == PointStatus::Oom || r.status == PointStatus::Skipped) && choice.metric == ChartMetric::Memory) {
    if (pl.skipped == nullptr) {
      pl.skipped = new QScatterSeries;
      pl.skipped->setName(QStringLiteral("OOM / skipped"));  // drawn at the predicted size (tooltip)
      pl.skipped->setMarkerShape(QScatterSeries::MarkerShapeTriangle);
      styles_.insert(pl.skipped, QPen(QColor(0xd62728), 1.5));
      pl.chart->addSeries(pl.skipped);
      pl.skipped->attachAxis(pl.x_axis);
      pl.skipped->attachAxis(pl.y_axis);
      applyStyle(pl.skipped);
      connectSeries(pl.chart, pl.skipped);
      tidyLegend(kind);  // one more entry: it may no longer fit below the plot
    }
    std::uint64_t bytes = r.predicted_bytes;
    if (bytes == 0 && run_slot >= 0 && static_cast<std::size_t>(run_slot) < runs_.size()) {
      bytes = runs_[static_cast<std::size_t>(run_slot)].device.memory_bytes;
    }
    if (bytes == 0) return;
    const double y = static_cast<double>(bytes) / memory_unit_;
    appendSkipped(kind, QPointF(x, y));
    QString& tip = tips_[pl.skipped][x];
    if (!tip.isEmpty()) tip += QStringLiteral("\n\n");
    tip += head + QStringLiteral("\n%1: %2").arg(qs(statusName(r.status)), qs(r.message));
    extendY(kind, y);
  }
}

void RunCharts::applyStyle(QAbstractSeries* series) {
  const QPen pen = styles_.value(series);
  if (auto* scatter = qobject_cast<QScatterSeries*>(series)) {
    scatter->setColor(pen.color());
    const bool skipped = scatter->name() == QLatin1String("OOM / skipped");
    // The OOM/skipped triangles stand out with a border; a curve's markers are its colour only.
    QPen border(!skipped ? pen.color() : dark_ ? QColor(Qt::white) : QColor(Qt::black));
    border.setWidthF(skipped ? 1.5 : 1.0);  // a thin edge: the marker's size is its size
    scatter->setPen(border);
    scatter->setMarkerSize(skipped ? 11.0 : marker_size_);
  } else if (auto* area = qobject_cast<QAreaSeries*>(series)) {
    QColor fill = pen.color();
    fill.setAlphaF(0.18f);
    area->setBrush(fill);
    area->setPen(Qt::NoPen);
  } else if (auto* line = qobject_cast<QLineSeries*>(series)) {
    line->setPen(pen);
    line->setPointsVisible(false);  // the markers are a series of their own, shaped by kernel
  }
}
void RunCharts::connectSeries(QChart* chart, QAbstractSeries* series) {
  auto* xy = static_cast<QXYSeries*>(series);
  connect(xy, &QXYSeries::hovered, this, [this, xy](const QPointF& at, bool state) {
    if (!state) {
      QToolTip::hideText();
      return;
    }
    const auto tips = tips_.constFind(xy);
    if (tips == tips_.cend() || tips->empty()) return;
    // The point nearest to the cursor along the (log) x axis.
    auto best = tips->begin();
    for (auto it = tips->begin(); it != tips->end(); ++it) {
      if (it->first <= 0) continue;
      if (best->first <= 0 || std::abs(std::log2(it->first / at.x())) < std::abs(std::log2(best->first / at.x()))) {
        best = it;
      }
    }
    QToolTip::showText(QCursor::pos(), best->second);
  });
  // Clicking a legend entry hides its series, and the series of that name in every other chart (a
  // curve hidden on the latency chart is hidden on the TFLOP/s and memory charts too); the entries
  // stay, dimmed, to bring them back.
  for (QLegendMarker* marker : chart->legend()->markers(series)) {
    connect(marker, &QLegendMarker::clicked, this, [this, marker] {
      const QString name = marker->series()->name();
      const bool shown = !marker->series()->isVisible();
      for (ChartKind kind : kChartKinds) {
        for (QAbstractSeries* s : this->chart(kind)->series()) {
          if (s->name() == name) setSeriesShown(this->chart(kind), s, shown);
        }
      }
      marker->setVisible(true);
    });
  }
}

void RunCharts::setSeriesShown(QChart* in, QAbstractSeries* series, bool shown) {
  showCurve(series, shown);
  // A group's or a kernel key's entry stands for its member curves too.
  for (QAbstractSeries* member : legend_members_.value(series)) showCurve(member, shown);
  for (QLegendMarker* marker : in->legend()->markers(series)) {
    QColor label = marker->labelBrush().color();
    label.setAlphaF(shown ? 1.0f : 0.4f);
    marker->setLabelBrush(label);
  }
  for (ChartKind kind : kChartKinds) {
    if (chart(kind) != in) continue;
    tidyLegend(kind);  // members shown again get their entries back from Qt: hide them
    placeReferenceLabels(kind);
  }
}

void RunCharts::showCurve(QAbstractSeries* series, bool shown) {
  series->setVisible(shown);
  const auto d = decorations_.constFind(qobject_cast<QXYSeries*>(series));
  if (d == decorations_.cend()) return;
  if (d->markers != nullptr) d->markers->setVisible(shown);
  if (d->band != nullptr) d->band->setVisible(shown);
}

void RunCharts::setDark(bool dark) {
  dark_ = dark;
  for (ChartKind kind : kChartKinds) {
    QChart* c = chart(kind);
    // setTheme restyles every series: put the kernel/batch styles back afterwards.
    c->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    styleChart(c);
    for (QAbstractSeries* s : c->series()) applyStyle(s);
    tidyLegend(kind);
    placeReferenceLabels(kind);
  }
}

void RunCharts::setMarkerSize(double pixels) {
  marker_size_ = pixels;
  for (const Decoration& d : std::as_const(decorations_)) {
    if (d.markers != nullptr) d.markers->setMarkerSize(pixels);
  }
}

void RunCharts::setChoice(ChartKind kind, ChartChoice choice) {
  if (plot(kind).choice == choice) return;
  plot(kind).choice = choice;
  setLogScale(kind, Qt::Vertical, logByDefault(choice.metric));
  redraw(kind);
}

QString RunCharts::title(ChartKind kind) const {
  const ChartChoice c = choice(kind);
  if (c == defaultChoice(kind)) return chartTitle(kind);
  return c.x == ChartX::SeqLen ? metricTitle(c.metric) : metricTitle(c.metric) + QStringLiteral(" vs ") + xName(c.x);
}

QString RunCharts::stem(ChartKind kind) const {
  const ChartChoice c = choice(kind);
  switch (c.x) {
    case ChartX::SeqLen: return metricStem(c.metric);
    case ChartX::Batch: return metricStem(c.metric) + QStringLiteral("-vs-batch");
    case ChartX::HeadDim: return metricStem(c.metric) + QStringLiteral("-vs-headdim");
  }
  return metricStem(c.metric);
}

void RunCharts::setSpread(Spread spread) {
  if (spread_ == spread) return;
  spread_ = spread;
  for (ChartKind kind : kChartKinds) redraw(kind);
}

void RunCharts::redraw(ChartKind kind) {
  QSet<QString> hidden;
  for (QAbstractSeries* s : chart(kind)->series()) {
    if (!s->isVisible() && !s->name().isEmpty()) hidden.insert(s->name());
  }
  preparePlot(kind);
  const bool was_batching = std::exchange(batching_, true);
  for (const auto& [run_slot, point] : points_) drawPoint(kind, point, run_slot);
  if (!was_batching) endBatch();
  for (QAbstractSeries* s : chart(kind)->series()) {
    if (hidden.contains(s->name())) setSeriesShown(chart(kind), s, false);
  }
}

void RunCharts::copyViewOf(const RunCharts& other) {
  spread_ = other.spread_;
  for (ChartKind kind : kChartKinds) {
    plot(kind).choice = other.choice(kind);
    redraw(kind);
    for (Qt::Orientation orientation : {Qt::Horizontal, Qt::Vertical}) setLogScale(kind, orientation, other.logScale(kind, orientation));
    QSet<QString> hidden;
    for (QAbstractSeries* s : other.chart(kind)->series()) {
      if (!s->isVisible() && !s->name().isEmpty()) hidden.insert(s->name());
    }
    for (QAbstractSeries* s : chart(kind)->series()) {
      if (!hidden.contains(s->name())) continue;
      showCurve(s, false);
      for (QLegendMarker* m : chart(kind)->legend()->markers(s)) m->setVisible(false);
    }
    placeReferenceLabels(kind);
  }
}

int RunCharts::seriesCount(ChartKind kind) const {
  // A curve's markers and band are unnamed: they go with the curve.
  const auto series = chart(kind)->series();
  return static_cast<int>(std::count_if(series.begin(), series.end(), [](QAbstractSeries* s) { return !s->name().isEmpty(); }));
}

QStringList RunCharts::referenceLabels(ChartKind kind) const {
  QStringList labels;
  for (const ReferenceLine& ref : plot(kind).references) labels << ref.name + QLatin1Char(' ') + ref.value;
  return labels;
}

ChartRun chartRunOf(const RunRecord& run, const QString& label) {
  const std::vector<RunWorker> workers = runWorkers(run);
  QStringList labels, names;
  for (const RunWorker& w : workers) {
    labels << w.label;
    names << w.deviceName();
  }
  names.removeDuplicates();
  return ChartRun{run.spec, run.device, label, names.size() > 1 ? labels : QStringList{}};
}

}  // namespace attnbench::ui
