// Runs a sweep in a worker process (the same binary in batch mode) and turns its stdout into events.
// A kernel fault or a hung device takes the worker down, never the window. Events are handed on in
// slices of at most kSliceMs, the rest on the next turn of the event loop, so a burst of output (a
// fast sweep, or a backlog read when the worker exits) never blocks the window for longer.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QStringList>
#include <QTimer>

#include <nlohmann/json.hpp>

#include "attnbench/sweep_spec.h"

class QTemporaryDir;

namespace attnbench::ui {

// Splits a byte stream into lines and parses each complete line as JSON, keeping the partial tail
// for the next chunk, so a large stream costs time per line, never per whole buffer.
class JsonLineReader {
 public:
  struct Line {
    std::optional<nlohmann::json> event;  // empty when the line was not JSON
    QByteArray text;                      // the raw line (for the log when not JSON)
  };
  std::vector<Line> feed(const QByteArray& chunk);
  // The unterminated rest, when the stream has ended.
  std::vector<Line> finish();

 private:
  static Line parse(QByteArray text);
  QByteArray pending_;
};

class WorkerClient : public QObject {
  Q_OBJECT
 public:
  explicit WorkerClient(QObject* parent = nullptr);
  ~WorkerClient() override;

  // The worker executable and arguments put before the batch flags. Defaults to this program
  // (QCoreApplication::applicationFilePath()); tests point it at a fake worker script.
  void setProgram(const QString& program, const QStringList& leading_args = {});
  // Time between terminate() and kill() when cancelling.
  void setGracePeriodMs(int ms) { grace_ms_ = ms; }

  // Start a sweep / resume a run in `db`. False (with `error`) when a worker is running already or
  // the spec file cannot be written.
  bool startRun(const SweepSpec& spec, const QString& db, QString* error);
  bool resumeRun(std::int64_t run_id, const QString& db, QString* error);
  // SIGTERM: the worker finishes the point in progress cleanly and marks the run interrupted;
  // killed when still alive after the grace period.
  void cancel();
  // Cancels and waits up to the grace period, then kills: for closing the window mid-run.
  void shutdown();

  // True from the start until `finished` was emitted (events may still be queued after the exit).
  bool isRunning() const;
  std::int64_t currentRunId() const { return run_id_; }
  QStringList lastArguments() const { return arguments_; }

  static constexpr int kSliceMs = 8;

 Q_SIGNALS:
  void eventReceived(const nlohmann::json& event);
  void outputLine(const QString& line);  // stderr, or stdout lines that are not events
  void started();
  // crashed: ended without run_finished and not because of a cancel (resume may be offered).
  void finished(int exit_code, bool crashed, bool cancelled);

 private:
  bool launch(const QStringList& batch_args, QString* error);
  void readStdout();
  void readStderr();
  void enqueue(std::vector<JsonLineReader::Line> lines);
  // Hands on queued lines for up to kSliceMs; emits `finished` once the queue is empty after the exit.
  void deliverQueued();
  void onFinished(int exit_code, QProcess::ExitStatus status);

  QProcess* process_ = nullptr;
  QTimer kill_timer_;
  JsonLineReader stdout_reader_;
  std::deque<JsonLineReader::Line> queue_;
  QTimer deliver_timer_;  // 0 ms: the next slice, after the pending paints and input
  bool exit_pending_ = false;  // the process ended; `finished` follows the queued lines
  int exit_code_ = 0;
  bool exit_abnormal_ = false;
  QByteArray stderr_pending_;
  QString program_;
  QStringList leading_args_;
  QStringList arguments_;
  std::unique_ptr<QTemporaryDir> spec_dir_;
  std::int64_t run_id_ = 0;
  bool saw_run_finished_ = false;
  bool cancel_requested_ = false;
  int grace_ms_ = 5000;
};

}  // namespace attnbench::ui
