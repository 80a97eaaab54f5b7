#include "progress.h"

namespace attnbench {
namespace {

std::string formatDuration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

}  // namespace

void ProgressBar::onEvent(const nlohmann::json& e) {
  const std::string kind = e.value("event", "");
  if (kind == "run_started") {
    total_ = e.value("total_points", 0);
    done_ = done_at_start_ = e.value("done_points", 0);
    started_ = std::chrono::steady_clock::now();
    draw("");
  } else if (kind == "point_started") {
    draw(e.value("label", ""));
  } else if (kind == "point_finished") {
    done_ = e.value("done", done_);
    const auto& r = e.at("result");
    const std::string status = r.value("status", "");
    if (status != "ok") {
      // Keep non-ok points visible above the bar.
      std::fprintf(out_, "\r\033[K  point %d: %s: %s\n", e.value("index", 0), status.c_str(),
                   r.value("message", "").c_str());
    }
    draw("");
  } else if (kind == "note") {
    std::fprintf(out_, "\r\033[K%s: %s\n", e.value("level", "info").c_str(), e.value("message", "").c_str());
  } else if (kind == "run_finished") {
    std::fprintf(out_, "\r\033[K");
  }
  std::fflush(out_);
}

void ProgressBar::draw(const std::string& label) {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? done_ * kWidth / total_ : 0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::string eta = "--";
  const int ran = done_ - done_at_start_;
  if (ran > 0) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    eta = formatDuration(elapsed / ran * (total_ - done_));
  }
  std::fprintf(out_, "\r\033[K[%s] %d/%d ETA %s  %s", bar.c_str(), done_, total_, eta.c_str(), label.c_str());
}

}  // namespace attnbench
