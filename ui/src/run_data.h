// The run on screen: its record and points, filled from the worker's typed events (docs/EVENTS.md)
// or from the store. This is the one place where a fast stream is throttled: events update the data
// at once, and the views (charts, table, progress) are told what changed at most every kRefreshMs,
// in one pointsUpdated per refresh: the first change after a quiet spell at once, later ones at the
// end of the interval; a backlog at most kMaxRowsPerRefresh rows a refresh, one after the other with
// the event loop (paints, input) running between them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <QTimer>

#include "attnbench/cost_model.h"
#include "attnbench/results.h"
#include "attnbench/store.h"
#include "run_event.h"

namespace attnbench::ui {

class RunData : public QObject {
  Q_OBJECT
 public:
  explicit RunData(QObject* parent = nullptr);

  // Shows a stored run (history) or clears the view (empty record, no points).
  void reset(RunRecord run, std::vector<PointResult> points);

  // Applies one event of the stream (decoded by the worker client; a malformed line arrives as a
  // warning note).
  void applyEvent(const attnbench::RunEvent& event);
  // Tells the views now all that changed since the last refresh (tests, and at a run's end).
  void flushUpdates();
  static constexpr int kRefreshMs = 100;
  static constexpr int kMaxRowsPerRefresh = 200;
  // The run was renamed or annotated in the store.
  void setNameAndNote(std::string name, std::string note) {
    run_.name = std::move(name);
    run_.note = std::move(note);
  }
  // The stored record of the run on screen (host, version, times, status...), read back once the
  // worker has written them; the points stay.
  void setRecord(RunRecord record) {
    if (record.id == run_.id) run_ = std::move(record);
  }
  // Adds a finished point, or replaces the earlier record of the same index (resume).
  void addPoint(PointResult result);

  const RunRecord& run() const { return run_; }
  const std::vector<PointResult>& points() const { return points_; }
  bool hasRun() const { return run_.id != 0 || !points_.empty(); }
  int donePoints() const { return done_; }
  int totalPoints() const { return run_.total_points; }
  bool live() const { return live_; }
  // Points finished since this invocation's run_started (0 while the ETA is still a prediction).
  int finishedHere() const { return done_ - done_at_start_; }
  // Seconds to the end of the live run: the points left weighted by their predicted cost, at the pace
  // of this invocation's points (before the first, the prediction at the device's ceilings);
  // negative when unknown.
  double etaSeconds() const;
  // The points each worker has finished, for a run over several (--gpus): "gpu0 5 · gpu1 7", by label;
  // empty for a run of one process.
  QString pointsPerWorker() const;

  // Loads the points recorded before a resumed run_started (set by the window; may stay empty).
  std::function<std::vector<PointResult>(std::int64_t run_id)> earlierPoints;

 Q_SIGNALS:
  void runReset();                  // a new run (or none) replaces everything
  void runStarted();                // a worker's run began (after runReset)
  // The rows of points() added or replaced since the last refresh, ascending; rows at or beyond the
  // count a view already has are new.
  void pointsUpdated(const QList<int>& rows);
  void progressChanged(int done, int total);
  void pointStarted(const QString& label);
  void note(const QString& level, const QString& message);
  void runFinished(const QString& status);

 private:
  void apply(const RunStartedEvent& e);
  void apply(const PointFinishedEvent& e);
  void apply(const RunFinishedEvent& e);
  void scheduleUpdate();
  void refresh(int max_rows);  // hands the views up to max_rows changed rows and the progress

  RunRecord run_;
  std::vector<PointResult> points_;
  std::unordered_map<int, int> row_of_index_;
  int done_ = 0;
  int done_at_start_ = 0;  // points already recorded when this invocation began (resume)
  bool live_ = false;
  QElapsedTimer clock_;  // since this invocation's run_started
  std::unique_ptr<SweepEta> eta_;
  // The throttle: rows changed and progress moved since the last refresh, the timer of the next one,
  // and the time since the last.
  std::set<int> changed_rows_;
  bool progress_dirty_ = false;
  QTimer refresh_timer_;
  QElapsedTimer since_refresh_;
};

}  // namespace attnbench::ui
