// What a chart draws, read back from the chart and from its exported SVG: a marker shape per
// kernel, reference lines labelled with their value, a chosen x axis and metric (kept per chart),
// and the measured spread as a band.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <QRegularExpression>
#include <QSettings>
#include <QTemporaryDir>
#include <QtCharts/QAreaSeries>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QValueAxis>

#include "chart_export.h"
#include "chart_panel.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

QLineSeries* findCurve(QChart* chart, const QString& name) {
  for (QAbstractSeries* s : chart->series()) {
    if (s->name() == name) return qobject_cast<QLineSeries*>(s);
  }
  return nullptr;
}

// Whether `curve` has a point at (x, y), y compared to 1e-9 (the charts plot stored values as they are).
bool curveHasPoint(const QLineSeries& curve, double x, double y) {
  const QList<QPointF> points = curve.points();
  return std::any_of(points.begin(), points.end(),
                     [&](const QPointF& xy) { return xy.x() == x && std::abs(xy.y() - y) < 1e-9; });
}

// The fixture run as if measured on an H200 with a 770 TFLOP/s GEMM ceiling.
RunRecord h200Run() {
  RunRecord run = test::fixtureRun();
  run.id = 42;
  run.device.name = "NVIDIA H200";
  run.device.memory_bytes = static_cast<std::uint64_t>(139.8 * 1024 * 1024 * 1024);
  run.device.ceilings->gemm_tflops = 770.0;
  run.device.ceilings->copy_gbps = 4012.0;
  return run;
}

QString exportSvg(const RunRecord& run, ChartKind kind, const RunCharts* view, const QString& dir) {
  QStringList written;
  QString error;
  EXPECT_TRUE(exportFigures(run, test::fixturePoints(), dir, {kind}, {ImageFormat::Svg}, FigureStyle{}, view, &written, &error))
      << error.toStdString();
  return written.isEmpty() ? QString() : QString::fromUtf8(test::readAll(written.constFirst()));
}

TEST(ChartChoice, EachKernelHasItsMarkerShapeInTheChartAndTheSvg) {
  test::ensureApp();
  EXPECT_EQ(kernelMarker(KernelKind::Flash), QScatterSeries::MarkerShapeCircle);
  EXPECT_EQ(kernelMarker(KernelKind::Standard), QScatterSeries::MarkerShapeTriangle);
  EXPECT_EQ(kernelMarker(KernelKind::Cudnn), QScatterSeries::MarkerShapeRectangle);
  RunCharts charts;
  charts.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints());
  QLineSeries* flash = findCurve(charts.chart(ChartKind::Latency), QStringLiteral("flash B=1"));
  QLineSeries* standard = findCurve(charts.chart(ChartKind::Latency), QStringLiteral("standard B=1"));
  ASSERT_TRUE(flash != nullptr && standard != nullptr);
  ASSERT_TRUE(charts.markersOf(flash) != nullptr && charts.markersOf(standard) != nullptr);
  EXPECT_EQ(charts.markersOf(flash)->markerShape(), QScatterSeries::MarkerShapeCircle);
  EXPECT_EQ(charts.markersOf(standard)->markerShape(), QScatterSeries::MarkerShapeTriangle);
  EXPECT_EQ(charts.markersOf(flash)->points(), flash->points());  // a marker on every point
  EXPECT_EQ(charts.markersOf(flash)->color(), flash->pen().color());

  // In the figure: the flash curve's colour draws circles, the standard's closed paths of three
  // corners (triangles); one per point. QSvgGenerator writes each shape in a <g> with its fill.
  QTemporaryDir dir;
  const QString svg = exportSvg(h200Run(), ChartKind::Latency, nullptr, dir.path());
  const QString number = QStringLiteral("[0-9.]+,[0-9.]+");
  const QRegularExpression shape(QStringLiteral("<g fill=\"(#[0-9a-f]{6})\" fill-opacity=\"1\"[^>]*>\\s*<(circle|path [^>]*d=\"M%1 L%1 L%1 L%1\")")
                                     .arg(number));
  int circles = 0, triangles = 0;
  for (const auto& m : shape.globalMatch(svg)) {
    if (m.captured(1) != flash->pen().color().name()) continue;
    (m.captured(2) == QLatin1String("circle") ? circles : triangles) += 1;
  }
  EXPECT_EQ(circles, static_cast<int>(flash->count()));
  EXPECT_EQ(triangles, static_cast<int>(standard->count()));
}

TEST(ChartChoice, ReferenceLinesCarryTheirValueInTheChartAndTheSvg) {
  test::ensureApp();
  const RunRecord run = h200Run();
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#42")}}, QString());
  EXPECT_EQ(charts.referenceLabels(ChartKind::Memory), QStringList{QStringLiteral("H200 memory 139.8 GiB")});
  EXPECT_EQ(charts.referenceLabels(ChartKind::Throughput), QStringList{QStringLiteral("GEMM ceiling 770 TFLOP/s")});
  EXPECT_EQ(charts.referenceLabels(ChartKind::Speedup), QStringList{QStringLiteral("parity 1×")});
  QTemporaryDir dir;
  // In a column-wide figure the value goes below the name: two lines of one label.
  const QString memory = exportSvg(run, ChartKind::Memory, nullptr, dir.path());
  EXPECT_TRUE(memory.contains(QLatin1String(">H200 memory<")) && memory.contains(QLatin1String(">139.8 GiB<"))) << memory.toStdString();
  const QString tflops = exportSvg(run, ChartKind::Throughput, nullptr, dir.path());
  EXPECT_TRUE(tflops.contains(QLatin1String(">GEMM ceiling<")) && tflops.contains(QLatin1String(">770 TFLOP/s<")));
  // A wide one has room for one line.
  QStringList written;
  QString error;
  ASSERT_TRUE(exportCharts(run, test::fixturePoints(), dir.path(), {ChartKind::Memory}, {ImageFormat::Svg}, kDefaultChartSize, nullptr,
                           &written, &error));
  EXPECT_TRUE(QString::fromUtf8(test::readAll(written.constFirst())).contains(QLatin1String(">H200 memory 139.8 GiB<")));
  // A GB/s chart gets the copy bandwidth's line instead.
  charts.setChoice(ChartKind::Throughput, {ChartX::SeqLen, ChartMetric::Bandwidth});
  EXPECT_EQ(charts.referenceLabels(ChartKind::Throughput), QStringList{QStringLiteral("copy bandwidth 4012 GB/s")});
}

TEST(ChartChoice, XAxisAndMetricSwitchPerChartAndExportsFollow) {
  test::ensureApp();
  const RunRecord run = h200Run();
  const std::vector<PointResult> points = test::fixturePoints();
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#42")}}, QString());
  charts.addPoints(points);
  charts.setChoice(ChartKind::Latency, {ChartX::Batch, ChartMetric::Throughput});
  QChart* chart = charts.chart(ChartKind::Latency);
  EXPECT_EQ(charts.title(ChartKind::Latency), QStringLiteral("Throughput vs batch"));
  EXPECT_EQ(charts.stem(ChartKind::Latency), QStringLiteral("tflops-vs-batch"));
  // x: the batch sizes 1 and 2 within the axis; y: linear from 0 over the highest TFLOP/s.
  auto* x = qobject_cast<QLogValueAxis*>(chart->axes(Qt::Horizontal).constFirst());
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->titleText(), QStringLiteral("Batch size"));
  EXPECT_LT(x->min(), 1.0);
  EXPECT_GT(x->max(), 2.0);
  EXPECT_LT(x->max(), 4.0);
  auto* y = qobject_cast<QValueAxis*>(chart->axes(Qt::Vertical).constFirst());
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->titleText(), QStringLiteral("TFLOP/s"));
  double top = 0;
  for (const PointResult& p : points) top = std::max(top, p.tflops);
  EXPECT_GT(top, 0.0);
  top = std::max(top, 770.0);  // the GEMM ceiling's line is in view too
  EXPECT_DOUBLE_EQ(y->min(), 0.0);
  EXPECT_GE(y->max(), top);
  EXPECT_LT(y->max(), 2.0 * top);
  // One curve per kernel and sequence length, with a point per batch size, each the point's TFLOP/s.
  QLineSeries* curve = findCurve(chart, QStringLiteral("flash N=256"));
  ASSERT_NE(curve, nullptr);
  ASSERT_EQ(curve->count(), 2);
  for (const PointResult& p : points) {
    if (p.point.kernel != KernelKind::Flash || p.point.shape.seq_kv != 256) continue;
    const QPointF at = curve->at(p.point.shape.batch == 1 ? 0 : 1);
    EXPECT_EQ(at.x(), p.point.shape.batch);
    EXPECT_DOUBLE_EQ(at.y(), p.tflops);
  }
  // The other charts keep theirs.
  EXPECT_EQ(charts.choice(ChartKind::Memory), defaultChoice(ChartKind::Memory));
  EXPECT_EQ(charts.stem(ChartKind::Memory), QStringLiteral("memory"));

  // An export of the window's view draws the same choice, under its name.
  QTemporaryDir dir;
  QStringList written;
  QString error;
  ASSERT_TRUE(exportFigures(run, points, dir.path(), {ChartKind::Latency}, {ImageFormat::Svg}, FigureStyle{}, &charts, &written, &error));
  ASSERT_EQ(written.size(), 1);
  EXPECT_TRUE(written.constFirst().endsWith(QLatin1String("run42-tflops-vs-batch.svg")));
  const QString svg = QString::fromUtf8(test::readAll(written.constFirst()));
  EXPECT_TRUE(svg.contains(QLatin1String(">Batch size<")));
  EXPECT_FALSE(svg.contains(QLatin1String(">Median latency (ms)<")));

  // Back to the default: the latency curves over N again.
  charts.setChoice(ChartKind::Latency, defaultChoice(ChartKind::Latency));
  EXPECT_TRUE(charts.logScale(ChartKind::Latency, Qt::Vertical));
  ASSERT_NE(findCurve(chart, QStringLiteral("flash B=1")), nullptr);
  EXPECT_EQ(findCurve(chart, QStringLiteral("flash B=1"))->count(), 3);
}

TEST(ChartChoice, ThePanelRemembersEachChartsChoice) {
  test::ensureApp();
  QSettings().remove(QStringLiteral("charts"));
  RunData data;
  data.reset(test::fixtureRun(), test::fixturePoints());
  {
    ChartPanel panel(&data, nullptr, true);
    panel.setChoice(ChartKind::Speedup, {ChartX::HeadDim, ChartMetric::Bandwidth});
    panel.setSpread(Spread::Std);
  }
  ChartPanel again(&data, nullptr, true);
  EXPECT_EQ(again.charts()->choice(ChartKind::Speedup), (ChartChoice{ChartX::HeadDim, ChartMetric::Bandwidth}));
  EXPECT_EQ(again.charts()->choice(ChartKind::Latency), defaultChoice(ChartKind::Latency));
  EXPECT_EQ(again.charts()->spread(), Spread::Std);
  ChartPanel forgetful(&data);
  EXPECT_EQ(forgetful.charts()->choice(ChartKind::Speedup), defaultChoice(ChartKind::Speedup));
  QSettings().remove(QStringLiteral("charts"));
}

TEST(ChartChoice, SpreadBandsFollowTheStoredStatistics) {
  test::ensureApp();
  const RunRecord run = h200Run();
  const std::vector<PointResult> points = test::fixturePoints();
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#42")}}, QString());
  charts.addPoints(points);
  QLineSeries* latency = findCurve(charts.chart(ChartKind::Latency), QStringLiteral("standard B=2"));
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(charts.bandOf(latency), nullptr);  // off by default

  const auto check = [&](Spread spread) {
    charts.setSpread(spread);
    for (ChartKind kind : {ChartKind::Latency, ChartKind::Throughput}) {
      QLineSeries* curve = findCurve(charts.chart(kind), QStringLiteral("standard B=2"));
      ASSERT_NE(curve, nullptr);
      QAreaSeries* band = charts.bandOf(curve);
      ASSERT_NE(band, nullptr);
      int checked = 0;
      for (const PointResult& p : points) {
        if (p.point.kernel != KernelKind::Standard || p.point.shape.batch != 2 || p.status != PointStatus::Ok) continue;
        const SampleStats& s = p.stats;
        ASSERT_GT(s.max_ms, s.min_ms);  // a real spread, not zeros
        const double fast = spread == Spread::MinMax ? s.min_ms : s.median_ms - s.std_ms;
        const double slow = spread == Spread::MinMax ? s.max_ms : s.median_ms + s.std_ms;
        const double lo = kind == ChartKind::Latency ? fast : p.tflops * s.median_ms / slow;
        const double hi = kind == ChartKind::Latency ? slow : p.tflops * s.median_ms / fast;
        for (int i = 0; i < band->upperSeries()->count(); ++i) {
          if (band->upperSeries()->at(i).x() != p.point.shape.seq_kv) continue;
          EXPECT_NEAR(band->upperSeries()->at(i).y(), hi, 1e-12 * hi);
          EXPECT_NEAR(band->lowerSeries()->at(i).y(), lo, 1e-12 * hi);
          ++checked;
        }
      }
      EXPECT_GE(checked, 2);
    }
    // Memory has no spread to draw.
    EXPECT_EQ(charts.bandOf(findCurve(charts.chart(ChartKind::Memory), QStringLiteral("standard B=2"))), nullptr);
  };
  check(Spread::MinMax);
  check(Spread::Std);
  if (const QByteArray shots = qgetenv("ATTNBENCH_UI_SHOTS"); !shots.isEmpty()) {
    charts.setSpread(Spread::MinMax);
    renderChartImage(charts.chart(ChartKind::Latency), QSize(700, 480)).save(QString::fromLocal8Bit(shots) + QStringLiteral("/chart-spread-band.png"));
    charts.setChoice(ChartKind::Throughput, {ChartX::Batch, ChartMetric::Throughput});
    renderChartImage(charts.chart(ChartKind::Throughput), QSize(700, 480)).save(QString::fromLocal8Bit(shots) + QStringLiteral("/chart-tflops-vs-batch.png"));
    charts.setChoice(ChartKind::Throughput, defaultChoice(ChartKind::Throughput));
  }

  // The figure draws the bands (translucent fills) only when the view has them.
  QTemporaryDir dir;
  const QString with = exportSvg(run, ChartKind::Latency, &charts, dir.path());
  charts.setSpread(Spread::None);
  const QString without = exportSvg(run, ChartKind::Latency, &charts, dir.path());
  const QRegularExpression translucent(QStringLiteral("fill-opacity=\"0\\.1[0-9]*\""));
  EXPECT_GE(static_cast<int>(with.count(translucent)), 4);  // a band per curve
  EXPECT_EQ(without.count(translucent), 0);
}

}  // namespace
}  // namespace attnbench::ui

namespace attnbench::ui {
namespace {

// A decode run: the rate chart shows GB/s under the measured copy bandwidth over the KV cache length,
// and an attention run afterwards gets TFLOP/s back.
TEST(ChartChoice, DecodeRunsAreChartedInBandwidthOverTheCacheLength) {
  test::ensureApp();
  const RunRecord decode = test::fixtureRun(QStringLiteral("cpu_decode.jsonl"));
  ASSERT_EQ(decode.spec.workload, Workload::Decode);
  RunCharts charts;
  charts.reset({ChartRun{decode.spec, decode.device, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints(QStringLiteral("cpu_decode.jsonl")));
  EXPECT_EQ(charts.choice(ChartKind::Throughput).metric, ChartMetric::Bandwidth);
  const QStringList refs = charts.referenceLabels(ChartKind::Throughput);
  ASSERT_EQ(refs.size(), 1);
  EXPECT_TRUE(refs.front().startsWith(QStringLiteral("copy bandwidth"))) << refs.front().toStdString();
  QChart* rate = charts.chart(ChartKind::Throughput);
  EXPECT_EQ(rate->axes(Qt::Horizontal).constFirst()->titleText(), QStringLiteral("KV cache length N (tokens)"));
  // Both batches of the fixture, for flash, on the GB/s chart: y is each point's stored gbps.
  QLineSeries* flash = findCurve(rate, QStringLiteral("flash B=4"));
  ASSERT_NE(flash, nullptr);
  ASSERT_EQ(flash->count(), 3);
  for (const auto& p : test::fixturePoints(QStringLiteral("cpu_decode.jsonl"))) {
    if (p.point.kernel == KernelKind::Flash && p.point.shape.batch == 4 && p.point.shape.seq_kv == 1024) {
      EXPECT_TRUE(curveHasPoint(*flash, 1024, p.gbps)) << "flash B=4 N=1024 at " << p.gbps << " GB/s";
    }
  }
  charts.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#2")}}, QString());
  EXPECT_EQ(charts.choice(ChartKind::Throughput).metric, ChartMetric::Throughput);
}

// An inference run: the latency chart is decode ms per token, the rate chart the time to first token
// (each point's stored TTFT), the speedup chart standard / flash of ms per token.
TEST(ChartChoice, InferenceRunsChartTimeToFirstTokenAndMsPerToken) {
  test::ensureApp();
  const QString stream = QStringLiteral("cpu_inference.jsonl");
  const RunRecord run = test::fixtureRun(stream);
  ASSERT_EQ(run.spec.workload, Workload::Inference);
  const std::vector<PointResult> points = test::fixturePoints(stream);
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#1")}}, QString());
  charts.addPoints(points);
  EXPECT_EQ(charts.choice(ChartKind::Throughput).metric, ChartMetric::TimeToFirstToken);
  QChart* ttft = charts.chart(ChartKind::Throughput);
  EXPECT_EQ(ttft->axes(Qt::Vertical).constFirst()->titleText(), QStringLiteral("Time to first token (ms)"));
  EXPECT_EQ(charts.chart(ChartKind::Latency)->axes(Qt::Vertical).constFirst()->titleText(),
            QStringLiteral("Decode (ms per token)"));
  int checked = 0;
  for (const auto& p : points) {
    if (p.status != PointStatus::Ok || p.point.kernel != KernelKind::Flash) continue;
    ASSERT_TRUE(p.inference.has_value());
    QLineSeries* curve = findCurve(ttft, QStringLiteral("flash B=%1").arg(p.point.shape.batch));
    ASSERT_NE(curve, nullptr);
    EXPECT_TRUE(curveHasPoint(*curve, p.point.shape.seq_kv, p.inference->ttft_ms)) << "TTFT of B=" << p.point.shape.batch << " N=" << p.point.shape.seq_kv;
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

}  // namespace
}  // namespace attnbench::ui
