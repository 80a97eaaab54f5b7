// Runs a sweep in a worker process (the same binary in batch mode) and turns its stdout into typed
// events, each line decoded once by core's eventFromJson. A kernel fault or a hung device takes the
// worker down, never the window. Events are handed on as they are read (a read is at most a pipe's
// worth of lines); the views are refreshed on RunData's one timer, not per event.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QStringList>
#include <QTimer>

#include "attnbench/sweep_spec.h"
#include "run_event.h"

class QTemporaryDir;

namespace attnbench::ui {

// Splits a byte stream into lines and decodes each complete line as an event, keeping the partial
// tail for the next chunk, so a large stream costs time per line, never per whole buffer. A line that
// looks like an object ('{') but is not valid JSON or not a valid event becomes a warning note
// naming what is wrong; any other line is plain output.
class EventLineReader {
 public:
  struct Line {
    std::optional<RunEvent> event;  // empty for plain output
    QByteArray text;                // the raw line (for the log when it is plain output)
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

  // True from the start until the process ended (`finished` is emitted then).
  bool isRunning() const;
  std::int64_t currentRunId() const { return run_id_; }
  QStringList lastArguments() const { return arguments_; }

 Q_SIGNALS:
  void eventReceived(const attnbench::RunEvent& event);
  void outputLine(const QString& line);  // stderr, or stdout lines that are not events
  void started();
  // crashed: ended without run_finished and not because of a cancel (resume may be offered).
  void finished(int exit_code, bool crashed, bool cancelled);

 private:
  bool launch(const QStringList& batch_args, QString* error);
  void readStdout();
  void readStderr();
  void deliver(const std::vector<EventLineReader::Line>& lines);
  void onFinished(int exit_code, QProcess::ExitStatus status);

  QProcess* process_ = nullptr;
  QTimer kill_timer_;
  EventLineReader stdout_reader_;
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
