#include "worker_client.h"

#include <stdexcept>
#include <variant>

#include <QCoreApplication>
#include <QFile>
#include <QTemporaryDir>

#include "ui_format.h"

namespace attnbench::ui {

void registerRunEventType() { qRegisterMetaType<RunEvent>(); }

EventLineReader::Line EventLineReader::parse(QByteArray text) {
  if (text.endsWith('\r')) text.chop(1);
  Line line;
  line.text = text;
  if (!text.trimmed().startsWith('{')) return line;
  const nlohmann::json j = nlohmann::json::parse(text.constBegin(), text.constEnd(), nullptr, false);
  try {
    if (j.is_discarded()) throw std::runtime_error("not valid JSON");
    line.event = eventFromJson(j);
  } catch (const std::exception& e) {
    line.event = NoteEvent{"warning", "unreadable event (" + std::string(e.what()) + "): " +
                                          QString::fromUtf8(text).left(200).toStdString()};
  }
  return line;
}

std::vector<EventLineReader::Line> EventLineReader::feed(const QByteArray& chunk) {
  std::vector<Line> lines;
  qsizetype begin = 0;
  for (qsizetype nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', begin)) {
    pending_.append(chunk.constData() + begin, nl - begin);
    if (!pending_.isEmpty()) lines.push_back(parse(std::exchange(pending_, {})));
    begin = nl + 1;
  }
  pending_.append(chunk.constData() + begin, chunk.size() - begin);
  return lines;
}

std::vector<EventLineReader::Line> EventLineReader::finish() {
  std::vector<Line> lines;
  if (!pending_.trimmed().isEmpty()) lines.push_back(parse(std::exchange(pending_, {})));
  pending_.clear();
  return lines;
}

WorkerClient::WorkerClient(QObject* parent) : QObject(parent) {
  registerRunEventType();
  kill_timer_.setSingleShot(true);
  connect(&kill_timer_, &QTimer::timeout, this, [this] {
    if (isRunning()) {
      Q_EMIT outputLine(QStringLiteral("worker did not stop within %1 s: killed").arg(grace_ms_ / 1000.0));
      process_->kill();
    }
  });
}

WorkerClient::~WorkerClient() {
  if (isRunning()) {
    process_->disconnect(this);
    process_->kill();
    process_->waitForFinished(2000);
  }
}

void WorkerClient::setProgram(const QString& program, const QStringList& leading_args) {
  program_ = program;
  leading_args_ = leading_args;
}

bool WorkerClient::isRunning() const {
  return process_ != nullptr && process_->state() != QProcess::NotRunning;
}

bool WorkerClient::startRun(const SweepSpec& spec, const QString& db, QString* error) {
  if (isRunning()) {
    *error = QStringLiteral("a run is in progress");
    return false;
  }
  spec_dir_ = std::make_unique<QTemporaryDir>();
  const QString spec_path = spec_dir_->filePath(QStringLiteral("sweep.json"));
  QFile file(spec_path);
  if (!spec_dir_->isValid() || !file.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    *error = QStringLiteral("cannot write the sweep file %1").arg(spec_path);
    return false;
  }
  file.write(QByteArray::fromStdString(specToJson(spec).dump(2)));
  file.close();
  run_id_ = 0;
  return launch({QStringLiteral("--spec"), spec_path, QStringLiteral("--db"), db}, error);
}

bool WorkerClient::resumeRun(std::int64_t run_id, const QString& db, QString* error) {
  if (isRunning()) {
    *error = QStringLiteral("a run is in progress");
    return false;
  }
  run_id_ = run_id;
  return launch({QStringLiteral("--resume"), QString::number(run_id), QStringLiteral("--db"), db}, error);
}

bool WorkerClient::launch(const QStringList& batch_args, QString* error) {
  delete process_;
  process_ = new QProcess(this);
  stdout_reader_ = {};
  stderr_pending_.clear();
  saw_run_finished_ = false;
  cancel_requested_ = false;
  connect(process_, &QProcess::readyReadStandardOutput, this, &WorkerClient::readStdout);
  connect(process_, &QProcess::readyReadStandardError, this, &WorkerClient::readStderr);
  connect(process_, &QProcess::finished, this, &WorkerClient::onFinished);
  connect(process_, &QProcess::started, this, &WorkerClient::started);

  const QString program = program_.isEmpty() ? QCoreApplication::applicationFilePath() : program_;
  arguments_ = leading_args_;
  arguments_ << QStringLiteral("--batch") << batch_args
             << QStringList{QStringLiteral("--events"), QStringLiteral("jsonl"), QStringLiteral("--no-progress")};
  process_->start(program, arguments_);
  if (!process_->waitForStarted(10000)) {
    *error = QStringLiteral("cannot start the worker %1: %2").arg(program, process_->errorString());
    return false;
  }
  return true;
}

void WorkerClient::cancel() {
  if (!isRunning() || cancel_requested_) return;
  cancel_requested_ = true;
  process_->terminate();
  kill_timer_.start(grace_ms_);
}

void WorkerClient::shutdown() {
  if (process_ == nullptr || process_->state() == QProcess::NotRunning) return;
  cancel();
  if (!process_->waitForFinished(grace_ms_)) {
    process_->kill();
    process_->waitForFinished(2000);
  }
}

void WorkerClient::deliver(const std::vector<EventLineReader::Line>& lines) {
  for (const EventLineReader::Line& line : lines) {
    if (!line.event) {
      Q_EMIT outputLine(QString::fromUtf8(line.text));
      continue;
    }
    if (const auto* started = std::get_if<RunStartedEvent>(&*line.event)) run_id_ = started->run_id;
    if (std::holds_alternative<RunFinishedEvent>(*line.event)) saw_run_finished_ = true;
    Q_EMIT eventReceived(*line.event);
  }
}

void WorkerClient::readStdout() { deliver(stdout_reader_.feed(process_->readAllStandardOutput())); }

void WorkerClient::readStderr() {
  stderr_pending_.append(process_->readAllStandardError());
  qsizetype nl;
  while ((nl = stderr_pending_.indexOf('\n')) >= 0) {
    // Trailing blanks only: leading ones align the columns of the worker's summary table.
    QString line = QString::fromUtf8(stderr_pending_.left(nl));
    stderr_pending_.remove(0, nl + 1);
    while (!line.isEmpty() && line.back().isSpace()) line.chop(1);
    if (!line.isEmpty()) Q_EMIT outputLine(line);
  }
}

void WorkerClient::onFinished(int exit_code, QProcess::ExitStatus status) {
  kill_timer_.stop();
  readStderr();
  if (!stderr_pending_.trimmed().isEmpty()) Q_EMIT outputLine(QString::fromUtf8(stderr_pending_.trimmed()));
  stderr_pending_.clear();
  auto lines = stdout_reader_.feed(process_->readAllStandardOutput());
  for (auto& line : stdout_reader_.finish()) lines.push_back(std::move(line));
  deliver(lines);
  const bool abnormal = status == QProcess::CrashExit || exit_code != 0;
  const bool crashed = abnormal && !saw_run_finished_ && !cancel_requested_;
  spec_dir_.reset();
  Q_EMIT finished(exit_code, crashed, cancel_requested_);
}

}  // namespace attnbench::ui
