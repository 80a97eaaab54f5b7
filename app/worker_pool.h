// One sweep over several worker processes of one host (--gpus, --workers; docs/CLUSTER.md): the parent
// hands out points by predicted cost, records every result and is the only writer of the database; each
// worker is this executable in worker mode (--pool-worker), pinned to its device by its environment,
// and answers in the event stream's JSON lines (docs/EVENTS.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "attnbench/device_info.h"
#include "attnbench/runner.h"
#include "attnbench/store.h"
#include "attnbench/sweep_spec.h"

namespace attnbench::cli {

struct PoolFlags {
  std::string gpus;            // --gpus all|0,1,3
  std::optional<int> workers;  // --workers N (CPU)
  std::optional<double> point_timeout_s;  // --point-timeout S: a worker longer on one point is killed
};

// --gpus, --workers and --point-timeout, in `group`.
void addPoolOptions(CLI::App& app, PoolFlags& flags, const std::string& group);

// One worker process of a pool.
struct WorkerSlot {
  std::string label;      // "gpu3", "worker1": the points' `worker` field and the provenance prefix
  int device_index = -1;  // the GPU index --gpus named; -1 for a CPU worker
  std::string device;     // the device the worker opens: "cuda:0" (the one GPU it sees) or "cpu"
  DeviceInfo expected;    // the device as the parent lists it: its fingerprint finds cached ceilings
  std::map<std::string, std::string> env;  // set in the worker's environment (CUDA_VISIBLE_DEVICES)
};

// The workers `flags` ask for, for a sweep on `device`; empty for a run in this process. InputError for
// --gpus with a CPU device or a GPU that does not exist, --workers with a GPU device, both flags, or a
// --point-timeout out of range or without either.
std::vector<WorkerSlot> poolSlots(const PoolFlags& flags, const std::string& device);

// Runs a new run of `spec` (resume_run 0) or the points of run `resume_run` still to measure, over one
// worker per slot. Events go to `sink` (notes too: a worker restarted or dropped). A worker still on
// one point after `point_timeout_s` is killed and restarted, the point recorded as an error (not
// retried: it would likely hang again; --resume runs it). `stop` (a signal) stops the workers and
// leaves the run interrupted. DeviceFault when no worker is left with points
// still to run (the run is marked failed; the completed points are kept).
RunOutcome runPool(Store& store, const SweepSpec& spec, std::int64_t resume_run, const std::vector<WorkerSlot>& worker_slots,
                   std::optional<double> point_timeout_s, const EventSink& sink, const std::atomic<bool>& stop);

// The worker's side: `attnbench --pool-worker LABEL`. Reads the parent's requests on stdin, answers on
// stdout; returns the exit code.
int runPoolWorker(const std::string& label);

}  // namespace attnbench::cli
