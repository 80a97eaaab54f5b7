// The ETA: before Run, the sweep's time predicted from FLOPs and bytes over the device's ceilings;
// during the run, the points left weighted by their predicted cost at the measured pace. Checked on
// two event streams recorded by the CPU worker: the points' own timestamps give the true time left.
#include <gtest/gtest.h>

#include <QDateTime>
#include <QLabel>
#include <QTemporaryDir>

#include "attnbench/backend.h"
#include "attnbench/cost_model.h"
#include "main_window.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "ui_test_support.h"

namespace attnbench::ui {
namespace {

double seconds(const nlohmann::json& iso) {
  return static_cast<double>(QDateTime::fromString(QString::fromStdString(iso.get<std::string>()), Qt::ISODateWithMs)
                                 .toMSecsSinceEpoch()) /
         1000.0;
}

struct Recorded {
  SweepSpec spec;
  DeviceInfo device;
  std::vector<std::pair<int, double>> finished;  // point index, finish time
  double start = 0;
};

Recorded readStream(const QString& name) {
  Recorded r;
  QFile file(test::dataPath(name));
  EXPECT_TRUE(file.open(QIODevice::ReadOnly));
  while (!file.atEnd()) {
    const auto e = nlohmann::json::parse(file.readLine().toStdString());
    if (e["event"] == "run_started") {
      r.spec = specFromJson(e["spec"]);
      r.device = deviceInfoFromJson(e["device"]);
    } else if (e["event"] == "point_finished") {
      const auto& result = e["result"];
      if (r.finished.empty()) r.start = seconds(result["started_at"]);
      r.finished.emplace_back(e["index"].get<int>(), seconds(result["finished_at"]));
    }
  }
  return r;
}

// The ETA after each finished point while at least 5% of the run is left (the last points of a run
// may be skipped ones, ending within the same millisecond): its largest relative error once 5% of
// the predicted work is done, its largest factor off before that (a few tiny first points say
// little about the large ones), and the ETA that divides the time so far evenly among the points
// (as the window did) a quarter into the run, as a ratio to the truth.
struct EtaErrors {
  double weighted = 0, early_factor = 1, even_at_first_quarter = 0;
};

EtaErrors replay(const Recorded& r) {
  SweepEta eta(r.spec, r.device);
  EXPECT_EQ(eta.pointCount(), static_cast<int>(r.finished.size()));
  eta.start(r.start);
  const double end = r.finished.back().second;
  const int n = static_cast<int>(r.finished.size());
  EtaErrors errors;
  for (int k = 0; k + 1 < n; ++k) {
    const auto [index, now] = r.finished[static_cast<std::size_t>(k)];
    eta.pointFinished(index, now);
    const double actual = end - now;
    const auto predicted = eta.remainingSeconds(now);
    EXPECT_TRUE(predicted.has_value());
    if (k + 1 == n / 4) errors.even_at_first_quarter = (now - r.start) / (k + 1) * (n - k - 1) / actual;
    if (actual < 0.05 * (end - r.start)) continue;
    const double ratio = predicted.value_or(0) / actual;
    if (eta.fractionDone() >= 0.05) {
      errors.weighted = std::max(errors.weighted, std::abs(ratio - 1));
    } else {
      errors.early_factor = std::max({errors.early_factor, ratio, 1 / ratio});
    }
  }
  return errors;
}

TEST(Eta, WithinThirtyPercentAlongARecordedRun) {
  const Recorded r = readStream(QStringLiteral("cpu_eta.jsonl"));  // 48 points, N 128..1024, B 1..4
  ASSERT_EQ(r.finished.size(), 48u);
  const EtaErrors errors = replay(r);
  EXPECT_LE(errors.weighted, 0.30);
  EXPECT_LE(errors.early_factor, 1.5);
  // What it replaces: a quarter into the run, an even split of the time so far was over 2x too low.
  EXPECT_LT(errors.even_at_first_quarter, 0.5);
}

TEST(Eta, WithinThirtyPercentOnceFivePercentIsDoneOnAGqaRun) {
  // Llama-3-8B (8 KV heads), causal, N 64..1024, B 1 and 3, flash at two tiles, skips for memory.
  const Recorded r = readStream(QStringLiteral("cpu_eta_gqa.jsonl"));
  ASSERT_EQ(r.finished.size(), 18u);
  const EtaErrors errors = replay(r);
  EXPECT_LE(errors.weighted, 0.30);
  EXPECT_LE(errors.early_factor, 3.0);  // after the first three points of N=64: 2.6x too low
}

TEST(Eta, PredictsBeforeTheRunOnlyFromMeasuredCeilings) {
  Recorded r = readStream(QStringLiteral("cpu_eta.jsonl"));
  const SweepEta measured(r.spec, r.device);
  ASSERT_TRUE(measured.predictedTotalSeconds().has_value());
  // The recorded run took 52 s on a loaded 2-core machine; at the ceilings it would take less, not
  // orders of magnitude less.
  const double actual = r.finished.back().second - r.start;
  EXPECT_GT(*measured.predictedTotalSeconds(), actual / 5);
  EXPECT_LT(*measured.predictedTotalSeconds(), actual * 2);
  SweepEta started = measured;
  started.start(100.0);
  EXPECT_NEAR(*started.remainingSeconds(101.0), *measured.predictedTotalSeconds() - 1.0, 1e-9);

  // Resumed with half the points recorded: about half the work is left (the larger half here).
  SweepEta resumed = measured;
  std::vector<int> first_half;
  for (int i = 0; i < 24; ++i) first_half.push_back(i);
  resumed.start(0.0, first_half);
  EXPECT_LT(*resumed.remainingSeconds(0.0), *measured.predictedTotalSeconds());
  EXPECT_GT(*resumed.remainingSeconds(0.0), 0.3 * *measured.predictedTotalSeconds());

  r.device.ceilings.reset();
  const SweepEta nominal(r.spec, r.device);
  EXPECT_FALSE(nominal.predictedTotalSeconds().has_value());
  EXPECT_FALSE(nominal.remainingSeconds(0.0).has_value());
}

TEST(Eta, CostGrowsWithBatchAndTheSquareOfTheSequence) {
  const Recorded r = readStream(QStringLiteral("cpu_eta.jsonl"));
  const DeviceCeilings& c = *r.device.ceilings;
  SweepSpec spec = r.spec;
  spec.check_correctness = false;
  spec.max_memory_bytes.reset();
  SweepPoint p = expandPoints(spec).front();
  p.kernel = KernelKind::Flash;
  p.shape = modelShape(p.model, 1, 2048, p.shape.dtype, false);
  const double base = predictedPointSeconds(p, spec, r.device, c);
  p.shape.seq_q = p.shape.seq_kv = 4096;
  EXPECT_NEAR(predictedPointSeconds(p, spec, r.device, c) / base, 4.0, 0.2);
  p.shape.batch = 2;
  EXPECT_NEAR(predictedPointSeconds(p, spec, r.device, c) / base, 8.0, 0.4);
  p.shape.causal = true;
  EXPECT_NEAR(predictedPointSeconds(p, spec, r.device, c) / base, 4.0, 0.4);
  // Over the memory budget the point is skipped at once.
  spec.max_memory_bytes = 1 << 20;
  EXPECT_LT(predictedPointSeconds(p, spec, r.device, c), 0.01 * base);
}

TEST(Eta, TheWindowShowsTheEstimateUnderRunAndAPredictedEtaAtTheStart) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("e.db"));
  MainWindowOptions options = test::quietOptions(db);
  options.list_devices = true;  // the CPU at least
  SweepSpec spec = readStream(QStringLiteral("cpu_eta.jsonl")).spec;
  {
    MainWindow window(options);
    window.editor()->setSpec(spec);
    // No ceilings cached for this machine's CPU yet.
    EXPECT_TRUE(window.estimateLabel()->text().contains(QLatin1String("once the ceilings"))) << window.estimateLabel()->text().toStdString();
  }
  DeviceInfo cpu;
  for (const DeviceInfo& d : listDevices()) {
    if (d.kind == "cpu") cpu = d;
  }
  ASSERT_EQ(cpu.kind, "cpu");
  Store::open(db.toStdString())->cacheCeilings(cpu, DeviceCeilings{10.0, 0.1, "fp32"});
  MainWindow window(options);
  window.editor()->setSpec(spec);
  const QString text = window.estimateLabel()->text();
  EXPECT_TRUE(text.contains(QLatin1String("48 points, about"))) << text.toStdString();
  spec.seq_lens = {128};
  window.editor()->setSpec(spec);
  EXPECT_TRUE(window.estimateLabel()->text().contains(QLatin1String("12 points, about")));
  EXPECT_NE(window.estimateLabel()->text(), text);

  // A run's first event carries its device's ceilings: the ETA is a prediction until a point ends.
  RunData data;
  QFile file(test::dataPath(QStringLiteral("cpu_eta.jsonl")));
  ASSERT_TRUE(file.open(QIODevice::ReadOnly));
  data.applyEvent(eventFromJson(nlohmann::json::parse(file.readLine().toStdString())));
  EXPECT_GT(data.etaSeconds(), 0.0);
  EXPECT_EQ(data.finishedHere(), 0);
}

}  // namespace
}  // namespace attnbench::ui
