// The four charts of a run (or of several runs overlaid). By default: latency, speedup
// standard/flash, TFLOP/s with the measured GEMM ceiling, and peak memory with the device's memory
// and the OOM/skipped points, each over the sequence length; each chart's x axis (N, batch, head
// dim) and metric can be chosen. Colour tells the batch (x model x run), the dash and the point
// marker the kernel; reference lines carry their value as a label; the measured spread can be drawn
// as a band. Points go into their series (sorted by x); nothing is rebuilt. Many points at once (a
// stored run, a burst of live points) are staged and each series is redrawn once, not per point.
// Used by the live view and, without a display, by the exporters.
#pragma once

#include <array>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <QColor>
#include <QStringList>
#include <QHash>
#include <QObject>
#include <QPen>
#include <QPointF>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QtCharts/QChart>
#include <QtCharts/QScatterSeries>

#include "attnbench/device_info.h"
#include "attnbench/results.h"
#include "attnbench/store.h"
#include "attnbench/sweep_spec.h"

QT_BEGIN_NAMESPACE
class QAbstractAxis;
class QAbstractSeries;
class QAreaSeries;
class QGraphicsSimpleTextItem;
class QLineSeries;
class QXYSeries;
QT_END_NAMESPACE

namespace attnbench::ui {

enum class ChartKind { Latency, Speedup, Throughput, Memory };
inline constexpr std::array<ChartKind, 4> kChartKinds = {ChartKind::Latency, ChartKind::Speedup,
                                                        ChartKind::Throughput, ChartKind::Memory};
QString chartStem(ChartKind kind);   // file name stem of the default chart: "latency", "speedup", "tflops", "memory"
QString chartTitle(ChartKind kind);  // "Latency", "Speedup", "Throughput", "Peak memory"

// What a chart can draw against: the x axis and the metric (y).
enum class ChartX { SeqLen, Batch, HeadDim };
// TimeToFirstToken: an inference point's prefill of its N-token prompt (other points have none).
enum class ChartMetric { Latency, Throughput, Bandwidth, Memory, Speedup, TimeToFirstToken };
inline constexpr std::array<ChartX, 3> kChartXs = {ChartX::SeqLen, ChartX::Batch, ChartX::HeadDim};
inline constexpr std::array<ChartMetric, 6> kChartMetrics = {ChartMetric::Latency, ChartMetric::Throughput,
                                                             ChartMetric::Bandwidth, ChartMetric::Memory, ChartMetric::Speedup,
                                                             ChartMetric::TimeToFirstToken};
struct ChartChoice {
  ChartX x = ChartX::SeqLen;
  ChartMetric metric = ChartMetric::Latency;
  bool operator==(const ChartChoice&) const = default;
};
ChartChoice defaultChoice(ChartKind kind);
QString xName(ChartX x);                 // "N", "batch", "head dim" (menus, settings)
QString xSymbol(ChartX x);               // "N", "B", "D" (tooltips, the crosshair)
QString metricName(ChartMetric metric);  // "latency", "TFLOP/s", "GB/s", "peak memory", "speedup"
// Both from their names; false for an unknown name.
bool xFromName(const QString& name, ChartX* x);
bool metricFromName(const QString& name, ChartMetric* metric);

// The measured spread drawn around the latency, TFLOP/s and GB/s curves: none, the band between
// the fastest and slowest sample, or the median +- one standard deviation.
enum class Spread { None, MinMax, Std };

// The point marker of each kernel's curves: flash circle, standard triangle, cudnn square.
QScatterSeries::MarkerShape kernelMarker(KernelKind kernel);

// One run drawn by the charts.
struct ChartRun {
  ChartRun(SweepSpec run_spec, DeviceInfo run_device, QString run_label, QStringList run_workers = {})
      : spec(std::move(run_spec)), device(std::move(run_device)), label(std::move(run_label)), workers(std::move(run_workers)) {}
  SweepSpec spec;
  DeviceInfo device;
  QString label;  // prefixes the series names when several runs are drawn ("#3", "#7")
  // Workers whose points get curves of their own, named after them ("gpu0", "gpu1"): those of a run
  // spread over devices of different kinds. Workers on alike devices share curves (which worker ran a
  // point follows the hand-out order, not the problem), and the results table names each point's.
  QStringList workers;
};

// A stored run as the charts draw it, labelled `label` (its workers from its provenance when their
// devices differ).
ChartRun chartRunOf(const RunRecord& run, const QString& label);

class RunCharts : public QObject {
  Q_OBJECT
 public:
  explicit RunCharts(QObject* parent = nullptr);
  // Deletes the charts that no view or scene has taken.
  ~RunCharts() override;

  QChart* chart(ChartKind kind) const { return plots_[static_cast<std::size_t>(kind)].chart; }

  // Clears every series and sets up the axes, reference lines and series naming for these runs.
  void reset(std::vector<ChartRun> runs, const QString& context);
  // Appends (or replaces, for the same x) one point on every chart it belongs to.
  void addPoint(const PointResult& result, int run_slot = 0);
  void addPoints(const std::vector<PointResult>& results, int run_slot = 0);
  // Between these, addPoint only stages its points; endBatch hands each touched series its points
  // in one replace and sets the axis ranges once.
  void beginBatch();
  void endBatch();

  // The x axis and metric of a chart; a change redraws that chart from the points it was given.
  ChartChoice choice(ChartKind kind) const { return plots_[static_cast<std::size_t>(kind)].choice; }
  void setChoice(ChartKind kind, ChartChoice choice);
  // The chart's name as shown ("Latency", "TFLOP/s vs batch") and as a file name stem ("latency",
  // "tflops-vs-batch"): the default charts keep chartTitle's and chartStem's.
  QString title(ChartKind kind) const;
  QString stem(ChartKind kind) const;

  Spread spread() const { return spread_; }
  void setSpread(Spread spread);

  void setDark(bool dark);
  bool dark() const { return dark_; }
  // The point markers' diameter in pixels (smaller for a figure). The reference lines' labels
  // take the legend's font.
  void setMarkerSize(double pixels);
  // Log or linear scale of a chart's axis (by default x is log2, y log for latency and memory,
  // linear for speedup, TFLOP/s and GB/s). A switch keeps the series, the title and the range rules.
  bool logScale(ChartKind kind, Qt::Orientation orientation) const;
  void setLogScale(ChartKind kind, Qt::Orientation orientation, bool log);
  // Takes the choices, the spread and the axes' scales of `other` and hides here the series hidden
  // (through the legend) there, matched by name: an export shows what the window shows.
  void copyViewOf(const RunCharts& other);
  // Series currently in a chart (data series and reference lines, not their markers or bands), for tests.
  int seriesCount(ChartKind kind) const;
  // The labels on a chart's reference lines ("NVIDIA H200 memory 139.8 GiB"), for tests.
  QStringList referenceLabels(ChartKind kind) const;
  // The point markers and the spread band drawn for a curve (null where there are none), for tests.
  QScatterSeries* markersOf(QXYSeries* curve) const;
  QAreaSeries* bandOf(QXYSeries* curve) const;

  // Up to this many curves a chart's legend lists each curve (below the plot); above it, one entry
  // per colour (batch x model x run) and a key of the kernels' line styles (right of the plot), so
  // the legend does not truncate the names to nothing. Clicking an entry hides all it stands for.
  static constexpr int kFullLegendUpTo = 6;
  // Curves of sweeps with more x values than this are drawn without point markers (so dense that
  // they would merge into a thick line).
  static constexpr int kMarkedPointsUpTo = 40;
  // A legend entry's marker and spacing beside its label, in pixels.
  static constexpr double kLegendEntryExtraPx = 34;

 private:
  struct Range {
    double lo = 0, hi = 0;
    void add(double v);
    bool empty() const { return hi <= 0; }
  };
  // What is drawn with a curve: its point markers and its spread band (upper and lower edges).
  struct Decoration {
    QScatterSeries* markers = nullptr;
    QAreaSeries* band = nullptr;
    QLineSeries* upper = nullptr;
    QLineSeries* lower = nullptr;
  };
  struct ReferenceLine {
    QLineSeries* line = nullptr;
    QGraphicsSimpleTextItem* label = nullptr;
    QString name, value;  // the label: "H200 memory" and "139.8 GiB"
  };
  // One chart and everything drawn in it.
  struct Plot {
    QPointer<QChart> chart;
    ChartChoice choice;
    QAbstractAxis* x_axis = nullptr;
    QAbstractAxis* y_axis = nullptr;
    Range y_range;
    bool y_dirty = false;
    double x_lo = 32, x_hi = 8192;
    std::map<std::string, QLineSeries*> curves;  // curve name -> its series
    // Speedup: group name -> x -> (best flash, standard) median, ms.
    std::map<std::string, std::map<double, std::pair<double, double>>> speedups;
    QScatterSeries* skipped = nullptr;
    std::vector<ReferenceLine> references;  // horizontal lines across the whole x axis
    std::array<QLineSeries*, 3> kernel_keys{};          // a legend key per KernelKind
    std::map<std::string, QLineSeries*> group_entries;  // group -> its legend entry
    bool compact_legend = false;
  };

  void createCharts();
  Plot& plot(ChartKind kind) { return plots_[static_cast<std::size_t>(kind)]; }
  const Plot& plot(ChartKind kind) const { return plots_[static_cast<std::size_t>(kind)]; }
  // Sets up a chart for its choice (axes' titles, reference lines, the sweeps' curves) without points.
  void preparePlot(ChartKind kind);
  void useWorkloadRate();
  void drawPoint(ChartKind kind, const PointResult& result, int run_slot);
  QLineSeries* addLine(ChartKind kind, const QString& name, const QPen& pen);
  void addReferenceLine(ChartKind kind, const QString& name, double y, const QColor& color, const QString& tip);
  void placeReferenceLabels(ChartKind kind);
  // `worker`: the point's worker when curves are split by worker, else empty.
  QLineSeries* curveFor(ChartKind kind, const SweepPoint& point, int run_slot, const std::string& worker = {});
  QLineSeries* speedupFor(ChartKind kind, const SweepPoint& point, int run_slot, const std::string& worker = {});
  void decorate(ChartKind kind, QLineSeries* curve, KernelKind kernel);
  QColor groupColor(const std::string& group_key);
  void placePoint(QXYSeries* series, double x, double y, const QString& tip);
  void placeBand(QLineSeries* curve, double x, double lo, double hi);
  void appendSkipped(ChartKind kind, QPointF point);
  void extendY(ChartKind kind, double value);
  void applyXRange(ChartKind kind);
  void applyYRange(ChartKind kind);
  void connectSeries(QChart* chart, QAbstractSeries* series);
  // Shows or hides a series of `in` with the curves its legend entry stands for; its entry stays.
  void setSeriesShown(QChart* in, QAbstractSeries* series, bool shown);
  void applyStyle(QAbstractSeries* series);
  // A curve's name: what varies, less the chart's x axis; the kernel unless `with_kernel` is false.
  QString curveName(const SweepPoint& point, int run_slot, bool with_kernel, ChartX x = ChartX::SeqLen,
                    const std::string& worker = {}) const;
  void joinLegendGroup(ChartKind kind, QLineSeries* series, const SweepPoint& point, const QString& group);
  void tidyLegend(ChartKind kind);  // legend side, group labels, member entries hidden
  // Draws the chart afresh from every point given (after a new choice or spread), keeping what the
  // legend hid.
  void redraw(ChartKind kind);
  void showCurve(QAbstractSeries* series, bool shown);  // with its markers and band
  void watchAxis(ChartKind kind, QAbstractAxis* axis);  // labels follow zoom and pan
  QString modelLabel(const ModelPreset& model) const;
  std::vector<int> xValues(ChartX x) const;  // the sweeps' values on that axis, sorted

  std::array<Plot, 4> plots_;
  std::vector<ChartRun> runs_;
  QString context_;
  // Every point given since the reset (without its samples), to redraw a chart for a new choice.
  std::vector<std::pair<int, PointResult>> points_;
  std::map<std::string, QColor> group_colors_;
  QHash<QAbstractSeries*, QPen> styles_;
  QHash<QXYSeries*, std::map<double, QString>> tips_;
  QHash<QXYSeries*, Decoration> decorations_;
  // While batching: the points of every touched series (x -> y) and the new OOM/skipped markers.
  bool batching_ = false;
  std::unordered_map<QXYSeries*, std::map<double, double>> staged_;
  std::unordered_map<QScatterSeries*, QList<QPointF>> staged_skipped_;
  // Which axes vary (and so go into the series names).
  bool many_models_ = false, many_dtypes_ = false, many_causal_ = false, many_tiles_ = false;
  bool split_workers_ = false;  // a run spread over several workers: a curve per worker
  bool many_q_lens_ = false;    // decode steps of several new-row counts: q is part of a curve's name
  bool all_decode_ = false;     // every run is a decode run: N is the KV cache length, the rate is GB/s
  bool all_inference_ = false;  // every run is an inference run: the rate chart is the time to first token
  bool rate_switched_ = false;  // the rate chart follows the runs' workload, not the user's choice
  bool many_kernels_ = false;
  std::set<KernelKind> kernels_;
  bool dark_ = false;
  Spread spread_ = Spread::None;
  double marker_size_ = 7.0;
  double memory_unit_ = 1024.0 * 1024.0;  // bytes per unit of the memory axis (MiB or GiB)
  QHash<QAbstractSeries*, QList<QAbstractSeries*>> legend_members_;  // entry -> the curves it stands for
  QHash<QAbstractSeries*, QString> legend_labels_;                  // entry -> its group's name
  QSet<QAbstractSeries*> legend_hidden_;                            // curves without an entry of their own
};

}  // namespace attnbench::ui
