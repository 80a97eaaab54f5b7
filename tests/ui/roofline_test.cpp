// The roofline and the winner per shape, from the recorded stream: what they show is recomputed
// here from the points themselves, and both follow a live run refresh by refresh.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>
#include <QtCharts/QScatterSeries>

#include "roofline_view.h"
#include "run_data.h"
#include "ui_format.h"
#include "ui_test_support.h"
#include "winners_view.h"

namespace attnbench::ui {
namespace {

bool ranOk(const PointResult& r) { return r.status == PointStatus::Ok && r.stats.median_ms > 0; }

// Applies the fixture's run_started and its first `points` point_finished events, then refreshes.
void feedLive(RunData& data, int points) {
  int finished = 0;
  for (const RunEvent& event : test::fixtureEvents()) {
    if (std::holds_alternative<RunFinishedEvent>(event)) continue;
    if (std::holds_alternative<PointFinishedEvent>(event) && finished++ >= points) break;
    data.applyEvent(event);
  }
  data.flushUpdates();
}

TEST(Roofline, OneMarkerPerPointThatRanUnderTheMeasuredRoofs) {
  test::ensureApp();
  RunData data;
  RooflineView view(&data);
  view.show();  // a hidden roofline waits until it is shown
  const auto points = test::fixturePoints();
  const DeviceCeilings ceilings = *test::fixtureRun().device.ceilings;
  ASSERT_GT(ceilings.gemm_tflops, 0);
  ASSERT_GT(ceilings.copy_gbps, 0);

  for (int shown : {3, 12}) {
    feedLive(data, shown);
    // Expected: per kernel family, (intensity, TFLOP/s) of each ok point among the first `shown`.
    std::map<std::string, std::vector<std::pair<double, double>>> expected;
    std::map<std::string, std::vector<std::string>> labels;
    for (int i = 0; i < shown; ++i) {
      const PointResult& r = points[static_cast<std::size_t>(i)];
      if (!ranOk(r)) continue;
      expected[kernelName(r.point.kernel)].push_back({r.point.flops() / compulsoryBytes(r.point), r.tflops});
      labels[kernelName(r.point.kernel)].push_back(r.point.label());
    }
    ASSERT_FALSE(expected.empty());
    for (const auto& [kernel, xy] : expected) {
      QScatterSeries* series = view.kernelSeries(kernel);
      ASSERT_NE(series, nullptr) << kernel;
      EXPECT_EQ(series->name().toStdString(), kernel);
      ASSERT_EQ(series->count(), static_cast<int>(xy.size())) << kernel << " after " << shown;
      for (int i = 0; i < series->count(); ++i) {
        EXPECT_DOUBLE_EQ(series->at(i).x(), xy[static_cast<std::size_t>(i)].first);
        EXPECT_DOUBLE_EQ(series->at(i).y(), xy[static_cast<std::size_t>(i)].second);
        EXPECT_GT(series->at(i).y(), 0);
        EXPECT_TRUE(view.tipOf(series, i).contains(qs(labels[kernel][static_cast<std::size_t>(i)])))
            << view.tipOf(series, i).toStdString();
      }
    }
    // No series for a family that has not run ok yet.
    int with_markers = 0;
    for (QAbstractSeries* s : view.chart()->series()) with_markers += qobject_cast<QScatterSeries*>(s) != nullptr ? 1 : 0;
    EXPECT_EQ(with_markers, static_cast<int>(expected.size()));
  }

  // The roof: the copy bandwidth's slope up to the ridge, the GEMM ceiling after it, across the axis.
  QLineSeries* roof = view.roof();
  ASSERT_NE(roof, nullptr);
  ASSERT_EQ(roof->count(), 3);
  auto* x_axis = qobject_cast<QLogValueAxis*>(view.chart()->axes(Qt::Horizontal).at(0));
  ASSERT_NE(x_axis, nullptr);
  EXPECT_DOUBLE_EQ(roof->at(0).x(), x_axis->min());
  EXPECT_DOUBLE_EQ(roof->at(0).y(), ceilings.copy_gbps * x_axis->min() / 1000.0);
  EXPECT_DOUBLE_EQ(roof->at(1).x(), ceilings.gemm_tflops * 1000.0 / ceilings.copy_gbps);
  EXPECT_DOUBLE_EQ(roof->at(1).y(), ceilings.gemm_tflops);
  EXPECT_DOUBLE_EQ(roof->at(2).x(), x_axis->max());
  EXPECT_DOUBLE_EQ(roof->at(2).y(), ceilings.gemm_tflops);
  // Every marker is within the axes.
  for (const char* kernel : {"flash", "standard"}) {
    for (const QPointF& p : view.kernelSeries(kernel)->points()) {
      EXPECT_GT(p.x(), x_axis->min());
      EXPECT_LT(p.x(), x_axis->max());
    }
  }

  // A run without measured ceilings: the markers, no roof.
  RunRecord bare = test::fixtureRun();
  bare.device.ceilings.reset();
  data.reset(bare, points);
  EXPECT_EQ(view.roof(), nullptr);
  EXPECT_NE(view.kernelSeries("flash"), nullptr);
}

// Off screen (another tab) the views skip the refreshes, and catch up once shown.
TEST(Roofline, HiddenViewsCatchUpWhenShown) {
  test::ensureApp();
  RunData data;
  RooflineView roofline(&data);
  WinnersView winners(&data);
  feedLive(data, 12);
  EXPECT_EQ(roofline.kernelSeries("flash"), nullptr);
  EXPECT_EQ(winners.model()->rowCount(), 0);
  roofline.show();
  winners.show();
  ASSERT_NE(roofline.kernelSeries("flash"), nullptr);
  EXPECT_GT(roofline.kernelSeries("flash")->count(), 0);
  EXPECT_EQ(winners.model()->winners().size(), winnersPerShape(data.points()).size());
  EXPECT_GT(winners.model()->rowCount(), 0);
}

TEST(Winners, TheFastestKernelPerShapeAndItsSpeedupOverTheSecond) {
  test::ensureApp();
  RunData data;
  WinnersView view(&data);
  view.show();  // a hidden table waits until it is shown
  const auto points = test::fixturePoints();
  feedLive(data, 4);
  const int live_rows = view.model()->rowCount();
  EXPECT_GT(live_rows, 0);
  feedLive(data, 12);

  // Brute force over the points: for each shape the fastest ok point, and the fastest ok point of
  // another kernel family.
  using Shape = std::tuple<std::string, int, int, DType, bool>;
  std::map<Shape, std::vector<const PointResult*>> by_shape;
  for (const PointResult& r : points) {
    if (ranOk(r)) by_shape[{r.point.model.name, r.point.shape.batch, r.point.shape.seq_kv, r.point.shape.dtype, r.point.shape.causal}].push_back(&r);
  }
  const auto& winners = view.model()->winners();
  ASSERT_EQ(winners.size(), by_shape.size());
  EXPECT_LT(live_rows, static_cast<int>(winners.size()));
  EXPECT_EQ(view.model()->rowCount(), static_cast<int>(winners.size()));
  int with_second = 0, alone = 0;
  for (const ShapeWinner& w : winners) {
    const auto it = by_shape.find({w.model, w.batch, w.seq_len, parseDType(w.dtype), w.causal});
    ASSERT_NE(it, by_shape.end()) << w.model << " N=" << w.seq_len;
    const auto& candidates = it->second;
    const PointResult* fastest = *std::min_element(candidates.begin(), candidates.end(), [](auto* a, auto* b) {
      return a->stats.median_ms < b->stats.median_ms;
    });
    const PointResult* second = nullptr;
    for (const PointResult* r : candidates) {
      if (r->point.kernel != fastest->point.kernel && (second == nullptr || r->stats.median_ms < second->stats.median_ms)) second = r;
    }
    EXPECT_EQ(w.fastest, kernelName(fastest->point.kernel));
    EXPECT_DOUBLE_EQ(w.median_ms, fastest->stats.median_ms);
    if (second == nullptr) {
      EXPECT_TRUE(w.second.empty());
      EXPECT_EQ(w.speedup(), 0.0);
      ++alone;
    } else {
      EXPECT_EQ(w.second, kernelName(second->point.kernel));
      EXPECT_DOUBLE_EQ(w.speedup(), second->stats.median_ms / fastest->stats.median_ms);
      EXPECT_GE(w.speedup(), 1.0);
      ++with_second;
    }
  }
  // The fixture has shapes where both kernels ran and shapes where the standard one was skipped.
  EXPECT_GT(with_second, 0);
  EXPECT_GT(alone, 0);
  // The table shows the model's numbers.
  const QModelIndex speedup = view.model()->index(0, WinnersModel::Speedup);
  EXPECT_DOUBLE_EQ(speedup.data(WinnersModel::SortRole).toDouble(), winners[0].speedup());
  EXPECT_EQ(view.model()->index(0, WinnersModel::Fastest).data().toString().toStdString(), winners[0].fastest);
}

// Several tiles of one family count once, by the fastest; any family name is a column value, not
// a case of the code.
TEST(Winners, SeveralTilesOfAFamilyCountByTheFastest) {
  auto points = test::fixturePoints();
  std::vector<PointResult> tiles;
  for (const PointResult& r : points) {
    if (!ranOk(r) || r.point.kernel != KernelKind::Flash) continue;
    PointResult slower = r;
    slower.stats.median_ms *= 4;
    slower.tile = TileShape{128, 64};
    tiles.push_back(slower);
  }
  ASSERT_FALSE(tiles.empty());
  const auto before = winnersPerShape(points);
  points.insert(points.begin(), tiles.begin(), tiles.end());
  const auto after = winnersPerShape(points);
  ASSERT_EQ(after.size(), before.size());
  std::map<std::tuple<std::string, int, int>, double> fastest_before;
  for (const auto& w : before) fastest_before[{w.model, w.batch, w.seq_len}] = w.median_ms;
  for (const auto& w : after) EXPECT_DOUBLE_EQ(w.median_ms, (fastest_before[{w.model, w.batch, w.seq_len}]));
}

}  // namespace
}  // namespace attnbench::ui
