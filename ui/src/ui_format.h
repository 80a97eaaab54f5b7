// Small conversions between core's types and Qt's, and the number formats the widgets share.
#pragma once

#include <cstdint>
#include <string>

#include <QString>

#include "attnbench/results.h"
#include "attnbench/store.h"

namespace attnbench::ui {

inline QString qs(const std::string& s) { return QString::fromStdString(s); }

QString formatMs(double ms);             // "0.412 ms", "12.3 ms", "1.52 s"
QString formatByteCount(std::uint64_t);  // "1.50 GiB" (core's formatBytes), "—" for 0
QString formatTflops(double tflops);     // "12.4"
QString formatEta(double seconds);       // "3 s", "2 min 05 s", "1 h 02 min"

// "Llama-2-7B" when one model, "Llama-2-7B + 2 more" when several.
QString modelsSummary(const SweepSpec& spec);
// "#12 sweep — cpu, completed"
QString runTitle(const RunRecord& run);
// ISO 8601 UTC from the store, shown in local time ("2026-11-25 14:45").
QString localTime(const std::string& iso);

}  // namespace attnbench::ui
