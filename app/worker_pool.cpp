#include "worker_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "attnbench/backend.h"
#include "attnbench/errors.h"
#include "attnbench/events.h"
#include "attnbench/provenance.h"
#include "attnbench/ranks.h"
#include "cli.h"

namespace attnbench::cli {
namespace {

// A worker that dies is started again this many times; after that (or when it dies before it is ready)
// its device is dropped from the pool.
constexpr int kRestartsPerSlot = 2;
// How long a stopped worker may take to exit before it is killed.
constexpr auto kExitGrace = std::chrono::seconds(10);
// Test hook, read by workers: "INDEX" makes a worker handed point INDEX kill itself with SIGKILL (as the
// OOM killer would); "INDEX:FILE" does so only in the worker that first creates FILE.
constexpr const char* kAbortHook = "ATTNBENCH_TEST_WORKER_ABORT";
// Test hook, read by workers: "INDEX" makes a worker handed point INDEX stop answering (as a hung
// kernel would), for --point-timeout.
constexpr const char* kHangHook = "ATTNBENCH_TEST_WORKER_HANG";

// "90 s", "2.5 s".
std::string secondsText(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", seconds);
  return text;
}

// ---- the worker's side ----------------------------------------------------------------------------

std::atomic<bool> g_worker_stop{false};
extern "C" void onWorkerStop(int) { g_worker_stop.store(true); }

void writeLine(const nlohmann::json& j) {
  std::fputs(j.dump().c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void abortIfHooked(int index) {
  const char* hook = std::getenv(kAbortHook);
  if (hook == nullptr) return;
  const std::string value = hook;
  const auto colon = value.find(':');
  if (std::atoi(value.substr(0, colon).c_str()) != index) return;
  if (colon != std::string::npos) {
    const int fd = ::open(value.substr(colon + 1).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return;  // another worker has died on it already
    ::close(fd);
  }
  std::raise(SIGKILL);
}

void hangIfHooked(int index) {
  const char* hook = std::getenv(kHangHook);
  if (hook == nullptr || std::atoi(hook) != index) return;
  for (;;) ::pause();  // only a signal that ends the process gets it out
}

nlohmann::json parseRequest(const std::string& line) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("pool worker: a request that is not JSON: ") + e.what());
  }
}

// The device's name with its PCI bus id where the backend reports one.
std::string deviceLabel(const DeviceInfo& device) {
  const auto bus = device.properties.find("pci_bus_id");
  if (bus == device.properties.end() || !bus->is_string()) return device.name;
  return device.name + " (" + bus->get<std::string>() + ")";
}

int serveRequests(const std::string& label) {
  std::string line;
  if (!std::getline(std::cin, line)) return kExitOk;  // the parent went away before the start
  const nlohmann::json start = parseRequest(line);
  const SweepSpec spec = specFromJson(start.at("spec"));
  std::string note;
  const std::unique_ptr<Backend> backend = makeBackend(start.at("device").get<std::string>(), &note);
  if (!note.empty()) writeLine(eventToJson(NoteEvent{"info", label + ": " + note}));
  const DeviceInfo expected = deviceInfoFromJson(start.at("expected"));
  Runner runner(*backend);
  runner.setCancelFlag(&g_worker_stop);
  // Ceilings the parent has cached are this device's only when the fingerprints agree.
  const bool same_device = backend->device().fingerprint == expected.fingerprint;
  const DeviceInfo device = runner.startWorker(spec, same_device ? expected.ceilings : std::nullopt);
  writeLine(eventToJson(RunStartedEvent{0, "", spec.name, 0, 0, false, device, specToJson(spec),
                                        collectProvenance(spec, *backend)}));

  const std::vector<SweepPoint> points = expandPoints(spec);
  while (std::getline(std::cin, line)) {
    const nlohmann::json request = parseRequest(line);
    const int index = request.at("index").get<int>();
    if (index < 0 || static_cast<std::size_t>(index) >= points.size()) {
      throw InputError("pool worker: no point #" + std::to_string(index) + " in the sweep");
    }
    std::optional<double> baseline_error;
    if (request.contains("baseline_error")) baseline_error = request.at("baseline_error").get<double>();
    abortIfHooked(index);
    hangIfHooked(index);
    const SweepPoint& point = points[static_cast<std::size_t>(index)];
    writeLine(eventToJson(PointStartedEvent{0, point}));
    double kernel_ms = 0;
    std::optional<PointResult> result;
    try {
      result = runner.runUnrecorded(spec, point, baseline_error, kernel_ms);
    } catch (const DeviceFault& e) {
      // The context is unusable: the point is reported as an error and this worker ends.
      const PointResult r = PointResult::started(point).finish(PointStatus::Error, std::string("device fault: ") + e.what());
      writeLine(eventToJson(PointFinishedEvent{0, 0, 0, r}));
      return kExitDeviceFault;
    }
    if (!result) return kExitInterrupted;  // stopped by the parent: the point is dropped
    nlohmann::json finished = eventToJson(PointFinishedEvent{0, 0, 0, *result});
    finished["kernel_ms"] = kernel_ms;
    writeLine(finished);
  }
  return kExitOk;
}

// ---- the parent's side ----------------------------------------------------------------------------

std::string selfExecutable() {
  std::vector<char> path(4096);
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) throw std::runtime_error("cannot find this executable (/proc/self/exe) to start workers");
  return std::string(path.data(), static_cast<std::size_t>(n));
}

// How a child ended, in words.
std::string exitReason(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

// Waits for `pid` up to `grace`, then kills it; its status.
int reap(pid_t pid, std::chrono::steady_clock::duration grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return status;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Points of one input seed (every kernel and tile of one shape), kept together on one worker so that
// flash is checked against the standard kernel's measured error, and inference logits against the
// standard kernel's, as in one process.
struct Group {
  std::deque<SweepPoint> points;  // in sweep order
  double cost = 0;
  std::string avoid;  // the worker that died on its first point: another one takes it when there is one
};

struct Worker {
  const WorkerSlot* slot = nullptr;
  pid_t pid = -1;
  int to_worker = -1, from_worker = -1;
  std::string buffer;  // read, not yet a whole line
  bool ready = false, dropped = false;
  int restarts = 0;
  DeviceInfo device;
  Provenance provenance;
  std::deque<SweepPoint> group;  // the rest of the group it works on
  std::optional<SweepPoint> current;
  std::chrono::steady_clock::time_point current_since;  // when `current` was handed out
  bool timed_out = false;  // killed for running `current` past the point time limit

  bool alive() const { return pid > 0; }
};

class Pool {
 public:
  Pool(Store& store, const SweepSpec& spec, const std::vector<WorkerSlot>& worker_slots,
       std::optional<double> point_timeout_s, const EventSink& sink, const std::atomic<bool>& stop)
      : store_(store), spec_(spec), point_timeout_s_(point_timeout_s), sink_(sink), stop_(stop), exe_(selfExecutable()) {
    for (const auto& slot : worker_slots) {
      workers_.emplace_back();
      workers_.back().slot = &slot;
    }
  }
  ~Pool() { stopWorkers(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  RunOutcome run(std::int64_t resume_run);

 private:
  void spawn(Worker& w);
  void send(Worker& w, const nlohmann::json& request);
  void startAll();
  void createOrResumeRun(std::int64_t resume_run, std::vector<SweepPoint>& points);
  void queueGroups(const std::vector<SweepPoint>& points);
  void dispatch(Worker& w);
  bool finished() const;
  bool anyLive() const;
  void pump();  // waits for output of the workers and handles it
  void handleLine(Worker& w, const std::string& line);
  void onReady(Worker& w, const RunStartedEvent& e);
  void onPointFinished(Worker& w, const nlohmann::json& line);
  void onDeath(Worker& w);
  void killOverdue();
  void record(const Worker& w, PointResult r);
  void note(const std::string& level, const std::string& message);
  void stopWorkers();
  std::optional<double> baselineFor(const SweepPoint& p) const;

  Store& store_;
  SweepSpec spec_;
  std::optional<double> point_timeout_s_;  // --point-timeout: a worker past it on one point is killed
  const EventSink& sink_;
  const std::atomic<bool>& stop_;
  std::string exe_;
  std::vector<Worker> workers_;
  std::deque<Group> queue_;
  std::map<int, std::vector<std::string>> deaths_;  // point index -> how its workers died
  std::map<std::uint64_t, double> baseline_errors_;  // input seed -> the standard kernel's measured error
  RunOutcome outcome_;
  std::int64_t run_id_ = 0;
  int total_ = 0;
  double kernel_ms_ = 0;
};

void Pool::note(const std::string& level, const std::string& message) {
  if (sink_) sink_(NoteEvent{level, message});
}

void Pool::spawn(Worker& w) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The pipes' other ends are close-on-exec: a worker holds only its own stdin and stdout.
    if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0) _exit(127);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a parent killed with -9 takes its workers with it
    std::signal(SIGPIPE, SIG_DFL);       // ignored in the parent; that would survive exec
    for (const auto& [name, value] : w.slot->env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execl(exe_.c_str(), exe_.c_str(), "--pool-worker", w.slot->label.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  w.pid = pid;
  w.to_worker = in[1];
  w.from_worker = out[0];
  w.buffer.clear();
  w.ready = false;
  DeviceInfo expected = w.slot->expected;
  expected.ceilings = store_.cachedCeilings(expected.fingerprint);
  send(w, {{"request", "start"},
           {"spec", specToJson(spec_)},
           {"device", w.slot->device},
           {"expected", deviceInfoToJson(expected)}});
}

void Pool::send(Worker& w, const nlohmann::json& request) {
  const std::string line = request.dump() + "\n";
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(w.to_worker, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a dead worker: its end of stdout tells, and onDeath handles it
    written += static_cast<std::size_t>(n);
  }
}

void Pool::startAll() {
  for (auto& w : workers_) spawn(w);
  // Every worker says it is ready (or dies) before the run is created: the run's device is the first
  // slot's, whichever answers first.
  const auto starting = [this] {
    return std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.alive() && !w.ready; });
  };
  while (starting() && !stop_.load()) pump();
}

void Pool::onReady(Worker& w, const RunStartedEvent& e) {
  w.ready = true;
  w.device = e.device;
  w.provenance = e.provenance;
  if (e.device.ceilings && !store_.cachedCeilings(e.device.fingerprint)) store_.cacheCeilings(e.device, *e.device.ceilings);
}

std::optional<double> Pool::baselineFor(const SweepPoint& p) const {
  if (p.kernel == KernelKind::Standard) return std::nullopt;
  const auto it = baseline_errors_.find(pointInputSeed(spec_.seed, p));
  return it == baseline_errors_.end() ? std::nullopt : std::optional<double>(it->second);
}

void Pool::createOrResumeRun(std::int64_t resume_run, std::vector<SweepPoint>& points) {
  const Worker* first = nullptr;
  for (const auto& w : workers_) {
    if (w.ready && first == nullptr) first = &w;
  }
  if (first == nullptr) {
    std::string why;
    for (const auto& w : workers_) why += (why.empty() ? "" : "; ") + w.slot->label + " did not start";
    throw DeviceFault("no worker started (" + why + ")");
  }
  // The run's provenance is the first worker's; every worker's own, with its device, is kept under its label.
  Provenance provenance = first->provenance;
  std::string labels;
  for (const auto& w : workers_) {
    if (!w.ready) continue;
    labels += (labels.empty() ? "" : ",") + w.slot->label;
    provenance.set(w.slot->label + ".device", deviceLabel(w.device));
    for (const auto& entry : w.provenance.entries()) provenance.set(w.slot->label + "." + entry.key, entry.value);
  }
  provenance.set("pool.workers", labels);
  std::vector<PointResult> earlier;
  if (resume_run != 0) {
    const RunRecord run = store_.requireRun(resume_run);
    points = pointsToResume(store_, run, earlier);
    run_id_ = resume_run;
    store_.addProvenance(run_id_, resumeChanges(run.provenance, provenance));
  } else {
    points = expandPoints(spec_);
    DeviceInfo device = first->device;
    run_id_ = store_.createRun(spec_, device, static_cast<int>(points.size()));
    store_.addProvenance(run_id_, provenance);
  }
  for (const auto& r : earlier) {  // a resumed run keeps its standard points' bars
    if (r.point.kernel == KernelKind::Standard && r.correctness && r.correctness->passed) {
      baseline_errors_[pointInputSeed(spec_.seed, r.point)] = r.correctness->max_abs_error;
    }
  }
  outcome_.run_id = run_id_;
  outcome_.results = std::move(earlier);
  total_ = static_cast<int>(points.size() + outcome_.results.size());
  if (sink_) {
    sink_(RunStartedEvent{run_id_, store_.path(), spec_.name, total_, static_cast<int>(outcome_.results.size()),
                          resume_run != 0, first->device, specToJson(spec_), store_.requireRun(run_id_).provenance});
  }
}

void Pool::queueGroups(const std::vector<SweepPoint>& points) {
  const std::vector<double> costs = nominalPointCosts(spec_, points);
  std::map<std::uint64_t, std::size_t> group_of_seed;
  std::vector<Group> groups;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto [it, added] = group_of_seed.try_emplace(pointInputSeed(spec_.seed, points[i]), groups.size());
    if (added) groups.emplace_back();
    Group& g = groups[it->second];
    g.points.push_back(points[i]);
    g.cost += costs[i];
  }
  // The most expensive first, so that the last points to finish are short ones; stable, so that the
  // order is the same for every run of a spec.
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.cost > b.cost; });
  queue_.assign(groups.begin(), groups.end());
}

void Pool::dispatch(Worker& w) {
  if (!w.alive() || !w.ready || w.current || stop_.load()) return;
  if (w.group.empty()) {
    const int others = static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [&](const Worker& o) {
      return &o != &w && !o.dropped;
    }));
    const auto next = std::find_if(queue_.begin(), queue_.end(), [&](const Group& g) {
      return g.avoid != w.slot->label || others == 0;
    });
    if (next == queue_.end()) return;
    w.group = std::move(next->points);
    queue_.erase(next);
  }
  w.current = w.group.front();
  w.current_since = std::chrono::steady_clock::now();
  w.group.pop_front();
  nlohmann::json request = {{"request", "point"}, {"index", w.current->index}};
  if (const std::optional<double> bar = baselineFor(*w.current)) request["baseline_error"] = *bar;
  send(w, request);
}

bool Pool::finished() const {
  if (!queue_.empty()) return false;
  return std::none_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.current || !w.group.empty(); });
}

bool Pool::anyLive() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.alive(); });
}

void Pool::pump() {
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;
  for (auto& w : workers_) {
    if (!w.alive()) continue;
    fds.push_back({w.from_worker, POLLIN, 0});
    owners.push_back(&w);
  }
  if (fds.empty()) return;
  // A short timeout: the stop flag is set by a signal handler, which poll does not always notice.
  if (::poll(fds.data(), fds.size(), 200) <= 0) return;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    Worker& w = *owners[i];
    char chunk[65536];
    const ssize_t n = ::read(w.from_worker, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      onDeath(w);
      continue;
    }
    w.buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto eol = w.buffer.find('\n'); eol != std::string::npos && w.alive(); eol = w.buffer.find('\n')) {
      const std::string line = w.buffer.substr(0, eol);
      w.buffer.erase(0, eol + 1);
      handleLine(w, line);
    }
  }
}

void Pool::handleLine(Worker& w, const std::string& line) {
  nlohmann::json j;
  RunEvent event;
  try {
    j = nlohmann::json::parse(line);
    event = eventFromJson(j);
  } catch (const std::exception& e) {
    // A worker that says something else is not one to trust with more points.
    note("warning", w.slot->label + ": not an event (" + e.what() + "); the worker is stopped");
    ::kill(w.pid, SIGKILL);
    return;
  }
  if (const auto* started = std::get_if<RunStartedEvent>(&event)) {
    onReady(w, *started);
  } else if (std::holds_alternative<PointStartedEvent>(event)) {
    if (w.current && sink_) sink_(PointStartedEvent{run_id_, *w.current});
  } else if (std::holds_alternative<PointFinishedEvent>(event)) {
    onPointFinished(w, j);
  } else if (const auto* n = std::get_if<NoteEvent>(&event)) {
    note(n->level, n->message);
  }
}

void Pool::record(const Worker& w, PointResult r) {
  r.worker = w.slot->label;
  r.device_index = w.slot->device_index;
  r.worker_device = deviceLabel(w.device);
  store_.recordPoint(run_id_, r);
  if (r.point.kernel == KernelKind::Standard && r.correctness && r.correctness->passed) {
    baseline_errors_[pointInputSeed(spec_.seed, r.point)] = r.correctness->max_abs_error;
  }
  outcome_.results.push_back(r);
  if (sink_) sink_(PointFinishedEvent{run_id_, static_cast<int>(outcome_.results.size()), total_, std::move(r)});
}

void Pool::onPointFinished(Worker& w, const nlohmann::json& line) {
  PointResult r = std::get<PointFinishedEvent>(eventFromJson(line)).result;
  if (!w.current || r.point.index != w.current->index) {
    note("warning", w.slot->label + ": a result for a point it was not given; the worker is stopped");
    ::kill(w.pid, SIGKILL);
    return;
  }
  r.point = *w.current;  // the parent's own point, whole (the stream carries its describing fields)
  kernel_ms_ += line.value("kernel_ms", 0.0);
  w.current.reset();
  record(w, std::move(r));
  dispatch(w);
}

void Pool::onDeath(Worker& w) {
  ::close(w.to_worker);
  ::close(w.from_worker);
  const std::string how = exitReason(reap(w.pid, kExitGrace));
  w.pid = -1;
  if (stop_.load()) return;
  // Its current point is retried once on another worker; with it, the rest of its group. A point
  // that ran past the time limit is not: it would most likely hang its next worker too.
  Group retry;
  retry.avoid = w.slot->label;
  if (w.current && w.timed_out) {
    const std::string why = "still running after " + secondsText(*point_timeout_s_) + " (--point-timeout): its worker " +
                            w.slot->label + " was killed; `--resume` runs it again";
    record(w, PointResult::started(*w.current).finish(PointStatus::Error, why));
    w.current.reset();
  }
  w.timed_out = false;
  if (w.current) {
    const SweepPoint point = *w.current;
    w.current.reset();
    auto& deaths = deaths_[point.index];
    deaths.push_back(w.slot->label + ": " + how);
    if (deaths.size() < 2) {
      retry.points.push_back(point);
    } else {
      std::string why = "its worker died twice running it (";
      for (std::size_t i = 0; i < deaths.size(); ++i) why += (i ? "; " : "") + deaths[i];
      record(w, PointResult::started(point).finish(PointStatus::Error, why + ")"));
    }
  }
  for (auto& p : w.group) retry.points.push_back(p);
  w.group.clear();
  if (!retry.points.empty()) queue_.push_front(std::move(retry));

  const std::string who = "worker " + w.slot->label + " (" + deviceLabel(w.slot->expected) + ")";
  if (!w.ready) {
    w.dropped = true;
    note("warning", who + " did not start (" + how + "): dropped from the pool");
  } else if (w.restarts < kRestartsPerSlot) {
    ++w.restarts;
    note("warning", who + " died (" + how + "): restarted (" + std::to_string(w.restarts) + " of " +
                        std::to_string(kRestartsPerSlot) + " restarts)");
    spawn(w);
  } else {
    w.dropped = true;
    note("warning", who + " died (" + how + ") after " + std::to_string(kRestartsPerSlot) +
                        " restarts: dropped from the pool");
  }
  for (auto& other : workers_) dispatch(other);
}

void Pool::killOverdue() {
  if (!point_timeout_s_) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& w : workers_) {
    if (!w.alive() || !w.current || w.timed_out) continue;
    if (std::chrono::duration<double>(now - w.current_since).count() < *point_timeout_s_) continue;
    note("warning", w.slot->label + ": point " + std::to_string(w.current->index) + " still running after " +
                        secondsText(*point_timeout_s_) + " (--point-timeout): the worker is killed");
    w.timed_out = true;
    ::kill(w.pid, SIGKILL);  // its pipe closes, and pump() takes it from there (onDeath)
  }
}

void Pool::stopWorkers() {
  for (auto& w : workers_) {
    if (!w.alive()) continue;
    ::kill(w.pid, SIGTERM);  // a worker drops its point at the next sample
    ::close(w.to_worker);
  }
  for (auto& w : workers_) {
    if (!w.alive()) continue;
    reap(w.pid, kExitGrace);
    ::close(w.from_worker);
    w.pid = -1;
  }
}

RunOutcome Pool::run(std::int64_t resume_run) {
  if (resume_run != 0) store_.claimRun(resume_run);  // refuses a run that a live process is measuring
  const auto t0 = std::chrono::steady_clock::now();
  startAll();
  std::vector<SweepPoint> points;
  if (stop_.load() && resume_run == 0) {
    stopWorkers();
    throw InputError("interrupted before the workers were ready: no run was created");
  }
  createOrResumeRun(resume_run, points);
  queueGroups(points);
  for (auto& w : workers_) dispatch(w);

  RunStatus status = RunStatus::Completed;
  auto last_beat = std::chrono::steady_clock::now();
  try {
    while (!finished()) {
      if (stop_.load()) {
        status = RunStatus::Interrupted;
        break;
      }
      if (!anyLive()) {
        status = RunStatus::Failed;
        break;
      }
      pump();
      killOverdue();
      for (auto& w : workers_) dispatch(w);  // a worker restarted meanwhile has become ready
      if (std::chrono::steady_clock::now() - last_beat > std::chrono::seconds(Store::kHeartbeatSeconds)) {
        last_beat = std::chrono::steady_clock::now();
        try {
          store_.heartbeat(run_id_);
        } catch (const std::exception&) {
          // A missed beat is not the sweep's problem: this process's pid still says it is alive.
        }
      }
    }
  } catch (const StoreWriteError& e) {
    stopWorkers();
    try {
      store_.setRunStatus(run_id_, RunStatus::Interrupted);
    } catch (const std::exception&) {
    }
    const std::string id = std::to_string(run_id_);
    throw StoreWriteError(std::string(e.what()) + ". Run " + id + " stopped and reads as interrupted; once there is " +
                              "room, finish it with `attnbench --batch --resume " + id + " --db " + store_.path() + "`",
                          e.reason());
  }
  stopWorkers();  // after the last point: their stdin closes and they exit
  std::sort(outcome_.results.begin(), outcome_.results.end(),
            [](const PointResult& a, const PointResult& b) { return a.point.index < b.point.index; });
  outcome_.status = status;
  outcome_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  outcome_.kernel_seconds = kernel_ms_ / 1e3;
  store_.setRunStatus(run_id_, status);
  std::map<std::string, int> counts;
  for (const auto& r : outcome_.results) ++counts[statusName(r.status)];
  if (sink_) sink_(RunFinishedEvent{run_id_, status, counts, outcome_.wall_seconds, outcome_.kernel_seconds});
  if (status == RunStatus::Failed) {
    throw DeviceFault("every worker of the pool died or was dropped with points still to run");
  }
  return outcome_;
}

// "all" or "0,1,3" -> the GPU indices, each once, in the order given.
std::vector<int> parseGpuList(const std::string& gpus, int visible) {
  std::vector<int> out;
  if (gpus == "all") {
    for (int i = 0; i < visible; ++i) out.push_back(i);
    return out;
  }
  std::stringstream ss(gpus);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const bool digits = !part.empty() && part.size() < 6 &&
                        std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits) throw InputError("--gpus: '" + part + "' is not a GPU index (all, or a list such as 0,1,3)");
    const int index = std::stoi(part);
    if (index >= visible) {
      throw InputError("--gpus: GPU " + part + " does not exist (" + std::to_string(visible) + " visible" +
                       (visible > 0 ? ": 0.." + std::to_string(visible - 1) : "") + ")");
    }
    if (std::find(out.begin(), out.end(), index) != out.end()) throw InputError("--gpus: GPU " + part + " is listed twice");
    out.push_back(index);
  }
  if (out.empty()) throw InputError("--gpus: the list is empty");
  return out;
}

// The CUDA_VISIBLE_DEVICES value that shows a worker only GPU `index` as this process numbers it: the
// index-th entry of this process's own CUDA_VISIBLE_DEVICES when that is set.
std::string visibleDeviceFor(int index) {
  const char* own = std::getenv("CUDA_VISIBLE_DEVICES");
  if (own == nullptr || *own == '\0') return std::to_string(index);
  std::stringstream ss(own);
  std::string entry;
  for (int i = 0; std::getline(ss, entry, ','); ++i) {
    if (i == index) return entry;
  }
  return std::to_string(index);
}

std::vector<WorkerSlot> gpuSlots(const std::string& gpus, const std::string& device) {
  const std::string d = device.empty() ? "auto" : device;
  if (d == "cpu") throw InputError("--gpus runs CUDA workers, but the sweep's device is cpu (--workers N runs CPU workers)");
  if (d != "auto" && d != "cuda") throw InputError("--gpus picks the GPUs: drop --device " + d);
  std::vector<DeviceInfo> listed;
  for (auto& info : listDevices()) {
    if (info.kind == "cuda") listed.push_back(std::move(info));
  }
  if (listed.empty()) throw InputError("--gpus: no CUDA device is visible");
  std::vector<WorkerSlot> worker_slots;
  for (const int index : parseGpuList(gpus, static_cast<int>(listed.size()))) {
    WorkerSlot slot;
    slot.label = "gpu" + std::to_string(index);
    slot.device_index = index;
    slot.device = "cuda:0";
    slot.expected = listed[static_cast<std::size_t>(index)];
    slot.env["CUDA_VISIBLE_DEVICES"] = visibleDeviceFor(index);
    worker_slots.push_back(std::move(slot));
  }
  return worker_slots;
}

std::vector<WorkerSlot> cpuSlots(int count, const std::string& device) {
  if (device != "cpu") throw InputError("--workers runs CPU workers: add --device cpu (--gpus N,M runs GPU workers)");
  if (count < 1 || count > 64) throw InputError("--workers must be 1 to 64");
  std::vector<WorkerSlot> worker_slots;
  const DeviceInfo cpu = describeHostCpu();
  for (int i = 0; i < count; ++i) worker_slots.push_back({"worker" + std::to_string(i), -1, "cpu", cpu, {}});
  return worker_slots;
}

}  // namespace

void addPoolOptions(CLI::App& app, PoolFlags& flags, const std::string& group) {
  app.add_option("--gpus", flags.gpus,
                 "one worker process per GPU: all, or indices such as 0,1,3 (docs/CLUSTER.md); also with --resume")
      ->group(group);
  app.add_option("--workers", flags.workers,
                 "N worker processes on the CPU device (they share its cores: for trying the pool, not for timing)")
      ->group(group);
  app.add_option("--point-timeout", flags.point_timeout_s,
                 "with --gpus/--workers: a worker still on one point after this many seconds is killed, the point "
                 "recorded as an error (a hung GPU); default none")
      ->group(group);
}

std::vector<WorkerSlot> poolSlots(const PoolFlags& flags, const std::string& device) {
  if (!flags.gpus.empty() && flags.workers) throw InputError("give --gpus or --workers, not both");
  if (flags.point_timeout_s) {
    if (!(*flags.point_timeout_s > 0 && *flags.point_timeout_s <= 1e6)) {
      throw InputError("--point-timeout must be a number of seconds above 0 and at most 1e6");
    }
    if (flags.gpus.empty() && !flags.workers) {
      throw InputError("--point-timeout applies to worker processes: give it with --gpus or --workers");
    }
  }
  if (!flags.gpus.empty()) return gpuSlots(flags.gpus, device);
  if (flags.workers) return cpuSlots(*flags.workers, device);
  return {};
}

RunOutcome runPool(Store& store, const SweepSpec& spec, std::int64_t resume_run, const std::vector<WorkerSlot>& worker_slots,
                   std::optional<double> point_timeout_s, const EventSink& sink, const std::atomic<bool>& stop) {
  // A write to a worker that has just died must fail with EPIPE, not end the parent.
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  struct RestoreSigpipe {
    void (*handler)(int);
    ~RestoreSigpipe() { std::signal(SIGPIPE, handler); }
  } restore{previous};
  Pool pool(store, spec, worker_slots, point_timeout_s, sink, stop);
  return pool.run(resume_run);
}

int runPoolWorker(const std::string& label) {
  std::signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the whole process group: the parent decides
  std::signal(SIGTERM, onWorkerStop);
  try {
    return serveRequests(label);
  } catch (const InputError& e) {
    std::fprintf(stderr, "attnbench: %s: %s\n", label.c_str(), e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnbench: %s: error: %s\n", label.c_str(), e.what());
    return kExitFailedPoints;
  }
}

}  // namespace attnbench::cli
