#include "run_data.h"

#include "ui_format.h"

namespace attnbench::ui {

RunData::RunData(QObject* parent) : QObject(parent) {}

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
  Q_EMIT runReset();
  Q_EMIT progressChanged(done_, run_.total_points);
}

void RunData::addPoint(PointResult result) {
  const int index = result.point.index;
  if (auto it = row_of_index_.find(index); it != row_of_index_.end()) {
    points_[static_cast<std::size_t>(it->second)] = std::move(result);
    Q_EMIT pointReplaced(it->second);
    return;
  }
  const int row = static_cast<int>(points_.size());
  points_.push_back(std::move(result));
  row_of_index_[index] = row;
  Q_EMIT pointAdded(row);
}

double RunData::etaSeconds() const {
  if (!live_ || !eta_ || !clock_.isValid()) return -1.0;
  return eta_->remainingSeconds(static_cast<double>(clock_.elapsed()) / 1000.0).value_or(-1.0);
}

void RunData::applyEvent(const nlohmann::json& event) {
  try {
    const std::string kind = event.at("event").get<std::string>();
    if (kind == "run_started") {
      RunRecord run;
      run.id = event.at("run_id").get<std::int64_t>();
      run.name = event.value("name", std::string());
      run.total_points = event.value("total_points", 0);
      run.status = RunStatus::Running;
      run.started_at = isoTimestampNow();
      if (event.contains("device")) run.device = deviceInfoFromJson(event.at("device"));
      if (event.contains("spec")) {
        run.spec_json = event.at("spec");
        run.spec = specFromJson(run.spec_json);
      }
      std::vector<PointResult> earlier;
      if (event.value("resumed", false) && earlierPoints) earlier = earlierPoints(run.id);
      run.finished_points = static_cast<int>(earlier.size());
      reset(std::move(run), std::move(earlier));
      done_ = std::max(done_, event.value("done_points", 0));
      done_at_start_ = done_;
      live_ = true;
      clock_.start();
      eta_.reset();
      if (event.contains("spec")) {
        eta_ = std::make_unique<SweepEta>(run_.spec, run_.device);
        std::vector<int> recorded;
        for (const PointResult& p : points_) recorded.push_back(p.point.index);
        eta_->start(0.0, recorded);
      }
      Q_EMIT runStarted();
      Q_EMIT progressChanged(done_, run_.total_points);
    } else if (kind == "point_started") {
      Q_EMIT pointStarted(qs(event.value("label", std::string())));
    } else if (kind == "point_finished") {
      PointResult result = pointResultFromJson(event.at("result"));
      done_ = event.value("done", done_ + 1);
      if (event.contains("total")) run_.total_points = event.at("total").get<int>();
      run_.finished_points = done_;
      // One log line per finished point; a failed or skipped one as a warning.
      Q_EMIT note(result.status == PointStatus::Ok ? QStringLiteral("point") : QStringLiteral("warning"), pointLogLine(result));
      if (eta_ && clock_.isValid()) eta_->pointFinished(result.point.index, static_cast<double>(clock_.elapsed()) / 1000.0);
      addPoint(std::move(result));
      Q_EMIT progressChanged(done_, run_.total_points);
    } else if (kind == "note") {
      Q_EMIT note(qs(event.value("level", std::string("info"))), qs(event.value("message", std::string())));
    } else if (kind == "run_finished") {
      const std::string status = event.value("status", std::string("completed"));
      run_.status = parseRunStatus(status);
      run_.finished_at = isoTimestampNow();
      live_ = false;
      Q_EMIT runFinished(qs(status));
    }
    // Unknown events are ignored: the stream may grow new kinds.
  } catch (const std::exception& e) {
    Q_EMIT note(QStringLiteral("warning"), QStringLiteral("unreadable event (%1): %2")
                                               .arg(QString::fromUtf8(e.what()))
                                               .arg(qs(event.dump()).left(200)));
  }
}

}  // namespace attnbench::ui
