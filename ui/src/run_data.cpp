#include "run_data.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>
#include <variant>

#include "ui_format.h"

namespace attnbench::ui {

RunData::RunData(QObject* parent) : QObject(parent) {
  registerRunEventType();
  refresh_timer_.setSingleShot(true);
  connect(&refresh_timer_, &QTimer::timeout, this, [this] { refresh(kMaxRowsPerRefresh); });
}

void RunData::reset(RunRecord run, std::vector<PointResult> points) {
  run_ = std::move(run);
  points_ = std::move(points);
  row_of_index_.clear();
  for (std::size_t row = 0; row < points_.size(); ++row) {
    row_of_index_[points_[row].point.index] = static_cast<int>(row);
  }
  done_ = static_cast<int>(points_.size());
  done_at_start_ = done_;
  live_ = false;
  // The views rebuild from points(): nothing left to tell them.
  refresh_timer_.stop();
  changed_rows_.clear();
  progress_dirty_ = false;
  Q_EMIT runReset();
  Q_EMIT progressChanged(done_, run_.total_points);
}

void RunData::addPoint(PointResult result) {
  const int index = result.point.index;
  if (auto it = row_of_index_.find(index); it != row_of_index_.end()) {
    points_[static_cast<std::size_t>(it->second)] = std::move(result);
    changed_rows_.insert(it->second);
  } else {
    const int row = static_cast<int>(points_.size());
    points_.push_back(std::move(result));
    row_of_index_[index] = row;
    changed_rows_.insert(row);
  }
  scheduleUpdate();
}

void RunData::scheduleUpdate() {
  if (refresh_timer_.isActive()) return;
  const qint64 since = since_refresh_.isValid() ? since_refresh_.elapsed() : kRefreshMs;
  if (since >= kRefreshMs) {
    refresh(kMaxRowsPerRefresh);
  } else {
    refresh_timer_.start(static_cast<int>(kRefreshMs - since));
  }
}

void RunData::flushUpdates() { refresh(std::numeric_limits<int>::max()); }

void RunData::refresh(int max_rows) {
  refresh_timer_.stop();
  since_refresh_.start();
  if (!changed_rows_.empty()) {
    // A backlog (a fast sweep, a burst read at once) goes out max_rows at a time, the rest after the
    // event loop has painted and taken input.
    auto end = changed_rows_.begin();
    for (int n = 0; end != changed_rows_.end() && n < max_rows; ++n) ++end;
    const QList<int> rows(changed_rows_.begin(), end);
    changed_rows_.erase(changed_rows_.begin(), end);
    if (!changed_rows_.empty()) refresh_timer_.start(0);
    Q_EMIT pointsUpdated(rows);
  }
  if (std::exchange(progress_dirty_, false)) Q_EMIT progressChanged(done_, run_.total_points);
}

QString RunData::pointsPerWorker() const {
  std::map<std::string, int> counts;
  for (const auto& p : points_) {
    if (!p.worker.empty()) ++counts[p.worker];
  }
  QStringList parts;
  for (const auto& [worker, count] : counts) parts << QStringLiteral("%1 %2").arg(qs(worker)).arg(count);
  return parts.join(QStringLiteral(" · "));
}

double RunData::etaSeconds() const {
  if (!live_ || !eta_ || !clock_.isValid()) return -1.0;
  return eta_->remainingSeconds(static_cast<double>(clock_.elapsed()) / 1000.0).value_or(-1.0);
}

void RunData::applyEvent(const RunEvent& event) {
  std::visit(Overloaded{
                 [this](const RunStartedEvent& e) { apply(e); },
                 [this](const PointStartedEvent& e) { Q_EMIT pointStarted(qs(e.point.label())); },
                 [this](const PointFinishedEvent& e) { apply(e); },
                 [this](const NoteEvent& e) { Q_EMIT note(qs(e.level), qs(e.message)); },
                 [this](const RunFinishedEvent& e) { apply(e); },
             },
             event);
}

void RunData::apply(const RunStartedEvent& e) {
  RunRecord run;
  run.id = e.run_id;
  run.name = e.name;
  run.total_points = e.total_points;
  run.status = RunStatus::Running;
  run.started_at = isoTimestampNow();
  run.device = e.device;
  run.provenance = e.provenance;
  bool has_spec = false;  // a readable spec: the curves are set up and the ETA predicted from it
  if (e.spec.is_object() && !e.spec.empty()) {
    try {
      run.spec = specFromJson(e.spec);
      run.spec_json = e.spec;
      has_spec = true;
    } catch (const std::exception& error) {
      Q_EMIT note(QStringLiteral("warning"), QStringLiteral("the run's sweep spec is unreadable: %1").arg(QString::fromUtf8(error.what())));
    }
  }
  std::vector<PointResult> earlier;
  if (e.resumed && earlierPoints) earlier = earlierPoints(run.id);
  run.finished_points = static_cast<int>(earlier.size());
  reset(std::move(run), std::move(earlier));
  done_ = std::max(done_, e.done_points);
  done_at_start_ = done_;
  live_ = true;
  clock_.start();
  eta_.reset();
  if (has_spec) {
    eta_ = std::make_unique<SweepEta>(run_.spec, run_.device);
    std::vector<int> recorded;
    for (const PointResult& p : points_) recorded.push_back(p.point.index);
    eta_->start(0.0, recorded);
  }
  Q_EMIT runStarted();
  Q_EMIT progressChanged(done_, run_.total_points);
}

void RunData::apply(const PointFinishedEvent& e) {
  done_ = e.done;
  run_.total_points = e.total;
  run_.finished_points = done_;
  if (eta_ && clock_.isValid()) eta_->pointFinished(e.result.point.index, static_cast<double>(clock_.elapsed()) / 1000.0);
  progress_dirty_ = true;
  addPoint(e.result);
}

void RunData::apply(const RunFinishedEvent& e) {
  run_.status = e.status;
  run_.finished_at = isoTimestampNow();
  live_ = false;
  flushUpdates();  // the views are complete before the run is reported finished
  Q_EMIT runFinished(qs(runStatusName(e.status)));
}

}  // namespace attnbench::ui
