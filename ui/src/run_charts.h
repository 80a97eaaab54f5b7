// The four charts of a run (or of two runs overlaid): latency, speedup standard/flash, TFLOP/s with
// the measured GEMM ceiling, and peak memory with the device's memory and the OOM/skipped points.
// Points go into their series (sorted by sequence length); nothing is rebuilt. Many points at once
// (a stored run, a burst of live points) are staged and each series is redrawn once, not per point.
// Used by the live view and, without a display, by the exporters.
#pragma once

#include <array>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <QColor>
#include <QHash>
#include <QObject>
#include <QPen>
#include <QPointF>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QtCharts/QChart>

#include "attnbench/device_info.h"
#include "attnbench/results.h"
#include "attnbench/sweep_spec.h"

QT_BEGIN_NAMESPACE
class QAbstractAxis;
class QAbstractSeries;
class QLineSeries;
class QScatterSeries;
class QXYSeries;
QT_END_NAMESPACE

namespace attnbench::ui {

enum class ChartKind { Latency, Speedup, Throughput, Memory };
inline constexpr std::array<ChartKind, 4> kChartKinds = {ChartKind::Latency, ChartKind::Speedup,
                                                        ChartKind::Throughput, ChartKind::Memory};
QString chartStem(ChartKind kind);   // file name stem: "latency", "speedup", "tflops", "memory"
QString chartTitle(ChartKind kind);  // "Latency vs sequence length", ...

// One run drawn by the charts.
struct ChartRun {
  SweepSpec spec;
  DeviceInfo device;
  QString label;  // prefixes the series names when several runs are drawn ("#3", "#7")
};

class RunCharts : public QObject {
  Q_OBJECT
 public:
  explicit RunCharts(QObject* parent = nullptr);
  // Deletes the charts that no view or scene has taken.
  ~RunCharts() override;

  QChart* chart(ChartKind kind) const { return charts_[static_cast<std::size_t>(kind)]; }

  // Clears every series and sets up the axes, reference lines and series naming for these runs.
  void reset(std::vector<ChartRun> runs, const QString& context);
  // Appends (or replaces, for the same sequence length) one point on every chart it belongs to.
  void addPoint(const PointResult& result, int run_slot = 0);
  void addPoints(const std::vector<PointResult>& results, int run_slot = 0);
  // Between these, addPoint only stages its points; endBatch hands each touched series its points
  // in one replace and sets the axis ranges once.
  void beginBatch();
  void endBatch();

  void setDark(bool dark);
  bool dark() const { return dark_; }
  // Log or linear scale of a chart's axis (by default x is log2, y log for latency and memory,
  // linear for speedup and TFLOP/s). A switch keeps the series, the title and the range rules.
  bool logScale(ChartKind kind, Qt::Orientation orientation) const;
  void setLogScale(ChartKind kind, Qt::Orientation orientation, bool log);
  // Takes the axes' scales of `other` and hides here the series hidden (through the legend) there,
  // matched by name: an export shows what the window shows.
  void copyViewOf(const RunCharts& other);
  // Series currently in a chart (data series and reference lines), for tests.
  int seriesCount(ChartKind kind) const;

  // Up to this many curves a chart's legend lists each curve (below the plot); above it, one entry
  // per colour (batch x model x run) and a key of the kernels' line styles (right of the plot), so
  // the legend does not truncate the names to nothing. Clicking an entry hides all it stands for.
  static constexpr int kFullLegendUpTo = 6;
  // Curves of sweeps with more sequence lengths than this are drawn without point markers (so
  // dense that they would merge into a thick line).
  static constexpr int kMarkedPointsUpTo = 40;
  // A legend entry's marker and spacing beside its label, in pixels.
  static constexpr double kLegendEntryExtraPx = 34;

 private:
  struct Curve {
    QLineSeries* latency = nullptr;
    QLineSeries* tflops = nullptr;
    QLineSeries* memory = nullptr;
  };
  struct SpeedupCurve {
    QLineSeries* series = nullptr;
    std::map<int, std::pair<double, double>> medians;  // seq_len -> (best flash, standard), ms
  };
  struct Range {
    double lo = 0, hi = 0;
    void add(double v);
    bool empty() const { return hi <= 0; }
  };

  void createCharts();
  QLineSeries* addLine(ChartKind kind, const QString& name, const QPen& pen);
  void addReferenceLine(ChartKind kind, const QString& name, double y, const QColor& color, const QString& tip);
  Curve& curveFor(const SweepPoint& point, int run_slot);
  SpeedupCurve& speedupFor(const SweepPoint& point, int run_slot);
  QColor groupColor(const std::string& group_key);
  void placePoint(QXYSeries* series, double x, double y, const QString& tip);
  void appendSkipped(QPointF point);
  void extendY(ChartKind kind, double value);
  void applyXRange(ChartKind kind);
  void applyYRange(ChartKind kind);
  void connectSeries(QChart* chart, QAbstractSeries* series);
  // Shows or hides a series of `in` with the curves its legend entry stands for; its entry stays.
  void setSeriesShown(QChart* in, QAbstractSeries* series, bool shown);
  void applyStyle(QAbstractSeries* series);
  QString curveName(const SweepPoint& point, int run_slot, bool with_kernel) const;
  void joinLegendGroup(ChartKind kind, QLineSeries* series, const SweepPoint& point, const QString& group);
  void tidyLegend(QChart* chart);  // legend side, group labels, member entries hidden
  QString modelLabel(const ModelPreset& model) const;

  std::array<QPointer<QChart>, 4> charts_;
  std::array<QAbstractAxis*, 4> x_axes_{};
  std::array<QAbstractAxis*, 4> y_axes_{};
  std::array<Range, 4> y_ranges_;
  std::vector<ChartRun> runs_;
  std::map<std::string, Curve> curves_;
  std::map<std::string, SpeedupCurve> speedups_;
  std::map<std::string, QColor> group_colors_;
  QScatterSeries* skipped_ = nullptr;
  std::vector<QLineSeries*> reference_lines_;  // horizontal lines across the whole x axis
  double x_lo_ = 32, x_hi_ = 8192;
  QHash<QAbstractSeries*, QPen> styles_;
  QHash<QXYSeries*, std::map<int, QString>> tips_;
  // While batching: the points of every touched series (x -> y), the new OOM/skipped markers, and
  // the charts whose y range grew.
  bool batching_ = false;
  std::unordered_map<QXYSeries*, std::map<double, double>> staged_;
  QList<QPointF> staged_skipped_;
  std::array<bool, 4> y_dirty_{};
  // Which axes vary (and so go into the series names).
  bool many_models_ = false, many_dtypes_ = false, many_causal_ = false, many_tiles_ = false;
  bool dark_ = false;
  bool mark_points_ = true;
  double memory_unit_ = 1024.0 * 1024.0;  // bytes per unit of the memory axis (MiB or GiB)
  bool compact_legend_ = false;
  std::array<std::array<QLineSeries*, 3>, 4> kernel_keys_{};      // per chart: a key per KernelKind
  std::array<std::map<std::string, QLineSeries*>, 4> group_entries_;  // per chart: group -> its legend entry
  QHash<QAbstractSeries*, QList<QAbstractSeries*>> legend_members_;  // entry -> the curves it stands for
  QHash<QAbstractSeries*, QString> legend_labels_;                  // entry -> its group's name
  QSet<QAbstractSeries*> legend_hidden_;                            // curves without an entry of their own
};

}  // namespace attnbench::ui
