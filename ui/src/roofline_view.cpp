#include "roofline_view.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <QLabel>
#include <QToolTip>
#include <QVBoxLayout>
#include <QtCharts/QChart>
#include <QtCharts/QChartView>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QScatterSeries>

#include "ui_format.h"

namespace attnbench::ui {

namespace {

// Log axes need a positive span; round it out to whole decades so the labels are powers of ten.
void setDecades(QLogValueAxis* axis, double lo, double hi) {
  axis->setRange(std::pow(10.0, std::floor(std::log10(lo))), std::pow(10.0, std::ceil(std::log10(hi))));
}

}  // namespace

RooflineView::RooflineView(const RunData* run_data, QWidget* parent) : QWidget(parent), data_(run_data) {
  chart_ = new QChart;
  chart_->setTitle(tr("Roofline"));
  chart_->legend()->setAlignment(Qt::AlignBottom);
  x_axis_ = new QLogValueAxis;
  x_axis_->setTitleText(tr("Arithmetic intensity (FLOP/byte, compulsory bytes)"));
  x_axis_->setLabelFormat(QStringLiteral("%g"));
  y_axis_ = new QLogValueAxis;
  y_axis_->setTitleText(tr("TFLOP/s"));
  y_axis_->setLabelFormat(QStringLiteral("%g"));
  chart_->addAxis(x_axis_, Qt::AlignBottom);
  chart_->addAxis(y_axis_, Qt::AlignLeft);
  view_ = new QChartView(chart_);
  view_->setRenderHint(QPainter::Antialiasing);
  note_ = new QLabel;
  note_->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(note_);
  layout->addWidget(view_, 1);
  connect(data_, &RunData::runReset, this, &RooflineView::refresh);
  connect(data_, &RunData::pointsUpdated, this, &RooflineView::refresh);
  rebuild();
}

void RooflineView::refresh() {
  // Redrawing every marker costs time per point: a tab not on screen waits until it is shown.
  if (isVisible()) {
    rebuild();
  } else {
    stale_ = true;
  }
}

void RooflineView::showEvent(QShowEvent* event) {
  if (std::exchange(stale_, false)) rebuild();
  QWidget::showEvent(event);
}

QScatterSeries* RooflineView::kernelSeries(const std::string& kernel) const {
  const auto it = series_.find(kernel);
  return it == series_.end() ? nullptr : it->second;
}

QString RooflineView::tipOf(const QScatterSeries* series, int index) const {
  const auto it = tips_.find(series);
  if (it == tips_.end() || index < 0 || static_cast<std::size_t>(index) >= it->size()) return {};
  return (*it)[static_cast<std::size_t>(index)];
}

void RooflineView::setDark(bool dark) {
  chart_->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
  rebuild();  // the theme restyles the series
}

void RooflineView::rebuild() {
  stale_ = false;
  // The points of each kernel family present, in the order they ran (every refresh redraws all:
  // a replaced point moves, and a run has thousands of points at most).
  std::map<std::string, QList<QPointF>> markers;
  std::map<std::string, std::vector<QString>> tips;
  for (const PointResult& r : data_->points()) {
    if (r.status != PointStatus::Ok || r.stats.median_ms <= 0 || r.tflops <= 0) continue;
    const double bytes = compulsoryBytes(r.point);
    if (bytes <= 0) continue;
    const double intensity = r.point.flops() / bytes;
    const std::string kernel = kernelName(r.point.kernel);
    markers[kernel].append(QPointF(intensity, r.tflops));
    tips[kernel].push_back(tr("%1\n%2 FLOP/byte, %3 TFLOP/s, median %4")
                               .arg(qs(r.point.label()))
                               .arg(intensity, 0, 'g', 4)
                               .arg(formatTflops(r.tflops), formatMs(r.stats.median_ms)));
  }
  // Series of kernels no longer present go; new ones come in name order (stable colours).
  for (auto it = series_.begin(); it != series_.end();) {
    if (markers.count(it->first) == 0) {
      chart_->removeSeries(it->second);
      tips_.remove(it->second);
      delete it->second;
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [kernel, points] : markers) {
    QScatterSeries*& series = series_[kernel];
    if (series == nullptr) {
      series = new QScatterSeries;
      series->setName(qs(kernel));
      series->setMarkerSize(9);
      chart_->addSeries(series);
      series->attachAxis(x_axis_);
      series->attachAxis(y_axis_);
      connect(series, &QScatterSeries::hovered, this,
              [this, series](QPointF at, bool state) { onHover(series, at, state); });
    }
    series->replace(points);
    tips_[series] = std::move(tips[kernel]);
  }

  const auto& ceilings = data_->run().device.ceilings;
  const bool roofs = ceilings && ceilings->gemm_tflops > 0 && ceilings->copy_gbps > 0;
  if (roofs && roof_ == nullptr) {
    roof_ = new QLineSeries;
    chart_->addSeries(roof_);
    roof_->attachAxis(x_axis_);
    roof_->attachAxis(y_axis_);
  } else if (!roofs && roof_ != nullptr) {
    chart_->removeSeries(roof_);
    delete roof_;
    roof_ = nullptr;
  }
  if (roof_ != nullptr) {
    roof_->setName(tr("roof: %1 GB/s copy, %2 TFLOP/s GEMM (%3, measured)")
                       .arg(ceilings->copy_gbps, 0, 'f', 0)
                       .arg(formatTflops(ceilings->gemm_tflops), qs(ceilings->gemm_dtype)));
    QPen pen(QColor(0x55, 0x55, 0x55), 1.5, Qt::DashLine);
    roof_->setPen(pen);
  }
  if (!data_->hasRun()) {
    note_->setText(tr("No run: start a sweep, or open one from the run history."));
  } else if (!roofs) {
    note_->setText(tr("The device's ceilings were not measured for this run: the points without their roofs."));
  } else {
    note_->setText(tr("Run #%1 on %2: achieved TFLOP/s against the bytes each kernel must move at the least.")
                       .arg(data_->run().id)
                       .arg(qs(data_->run().device.name)));
  }
  fitAxes();
}

void RooflineView::fitAxes() {
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
  auto extend = [](double& lo, double& hi, double v) {
    if (v <= 0) return;
    lo = lo > 0 ? std::min(lo, v) : v;
    hi = std::max(hi, v);
  };
  for (const auto& [kernel, series] : series_) {
    for (const QPointF& p : series->points()) {
      extend(x_lo, x_hi, p.x());
      extend(y_lo, y_hi, p.y());
    }
  }
  const auto& ceilings = data_->run().device.ceilings;
  if (roof_ != nullptr) {
    // The ridge (where the two roofs meet) is always in view, and the flat roof above the points.
    const double ridge = ceilings->gemm_tflops * 1000.0 / ceilings->copy_gbps;
    extend(x_lo, x_hi, ridge);
    extend(y_lo, y_hi, ceilings->gemm_tflops);
  }
  if (x_hi <= 0 || y_hi <= 0) {
    x_axis_->setRange(1, 1000);
    y_axis_->setRange(0.01, 1000);
    return;
  }
  setDecades(x_axis_, x_lo / 2, x_hi * 2);
  setDecades(y_axis_, y_lo / 2, y_hi * 2);
  if (roof_ != nullptr) {
    // Bandwidth roof: TFLOP/s = GB/s x FLOP/byte / 1000, up to the ridge; then the GEMM ceiling.
    const double lo = x_axis_->min(), hi = x_axis_->max();
    const double ridge = ceilings->gemm_tflops * 1000.0 / ceilings->copy_gbps;
    roof_->replace({QPointF(lo, ceilings->copy_gbps * lo / 1000.0), QPointF(ridge, ceilings->gemm_tflops),
                    QPointF(hi, ceilings->gemm_tflops)});
  }
}

void RooflineView::onHover(QScatterSeries* series, QPointF at, bool state) {
  if (!state) {
    QToolTip::hideText();
    return;
  }
  // The marker nearest to the hovered position (markers of one kernel may sit close together).
  int nearest = -1;
  double best = 0;
  for (int i = 0; i < series->count(); ++i) {
    const QPointF p = series->at(i);
    const double d = std::hypot(std::log(p.x() / at.x()), std::log(p.y() / at.y()));
    if (nearest < 0 || d < best) {
      nearest = i;
      best = d;
    }
  }
  if (nearest >= 0) QToolTip::showText(QCursor::pos(), tipOf(series, nearest), view_);
}

}  // namespace attnbench::ui
