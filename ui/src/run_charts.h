// The four charts of a run (or of two runs overlaid): latency, speedup standard/flash, TFLOP/s with
// the measured GEMM ceiling, and peak memory with the device's memory and the OOM/skipped points.
// Points are appended to their series one by one (sorted by sequence length); nothing is rebuilt.
// Used by the live view and, without a display, by the exporters.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <QColor>
#include <QHash>
#include <QObject>
#include <QPen>
#include <QPointer>
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

  void setDark(bool dark);
  bool dark() const { return dark_; }
  // Hides here the series hidden (through the legend) in `other`, matched by name.
  void copyVisibility(const RunCharts& other);
  // Series currently in a chart (data series and reference lines), for tests.
  int seriesCount(ChartKind kind) const;

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
  void extendY(ChartKind kind, double value);
  void applyYRange(ChartKind kind);
  void connectSeries(QChart* chart, QAbstractSeries* series);
  void applyStyle(QAbstractSeries* series);
  QString curveName(const SweepPoint& point, int run_slot, bool with_kernel) const;

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
  // Which axes vary (and so go into the series names).
  bool many_models_ = false, many_dtypes_ = false, many_causal_ = false, many_tiles_ = false;
  bool dark_ = false;
};

}  // namespace attnbench::ui
