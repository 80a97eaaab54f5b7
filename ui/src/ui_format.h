// Small conversions between core's types and Qt's, and the number formats the widgets share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <QString>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench::ui {

inline QString qs(const std::string& s) { return QString::fromStdString(s); }

QString formatMs(double ms);             // "0.412 ms", "12.3 ms", "1.52 s"
QString formatByteCount(std::uint64_t);  // "1.50 GiB" (core's formatBytes), "—" for 0
QString formatTflops(double tflops);     // "12.4"
QString formatEta(double seconds);       // "3 s", "2 min 05 s", "1 h 02 min"
// The log level of a line the worker wrote to stderr: "error:" and "warning:" lines are errors and
// warnings, other lines plain worker output; empty for "note:" lines, which the event stream also
// carries (they are logged once, from the event).
QString workerLineLevel(const QString& line);
// One line of the log for a finished point: "llama-2-7b B=1 N=128 fp32 flash: 4.35 ms, 0.06 TFLOP/s".
QString pointLogLine(const PointResult& result);

// "Llama-2-7B" when one model, "Llama-2-7B + 2 more" when several.
QString modelsSummary(const SweepSpec& spec);
// "#12 sweep — cpu, completed"
QString runTitle(const RunRecord& run);
// The worker processes a run was spread over (--gpus, --workers), from its provenance: each worker's
// label ("gpu1") and its device's name without the PCI bus id ("NVIDIA H200"). Empty for a run of
// one process.
struct RunWorker {
  QString label;
  QString device;  // as the worker recorded it, with the bus id: "NVIDIA H200 (0000:00:07.0)"
  QString deviceName() const;
};
std::vector<RunWorker> runWorkers(const RunRecord& run);
// ISO 8601 UTC from the store, shown in local time ("2026-11-25 14:45").
QString localTime(const std::string& iso);

}  // namespace attnbench::ui
