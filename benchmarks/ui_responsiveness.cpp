// Responsiveness of the desktop application, measured on the real main window (offscreen unless
// QT_QPA_PLATFORM says otherwise). A benchmark that prints its measurements against the targets,
// not a unit test: timings depend on the machine and its load.
//
//   attnbench_ui_bench [--stream-points 2000] [--interval-us 0,1000] [--db-points 10000] [--keep DIR]
//
// 1. Streaming: the window starts a run whose worker is this executable in --emit mode, printing a
//    recorded-style JSON-lines stream (run_started, point_started/point_finished per point, notes,
//    run_finished) on stdout, as `attnbench --batch --events jsonl` does. The window reads it through
//    its worker client, exactly as in a real run. A 5 ms timer measures the gaps between its ticks:
//    the longest gap is the longest time the event loop was blocked. Target: <= 50 ms.
//    --interval-us sets the worker's pause after each point (0: as fast as it can write).
// 2. A large database, written through core's Store: a run of --db-points points plus three runs of
//    1000. Measured: opening it in the window until the history is listed and painted, then opening
//    the big run until its charts and, on the Results tab, its table are painted. Target: <= 1 s each.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>

#include "attnbench/results.h"
#include "attnbench/store.h"
#include "attnbench/sweep_spec.h"
#include "chart_panel.h"
#include "history_panel.h"
#include "main_window.h"
#include "results_model.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "worker_client.h"

namespace {

using namespace attnbench;
using Clock = std::chrono::steady_clock;

constexpr double kStallTargetMs = 50.0;
constexpr double kOpenTargetMs = 1000.0;
constexpr int kProbeIntervalMs = 5;

// --- The worker stand-in ------------------------------------------------------------------------

// Writes `file` to stdout line by line, flushing each line as the real worker does, and pauses
// `interval_us` after every finished point. The worker flags after these are ignored.
int emitEvents(const char* file, long interval_us) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file);
    return 2;
  }
  for (std::string line; std::getline(in, line);) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (interval_us > 0 && line.find("\"point_finished\"") != std::string::npos) {
      std::this_thread::sleep_for(std::chrono::microseconds(interval_us));
    }
  }
  return 0;
}

// --- Realistic runs -----------------------------------------------------------------------------

DeviceInfo h100() {
  DeviceInfo d;
  d.id = "cuda:0";
  d.kind = "cuda";
  d.name = "NVIDIA H100 80GB HBM3";
  d.memory_bytes = 85017493504ULL;
  d.fingerprint = "cuda|NVIDIA H100 80GB HBM3|81079|90|1980000|13000";
  d.properties = {{"compute_capability", "9.0"}, {"sm_count", 132}, {"registers_per_sm", 65536},
                  {"shared_memory_per_sm", 233472}, {"shared_memory_per_block_optin", 232448},
                  {"l2_cache_bytes", 52428800}, {"memory_bytes", d.memory_bytes}, {"memory_peak_gbps", 3352.32}};
  d.ceilings = DeviceCeilings{3007.3, 766.3, "fp16"};
  return d;
}

// `seq_count` sequence lengths, 128 apart: a fine sweep whose curves have many points.
SweepSpec spec(const std::string& name, std::vector<std::string> models, std::vector<int> batches,
               std::vector<DType> dtypes, int seq_count) {
  SweepSpec s;
  s.name = name;
  for (const auto& m : models) s.models.push_back(findModel(m));
  for (int i = 1; i <= seq_count; ++i) s.seq_lens.push_back(128 * i);
  s.batch_sizes = std::move(batches);
  s.dtypes = std::move(dtypes);
  s.causal = {false, true};
  s.kernels = {KernelKind::Flash, KernelKind::Standard};
  s.tiles = {TileShape{}};
  s.device = "cuda";
  return s;
}

// H100-like numbers: flash near 350 TFLOP/s, standard near 150, standard skipped where its N^2
// scores would pass 20 GiB (so some points are skipped with a reason, as in real runs).
PointResult fakeResult(const SweepPoint& p) {
  PointResult r;
  r.point = p;
  const double b = p.shape.batch, h = p.shape.heads_q, n = p.shape.seq_kv, d = p.shape.head_dim;
  const std::uint64_t io = static_cast<std::uint64_t>(4.0 * b * h * n * d * 2.0 + b * h * n * 4.0);
  const std::uint64_t scores = p.kernel == KernelKind::Standard ? static_cast<std::uint64_t>(b * h * n * n * 2.0) : 0;
  r.predicted_bytes = io + scores;
  r.started_at = r.finished_at = isoTimestampNow();
  if (scores > (20ULL << 30)) {
    r.status = PointStatus::Skipped;
    r.message = "would need " + formatBytes(r.predicted_bytes) + ", limit 20.00 GiB (--max-memory)";
    return r;
  }
  r.tile = p.kernel == KernelKind::Flash ? TileShape{128, 64} : TileShape{};
  const double peak = (p.kernel == KernelKind::Flash ? 350.0 : 150.0) * n / (n + 1024.0);
  const double median = p.flops() / (peak * 1e12) * 1e3;
  for (int i = 0; i < 3; ++i) r.samples_ms.push_back(median * (1.0 + 0.01 * ((p.index + i) % 5)));
  r.stats = computeStats(r.samples_ms);
  r.tflops = p.flops() / (r.stats.median_ms * 1e-3) / 1e12;
  r.peak_bytes = r.predicted_bytes;
  r.correctness = CorrectnessResult{1e-3, 1e-3, 8e-4, 2e-3, 256, 0, true};
  return r;
}

// The stream `attnbench --batch --events jsonl` would print for `s` on an H100.
void writeEventStream(const SweepSpec& s, const std::string& path) {
  std::ofstream out(path);
  const auto points = expandPoints(s);
  const int total = static_cast<int>(points.size());
  auto line = [&](const nlohmann::json& j) { out << j.dump() << '\n'; };
  line({{"event", "run_started"}, {"run_id", 1}, {"db", "results.db"}, {"name", s.name}, {"total_points", total},
        {"done_points", 0}, {"resumed", false}, {"device", deviceInfoToJson(h100())}, {"spec", specToJson(s)}});
  int done = 0;
  for (const auto& p : points) {
    line({{"event", "point_started"}, {"run_id", 1}, {"index", p.index}, {"label", p.label()},
          {"point", {{"model", p.model.name}, {"batch", p.shape.batch}, {"seq_len", p.shape.seq_kv}}}});
    line({{"event", "point_finished"}, {"run_id", 1}, {"index", p.index}, {"done", ++done}, {"total", total},
          {"result", pointResultToJson(fakeResult(p))}});
  }
  line({{"event", "run_finished"}, {"run_id", 1}, {"status", "completed"}, {"counts", {{"ok", total}}},
        {"wall_seconds", 1.0}, {"kernel_seconds", 0.5}});
}

std::int64_t storeRun(Store& store, const SweepSpec& s, int limit) {
  auto points = expandPoints(s);
  if (limit > 0 && static_cast<int>(points.size()) > limit) points.resize(static_cast<std::size_t>(limit));
  const std::int64_t id = store.createRun(s, h100(), static_cast<int>(points.size()));
  for (const auto& p : points) store.recordPoint(id, fakeResult(p));
  store.setRunStatus(id, RunStatus::Completed);
  return id;
}

// --- Measuring ----------------------------------------------------------------------------------

// Ticks every 5 ms; the gaps between ticks are how long the event loop could not run a timer.
class StallProbe {
 public:
  StallProbe() {
    timer_.setTimerType(Qt::PreciseTimer);
    timer_.setInterval(kProbeIntervalMs);
    QObject::connect(&timer_, &QTimer::timeout, [this] { tick(); });
  }
  void start() {
    gaps_ms_.clear();
    ends_ms_.clear();
    clock_.start();
    last_ns_ = 0;
    timer_.start();
  }
  void stop() {
    tick();  // the gap up to now counts too
    timer_.stop();
  }
  double max() const { return gaps_ms_.empty() ? 0 : *std::max_element(gaps_ms_.begin(), gaps_ms_.end()); }
  double percentile(double q) const {
    if (gaps_ms_.empty()) return 0;
    std::vector<double> sorted = gaps_ms_;
    std::sort(sorted.begin(), sorted.end());
    return sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
  }
  std::size_t ticks() const { return gaps_ms_.size(); }
  // "71.2 ms at 12 ms, 30.1 ms at 450 ms": the longest gaps and when they ended, after start().
  std::string worst(std::size_t n) const {
    std::vector<std::size_t> order(gaps_ms_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return gaps_ms_[a] > gaps_ms_[b]; });
    std::string text;
    for (std::size_t i = 0; i < std::min(n, order.size()); ++i) {
      char item[64];
      std::snprintf(item, sizeof item, "%s%.1f ms at %.0f ms", i ? ", " : "", gaps_ms_[order[i]], ends_ms_[order[i]]);
      text += item;
    }
    return text;
  }

 private:
  void tick() {
    const qint64 now = clock_.nsecsElapsed();
    gaps_ms_.push_back(static_cast<double>(now - last_ns_) / 1e6);
    ends_ms_.push_back(static_cast<double>(now) / 1e6);
    last_ns_ = now;
  }
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ns_ = 0;
  std::vector<double> gaps_ms_, ends_ms_;
};

// Handles every pending event, including the paints they cause.
void settle() {
  for (int i = 0; i < 3; ++i) {
    QCoreApplication::sendPostedEvents();
    QCoreApplication::processEvents(QEventLoop::AllEvents);
  }
}

void wait(int ms) {
  QEventLoop loop;
  QTimer::singleShot(ms, &loop, &QEventLoop::quit);
  loop.exec();
}

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct Row {
  std::string what;
  double value;
  double target;  // <= 0: informational
};

ui::MainWindowOptions windowOptions(const QString& db) {
  ui::MainWindowOptions o;
  o.db_path = db;
  o.use_settings = false;
  o.list_devices = false;
  return o;
}

void streamScenario(const QString& dir, int points_wanted, long interval_us, std::vector<Row>& rows) {
  // 2 models x 2 masks x 2 batches x 2 kernels = 16 curves per chart.
  const int seq_count = std::max(1, points_wanted / 16);
  const SweepSpec s = spec("stream", {"llama-2-7b", "granite-7b"}, {1, 2}, {DType::F16}, seq_count);
  const QString events = dir + QStringLiteral("/stream.jsonl");
  writeEventStream(s, events.toStdString());
  const int total = static_cast<int>(expandPoints(s).size());

  auto options = windowOptions(dir + QStringLiteral("/stream.db"));
  options.worker_program = QCoreApplication::applicationFilePath();
  options.worker_args = {QStringLiteral("--emit"), events, QStringLiteral("--interval-us"), QString::number(interval_us)};
  ui::MainWindow window(options);
  window.resize(1500, 950);
  window.show();
  window.editor()->setSpec(s);
  wait(300);

  StallProbe probe;
  QEventLoop until_done;
  QObject::connect(window.worker(), &ui::WorkerClient::finished, &until_done, &QEventLoop::quit);
  probe.start();
  const auto t0 = Clock::now();
  if (!window.startRun()) {
    std::fprintf(stderr, "the run did not start\n");
    return;
  }
  until_done.exec();
  const double wall = msSince(t0);
  wait(250);  // the last refreshes, still under the probe
  probe.stop();
  const auto shown = static_cast<int>(window.runData()->points().size());
  if (shown != total) std::fprintf(stderr, "warning: %d of %d points shown\n", shown, total);

  char name_buf[96];
  std::snprintf(name_buf, sizeof name_buf, "stream %d points, worker pause %g ms/point: ", total,
                static_cast<double>(interval_us) / 1000.0);
  const std::string name = name_buf;
  rows.push_back({name + "longest event-loop stall (ms)", probe.max(), kStallTargetMs});
  std::printf("%slongest stalls: %s\n", name.c_str(), probe.worst(4).c_str());
  rows.push_back({name + "p99 tick gap (ms)", probe.percentile(0.99), 0});
  rows.push_back({name + "median tick gap (ms)", probe.percentile(0.5), 0});
  rows.push_back({name + "all points shown after (ms)", wall, 0});
  const auto paint0 = Clock::now();
  (void)window.grab();
  rows.push_back({name + "then drawing the whole window once (ms)", msSince(paint0), 0});
}

void databaseScenario(const QString& dir, int big_points, std::vector<Row>& rows) {
  const QString db = dir + QStringLiteral("/large.db");
  std::int64_t big = 0;
  {
    auto store = Store::open(db.toStdString());
    // 2 models x 2 dtypes x 2 masks x 5 batches x 2 kernels = 80 curves per chart.
    const int seq_count = std::max(1, (big_points + 79) / 80);
    for (int i = 0; i < 3; ++i) {
      storeRun(*store, spec("small-" + std::to_string(i), {"llama-2-7b"}, {1, 2}, {DType::F16}, 125), 1000);
    }
    big = storeRun(*store, spec("large", {"llama-2-7b", "granite-7b"}, {1, 2, 4, 8, 16}, {DType::F16, DType::BF16}, seq_count),
                   big_points);
  }

  ui::MainWindow window(windowOptions(dir + QStringLiteral("/empty.db")));
  window.resize(1500, 950);
  window.show();
  wait(300);

  auto t0 = Clock::now();
  window.openDatabase(db);
  settle();
  rows.push_back({"open a DB of " + std::to_string(big_points + 3000) + " points in 4 runs: history listed (ms)",
                  msSince(t0), kOpenTargetMs});
  if (window.historyPanel()->model()->rowCount() != 4) std::fprintf(stderr, "warning: history has not 4 runs\n");

  t0 = Clock::now();
  window.openRun(big);
  settle();
  rows.push_back({"open its run of " + std::to_string(big_points) + " points: charts shown (ms)", msSince(t0), kOpenTargetMs});

  t0 = Clock::now();
  window.tabs()->setCurrentWidget(window.resultsView());
  settle();
  rows.push_back({"then the Results tab: table shown (ms)", msSince(t0), kOpenTargetMs});
  if (window.resultsView()->model()->rowCount() != big_points) std::fprintf(stderr, "warning: table incomplete\n");
}

int intFlag(int argc, char** argv, const char* flag, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

const char* stringFlag(int argc, char** argv, const char* flag) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0) return argv[i + 1];
  }
  return nullptr;
}

}  // namespace

// The icon lives in the UI library's resources.
static void initResources() { Q_INIT_RESOURCE(attnbench); }

int main(int argc, char** argv) {
  if (const char* file = stringFlag(argc, argv, "--emit")) {
    return emitEvents(file, intFlag(argc, argv, "--interval-us", 0));
  }
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  initResources();
  QApplication::setOrganizationName(QStringLiteral("attnbench-bench"));
  QApplication::setApplicationName(QStringLiteral("attnbench_ui_bench"));

  const int stream_points = intFlag(argc, argv, "--stream-points", 2000);
  const int db_points = intFlag(argc, argv, "--db-points", 10000);
  std::vector<long> intervals = {0, 1000};
  if (const char* list = stringFlag(argc, argv, "--interval-us")) {
    intervals.clear();
    for (const QString& v : QString::fromLatin1(list).split(QLatin1Char(','))) intervals.push_back(v.toLong());
  }
  QTemporaryDir tmp;
  QString dir = tmp.path();
  if (const char* keep = stringFlag(argc, argv, "--keep")) dir = QString::fromLocal8Bit(keep);

  std::vector<Row> rows;
  for (long interval : intervals) streamScenario(dir, stream_points, interval, rows);
  databaseScenario(dir, db_points, rows);

  std::printf("\n%-92s %10s %8s  %s\n", "measurement", "value", "target", "result");
  bool all = true;
  for (const Row& r : rows) {
    if (r.target <= 0) {
      std::printf("%-92s %10.1f %8s\n", r.what.c_str(), r.value, "");
      continue;
    }
    const bool pass = r.value <= r.target;
    all = all && pass;
    std::printf("%-92s %10.1f %8.0f  %s\n", r.what.c_str(), r.value, r.target, pass ? "PASS" : "FAIL");
  }
  return all ? 0 : 1;
}
