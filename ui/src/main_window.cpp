#include "main_window.h"

#include <fstream>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextCursor>
#include <QTime>
#include <QHBoxLayout>
#include <QVBoxLayout>

#include "attnbench/backend.h"
#include "attnbench/cost_model.h"
#include "attnbench/errors.h"
#include "chart_export.h"
#include "chart_panel.h"
#include "compare_view.h"
#include "device_panel.h"
#include "file_dialogs.h"
#include "history_panel.h"
#include "results_model.h"
#include "roofline_view.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "ui_format.h"
#include "wheel_guard.h"
#include "winners_view.h"
#include "worker_client.h"

namespace attnbench::ui {

namespace {

QString what(const std::exception& e) { return QString::fromUtf8(e.what()); }

}  // namespace

MainWindow::MainWindow(MainWindowOptions options, QWidget* parent) : QMainWindow(parent), options_(std::move(options)) {
  setWindowTitle(QStringLiteral("attnbench"));
  setWindowIcon(QIcon(QStringLiteral(":/icons/attnbench.svg")));
  setObjectName(QStringLiteral("attnbenchMainWindow"));
  new WheelGuard(this);  // before any input is created and polished

  data_ = new RunData(this);
  data_->earlierPoints = [this](std::int64_t run_id) {
    try {
      return db_.isSet() ? db_.use([&](Store& s) { return s.loadPoints(run_id); }) : std::vector<PointResult>{};
    } catch (const std::exception& e) {
      appendLog(QStringLiteral("warning"), tr("cannot load the earlier points of run #%1: %2").arg(run_id).arg(what(e)));
      return std::vector<PointResult>{};
    }
  };
  worker_ = new WorkerClient(this);
  if (!options_.worker_program.isEmpty()) worker_->setProgram(options_.worker_program, options_.worker_args);
  worker_->setGracePeriodMs(options_.cancel_grace_ms);

  editor_ = new SweepEditor;
  charts_ = new ChartPanel(data_, nullptr, options_.use_settings);
  results_ = new ResultsView(data_);
  roofline_ = new RooflineView(data_);
  winners_ = new WinnersView(data_);
  compare_ = new CompareView;
  device_ = new DevicePanel;
  history_ = new HistoryPanel;
  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(5000);
  // Fixed font, no wrapping: the worker's summary table stays aligned.
  log_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  log_->setLineWrapMode(QPlainTextEdit::NoWrap);

  tabs_ = new QTabWidget;
  tabs_->addTab(charts_, tr("Charts"));
  tabs_->addTab(results_, tr("Results"));
  tabs_->addTab(roofline_, tr("Roofline"));
  tabs_->addTab(winners_, tr("Winners"));
  tabs_->addTab(compare_, tr("Compare"));
  tabs_->addTab(device_, tr("Device"));
  setCentralWidget(tabs_);

  progress_ = new QProgressBar;
  progress_->setMinimumWidth(180);
  progress_->setMaximumWidth(320);
  progress_->setFormat(tr("no run"));
  progress_->setRange(0, 1);
  progress_->setValue(0);
  status_label_ = new QLabel(tr("Ready"));
  eta_label_ = new QLabel;
  workers_label_ = new QLabel;
  workers_label_->setToolTip(tr("Points finished by each worker process (one per GPU with --gpus)"));
  estimate_label_ = new QLabel;
  estimate_label_->setWordWrap(true);
  estimate_label_->setObjectName(QStringLiteral("sweepEstimate"));
  statusBar()->addWidget(status_label_, 1);
  statusBar()->addPermanentWidget(workers_label_);
  statusBar()->addPermanentWidget(eta_label_);
  statusBar()->addPermanentWidget(progress_);

  createActions();
  createDocks();

  connect(worker_, &WorkerClient::eventReceived, data_, &RunData::applyEvent);
  connect(worker_, &WorkerClient::outputLine, this, [this](const QString& line) {
    if (const QString level = workerLineLevel(line); !level.isEmpty()) appendLog(level, line);
  });
  connect(worker_, &WorkerClient::finished, this, &MainWindow::onWorkerFinished);
  connect(data_, &RunData::note, this, &MainWindow::appendLog);
  // A line per finished point, a failed or skipped one as a warning: each refresh's points in one edit.
  connect(data_, &RunData::pointsUpdated, this, [this](const QList<int>& rows) {
    QList<std::pair<QString, QString>> lines;
    for (int row : rows) {
      const PointResult& p = data_->points()[static_cast<std::size_t>(row)];
      lines.append({p.status == PointStatus::Ok ? QStringLiteral("point") : QStringLiteral("warning"), pointLogLine(p)});
    }
    appendLogLines(lines);
  });
  // RunData refreshes the progress at most every RunData::kRefreshMs while points stream in.
  connect(data_, &RunData::progressChanged, this, &MainWindow::showProgress);
  connect(data_, &RunData::pointStarted, this, [this](const QString& label) { status_label_->setText(tr("Running %1").arg(label)); });
  connect(data_, &RunData::runStarted, this, [this] {
    history_->setBusyRun(data_->run().id);
    history_->refresh();
    device_->showDevice(data_->run().device);
    // The run measured (or read back) its device's ceilings: later estimates use them.
    if (const auto& ran_on = data_->run().device; ran_on.ceilings) {
      for (DeviceInfo& d : devices_) {
        if (d.fingerprint == ran_on.fingerprint) d.ceilings = ran_on.ceilings;
      }
      updateEstimate();
    }
    appendLog(QStringLiteral("info"), tr("run #%1 \"%2\" started on %3: %4 points")
                                          .arg(data_->run().id)
                                          .arg(qs(data_->run().name), qs(data_->run().device.name))
                                          .arg(data_->run().total_points));
    setWindowTitle(QStringLiteral("attnbench — %1").arg(runTitle(data_->run())));
  });
  connect(data_, &RunData::runReset, this, [this] {
    setWindowTitle(data_->hasRun() ? QStringLiteral("attnbench — %1").arg(runTitle(data_->run())) : QStringLiteral("attnbench"));
    updateRunActions();
  });
  connect(data_, &RunData::runFinished, this, [this](const QString& status) {
    appendLog(status == QLatin1String("completed") ? QStringLiteral("info") : QStringLiteral("warning"),
              tr("run #%1 %2").arg(data_->run().id).arg(status));
    // The events carry no host or version: the stored record has them (for reports and exports).
    try {
      if (db_.isSet()) {
        if (auto stored = db_.use([&](Store& s) { return s.findRun(data_->run().id); })) data_->setRecord(std::move(*stored));
      }
    } catch (const std::exception& e) {
      appendLog(QStringLiteral("warning"), tr("cannot read run #%1 back: %2").arg(data_->run().id).arg(what(e)));
    }
    setWindowTitle(QStringLiteral("attnbench — %1").arg(runTitle(data_->run())));
  });
  connect(editor_, &SweepEditor::specChanged, this, &MainWindow::updateRunActions);
  connect(editor_, &SweepEditor::specChanged, this, &MainWindow::updateEstimate);
  connect(history_, &HistoryPanel::openRequested, this, [this](std::int64_t id) { openRun(id); });
  connect(history_, &HistoryPanel::compareRequested, this, &MainWindow::compareRuns);
  connect(history_, &HistoryPanel::openDatabaseRequested, this, &MainWindow::chooseDatabase);
  connect(history_, &HistoryPanel::message, this, &MainWindow::appendLog);
  connect(history_, &HistoryPanel::runEdited, this, [this](std::int64_t id) {
    // The shown run renamed or annotated: its title follows.
    if (!db_.isSet() || data_->run().id != id) return;
    try {
      if (const auto run = db_.use([&](Store& s) { return s.findRun(id); })) data_->setNameAndNote(run->name, run->note);
    } catch (const std::exception& e) {
      appendLog(QStringLiteral("warning"), tr("cannot read run #%1 back: %2").arg(id).arg(what(e)));
    }
    setWindowTitle(QStringLiteral("attnbench — %1").arg(runTitle(data_->run())));
  });

  if (options_.list_devices) {
    try {
      devices_ = listDevices();
      editor_->setDevices(devices_);
      device_->setDevices(devices_);
    } catch (const std::exception& e) {
      appendLog(QStringLiteral("warning"), tr("cannot list the devices: %1").arg(what(e)));
    }
  }

  QSettings settings;
  if (options_.use_settings) {
    const QString last = settings.value(QStringLiteral("sweep/last")).toString();
    if (!last.isEmpty()) {
      try {
        editor_->setSpec(specFromJson(nlohmann::json::parse(last.toStdString())));
      } catch (const std::exception& e) {
        appendLog(QStringLiteral("warning"), tr("the last sweep could not be restored: %1").arg(what(e)));
      }
    }
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
  }
  QString db = options_.db_path;
  if (db.isEmpty() && options_.use_settings) db = settings.value(QStringLiteral("db/path")).toString();
  if (db.isEmpty()) db = qs(Store::defaultPath());
  openDatabase(db);
  applyTheme();
  updateRunActions();
}

MainWindow::~MainWindow() { worker_->shutdown(); }

QString MainWindow::databasePath() const { return db_.path(); }

void MainWindow::createActions() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open_db = file->addAction(tr("&Open database…"), this, &MainWindow::chooseDatabase);
  open_db->setShortcut(QKeySequence::Open);
  file->addAction(tr("&Load sweep…"), this, &MainWindow::loadSweepFile)->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
  file->addAction(tr("&Save sweep…"), this, &MainWindow::saveSweepFile)->setShortcut(QKeySequence::Save);
  file->addSeparator();
  export_action_ = file->addAction(tr("&Export charts…"), this, &MainWindow::exportChartsDialog);
  export_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  file->addAction(tr("Export &table (CSV/JSON)…"), this, &MainWindow::exportTableDialog);
  file->addAction(tr("Export &report (HTML/PDF)…"), this, &MainWindow::exportReportDialog);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  run_action_ = run->addAction(QIcon::fromTheme(QStringLiteral("media-playback-start")), tr("&Run"), this,
                               [this] { startRun(); });
  run_action_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  cancel_action_ = run->addAction(QIcon::fromTheme(QStringLiteral("process-stop")), tr("&Cancel"), this, &MainWindow::cancelRun);
  cancel_action_->setShortcuts({QKeySequence(Qt::Key_Escape), QKeySequence(Qt::CTRL | Qt::Key_Period)});
  resume_action_ = run->addAction(tr("Re&sume interrupted run"), this, [this] { resumeRun(); });
  for (QAction* a : {run_action_, cancel_action_, resume_action_}) {
    a->setToolTip(a->text().remove(QLatin1Char('&')) +
                  (a->shortcut().isEmpty() ? QString() : QStringLiteral(" (%1)").arg(a->shortcut().toString(QKeySequence::NativeText))));
  }

  view_menu_ = menuBar()->addMenu(tr("&View"));  // filled with the docks' toggles in createDocks
  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Quick start"), this, &MainWindow::quickStart);
  help->addAction(tr("&About attnbench"), this, &MainWindow::about);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::createDocks() {
  // Sweep editor with the run controls under it.
  auto* sweep = new QWidget;
  auto* sweep_layout = new QVBoxLayout(sweep);
  sweep_layout->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea;
  scroll->setWidget(editor_);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  sweep_layout->addWidget(scroll, 1);
  // Real buttons (a tool bar's look flat, like labels), each following its action.
  auto* buttons = new QHBoxLayout;
  buttons->setContentsMargins(4, 4, 4, 0);
  for (QAction* action : {run_action_, cancel_action_, resume_action_}) {
    auto* button = new QPushButton;
    const auto follow = [button, action] {
      button->setText(action->text().remove(QLatin1Char('&')));
      button->setIcon(action->icon());
      button->setToolTip(action->toolTip());
      button->setEnabled(action->isEnabled());
    };
    follow();
    connect(action, &QAction::changed, button, follow);
    connect(button, &QPushButton::clicked, action, &QAction::trigger);
    buttons->addWidget(button);
  }
  run_button_ = static_cast<QPushButton*>(buttons->itemAt(0)->widget());
  run_button_->setDefault(true);
  buttons->addStretch(1);
  sweep_layout->addLayout(buttons);
  sweep_layout->addWidget(estimate_label_);
  auto* sweep_dock = new QDockWidget(tr("Sweep"));
  sweep_dock->setObjectName(QStringLiteral("sweepDock"));
  sweep_dock->setWidget(sweep);
  sweep_dock->setMinimumWidth(std::max(400, editor_->sizeHint().width() + 24));
  addDockWidget(Qt::LeftDockWidgetArea, sweep_dock);

  auto* history_dock = new QDockWidget(tr("Run history"));
  history_dock->setObjectName(QStringLiteral("historyDock"));
  history_dock->setWidget(history_);
  addDockWidget(Qt::BottomDockWidgetArea, history_dock);
  auto* log_dock = new QDockWidget(tr("Log"));
  log_dock->setObjectName(QStringLiteral("logDock"));
  log_dock->setWidget(log_);
  addDockWidget(Qt::BottomDockWidgetArea, log_dock);
  splitDockWidget(history_dock, log_dock, Qt::Horizontal);
  resizeDocks({history_dock, log_dock}, {3, 2}, Qt::Horizontal);
  resizeDocks({history_dock}, {220}, Qt::Vertical);

  for (QDockWidget* d : {sweep_dock, history_dock, log_dock}) view_menu_->addAction(d->toggleViewAction());
}

void MainWindow::appendLog(const QString& level, const QString& message) { appendLogLines({{level, message}}); }

void MainWindow::appendLogLines(const QList<std::pair<QString, QString>>& level_and_message) {
  if (level_and_message.isEmpty()) return;
  const QString time = QTime::currentTime().toString(QStringLiteral("HH:mm:ss"));
  // Follows the end of the log unless it was scrolled up to read something.
  QScrollBar* scroll = log_->verticalScrollBar();
  const bool at_end = scroll->value() >= scroll->maximum() - 1;
  QTextCursor cursor(log_->document());
  cursor.movePosition(QTextCursor::End);
  cursor.beginEditBlock();
  for (const auto& [level, message] : level_and_message) {
    const QString color = level == QLatin1String("error")     ? QStringLiteral("#d32f2f")
                          : level == QLatin1String("warning") ? QStringLiteral("#e65100")
                          : level == QLatin1String("worker") || level == QLatin1String("point") ? QStringLiteral("#757575")
                                                              : QString();
    if (!log_->document()->isEmpty()) cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    // white-space:pre keeps the columns of the worker's summary table (HTML collapses runs of blanks).
    cursor.insertHtml(QStringLiteral("<span style=\"white-space:pre;%1\">%2  %3</span>")
                          .arg(color.isEmpty() ? QString() : QStringLiteral("color:") + color, time, message.toHtmlEscaped()));
  }
  cursor.endEditBlock();
  if (at_end) scroll->setValue(scroll->maximum());
}

bool MainWindow::openDatabase(const QString& path) {
  try {
    QDir().mkpath(QFileInfo(path).absolutePath());
    db_ = Database::create(path);
  } catch (const std::exception& e) {
    appendLog(QStringLiteral("error"), tr("cannot open the database %1: %2").arg(path, what(e)));
    return false;
  }
  history_->setDatabase(db_);
  // The device panel shows the ceilings measured on this machine before, when the DB has them.
  std::vector<DeviceInfo> devices = devices_;
  try {
    db_.use([&](Store& s) {
      for (DeviceInfo& d : devices) {
        if (!d.ceilings) d.ceilings = s.cachedCeilings(d.fingerprint);
      }
    });
  } catch (const std::exception&) {
    // An older database without the cache: the panel says "not measured yet".
  }
  if (!devices.empty()) device_->setDevices(devices);
  devices_ = std::move(devices);
  updateEstimate();
  if (options_.use_settings) QSettings().setValue(QStringLiteral("db/path"), path);
  return true;
}

void MainWindow::chooseDatabase() {
  const QString path = chooseOpenFile(this, tr("Open database"), QFileInfo(databasePath()).absolutePath(),
                                      tr("attnbench databases (*.db *.sqlite *.sqlite3);;All files (*)"));
  if (!path.isEmpty()) openDatabase(path);
}

bool MainWindow::openRun(std::int64_t run_id) {
  if (!db_.isSet()) return false;
  if (worker_->isRunning() && data_->run().id == run_id) return true;  // already on screen, live
  try {
    std::vector<PointResult> points;
    const auto run = db_.use([&](Store& s) {
      auto found = s.findRun(run_id);
      if (found) points = s.loadPoints(run_id);
      return found;
    });
    if (!run) {
      appendLog(QStringLiteral("warning"), tr("no run #%1 in the database").arg(run_id));
      return false;
    }
    data_->reset(*run, std::move(points));
    device_->showRunDevice(*run);
    const bool resumable = run->status == RunStatus::Interrupted ||
                           (run->status == RunStatus::Running && !worker_->isRunning());
    resumable_run_ = resumable && run->finished_points < run->total_points ? run_id : 0;
    tabs_->setCurrentWidget(charts_);
    status_label_->setText(tr("Showing %1").arg(runTitle(*run)));
  } catch (const std::exception& e) {
    appendLog(QStringLiteral("error"), tr("cannot open run #%1: %2").arg(run_id).arg(what(e)));
    return false;
  }
  updateRunActions();
  return true;
}

void MainWindow::compareRuns(const QList<qint64>& run_ids) {
  if (!db_.isSet() || run_ids.size() < 2) return;
  QStringList ids;
  for (qint64 id : run_ids) ids << QStringLiteral("#%1").arg(id);
  try {
    std::vector<RunPoints> runs;
    db_.use([&](Store& s) {
      for (qint64 id : run_ids) runs.push_back({s.requireRun(id), s.loadPoints(id)});
    });
    compare_->setRuns(std::move(runs));
    tabs_->setCurrentWidget(compare_);
  } catch (const std::exception& e) {
    appendLog(QStringLiteral("error"), tr("cannot compare runs %1: %2").arg(ids.join(QStringLiteral(", ")), what(e)));
  }
}

bool MainWindow::startRun() {
  if (worker_->isRunning()) return false;
  const auto spec = editor_->spec();
  if (!spec) {
    appendLog(QStringLiteral("warning"), tr("the sweep is not valid: %1").arg(editor_->errors().join(QStringLiteral("; "))));
    return false;
  }
  if (!db_.isSet()) {
    appendLog(QStringLiteral("error"), tr("no database open"));
    return false;
  }
  if (options_.use_settings) QSettings().setValue(QStringLiteral("sweep/last"), qs(specToJson(*spec).dump()));
  QString error;
  data_->reset({}, {});
  if (!worker_->startRun(*spec, databasePath(), &error)) {
    appendLog(QStringLiteral("error"), error);
    updateRunActions();
    return false;
  }
  resumable_run_ = 0;
  progress_->setRange(0, 0);  // indeterminate until the first point
  eta_label_->clear();
  status_label_->setText(tr("Starting the worker…"));
  tabs_->setCurrentWidget(charts_);
  updateRunActions();
  return true;
}

bool MainWindow::resumeRun() {
  if (worker_->isRunning() || resumable_run_ == 0 || !db_.isSet()) return false;
  QString error;
  const std::int64_t run_id = resumable_run_;
  if (!worker_->resumeRun(run_id, databasePath(), &error)) {
    appendLog(QStringLiteral("error"), error);
    return false;
  }
  appendLog(QStringLiteral("info"), tr("resuming run #%1").arg(run_id));
  resumable_run_ = 0;
  progress_->setRange(0, 0);
  eta_label_->clear();
  updateRunActions();
  return true;
}

void MainWindow::cancelRun() {
  if (!worker_->isRunning()) return;
  appendLog(QStringLiteral("info"), tr("cancelling: the worker finishes the point in progress"));
  status_label_->setText(tr("Cancelling…"));
  worker_->cancel();
  updateRunActions();
}

void MainWindow::showProgress() {
  const int done = data_->donePoints(), total = data_->totalPoints();
  if (data_->live()) history_->showProgress(data_->run().id, done, total);
  progress_->setFormat(total > 0 ? tr("%v / %m points") : tr("no run"));
  workers_label_->setText(data_->pointsPerWorker());
  if (!worker_->isRunning() && !data_->live()) {
    progress_->setRange(0, std::max(1, total));
    progress_->setValue(std::min(done, std::max(1, total)));
    eta_label_->clear();
    return;
  }
  // Indeterminate until there is an estimate: the first finished point, or the prediction when the
  // device's ceilings are known.
  const double eta = data_->etaSeconds();
  if (eta < 0) return;
  progress_->setRange(0, std::max(1, total));
  progress_->setValue(done);
  eta_label_->setText(data_->finishedHere() > 0 ? tr("ETA %1").arg(formatEta(eta)) : tr("ETA ≈ %1 (predicted)").arg(formatEta(eta)));
  eta_label_->setToolTip(tr("The points left, weighted by their predicted cost (FLOPs and bytes over the device's ceilings), "
                            "at the pace measured so far"));
}

void MainWindow::onWorkerFinished(int exit_code, bool crashed, bool cancelled) {
  const std::int64_t run_id = worker_->currentRunId();
  if (crashed) {
    appendLog(QStringLiteral("error"),
              run_id != 0 ? tr("the worker stopped unexpectedly (exit code %1) during run #%2; "
                               "its finished points are saved: Run ▸ Resume continues it")
                                .arg(exit_code)
                                .arg(run_id)
                          : tr("the worker stopped unexpectedly (exit code %1) before the run began").arg(exit_code));
  } else if (cancelled) {
    appendLog(QStringLiteral("info"), run_id != 0 ? tr("run #%1 cancelled").arg(run_id) : tr("run cancelled"));
  } else if (exit_code != 0 && run_id == 0) {
    appendLog(QStringLiteral("error"), tr("the worker could not run the sweep (exit code %1)").arg(exit_code));
  }
  if (data_->live()) {
    // No run_finished came: the run ends here as interrupted.
    RunFinishedEvent interrupted;
    interrupted.run_id = run_id;
    interrupted.status = RunStatus::Interrupted;
    data_->applyEvent(interrupted);
  }
  if (run_id != 0 && db_.isSet()) {
    try {
      if (auto run = db_.use([&](Store& s) { return s.findRun(run_id); })) {
        if (run->finished_points < run->total_points && run->status != RunStatus::Completed) resumable_run_ = run_id;
      }
    } catch (const std::exception& e) {
      appendLog(QStringLiteral("warning"), tr("cannot read run #%1 back: %2").arg(run_id).arg(what(e)));
    }
  }
  history_->setBusyRun(0);
  history_->refresh();
  status_label_->setText(tr("Ready"));
  eta_label_->clear();
  progress_->setRange(0, std::max(1, data_->totalPoints()));
  progress_->setValue(std::min(data_->donePoints(), progress_->maximum()));
  updateRunActions();
}

void MainWindow::updateRunActions() {
  const bool running = worker_->isRunning();
  run_action_->setEnabled(!running && editor_->isValid());
  cancel_action_->setEnabled(running);
  resume_action_->setEnabled(!running && resumable_run_ != 0);
  resume_action_->setText(resumable_run_ != 0 ? tr("Re&sume run #%1").arg(resumable_run_) : tr("Re&sume interrupted run"));
  editor_->setEnabled(!running);
}

const DeviceInfo* MainWindow::deviceFor(const std::string& spec_device) const {
  const std::string id = spec_device == "cuda" ? "cuda:0" : spec_device;
  for (const DeviceInfo& d : devices_) {
    if (id == "auto" ? d.kind == "cuda" : d.id == id) return &d;
  }
  if (id != "auto") return nullptr;
  for (const DeviceInfo& d : devices_) {
    if (d.kind == "cpu") return &d;
  }
  return nullptr;
}

void MainWindow::updateEstimate() {
  const auto spec = editor_->spec();
  if (!spec) {
    estimate_label_->clear();
    return;
  }
  const DeviceInfo* device = deviceFor(spec->device);
  if (devices_.empty()) {
    estimate_label_->clear();  // this machine's devices were not listed
    return;
  }
  if (device == nullptr) {
    estimate_label_->setText(tr("No time estimate: device \"%1\" is not on this machine").arg(qs(spec->device)));
    return;
  }
  const SweepEta eta(*spec, *device);
  const QString name = qs(device->name.empty() ? device->id : device->name);
  if (const auto total = eta.predictedTotalSeconds()) {
    estimate_label_->setText(tr("%1 points, about %2 on %3").arg(eta.pointCount()).arg(formatEta(*total), name));
    estimate_label_->setToolTip(tr("Predicted from each point's FLOPs and bytes over the device's measured GEMM and copy "
                                   "ceilings; the ETA during the run follows the measured pace"));
  } else {
    estimate_label_->setText(
        tr("%1 points; a time estimate once the ceilings of %2 are measured (by its first run)").arg(eta.pointCount()).arg(name));
    estimate_label_->setToolTip(QString());
  }
}

void MainWindow::applyTheme() {
  // Charts follow the palette: a dark window gets the dark chart theme.
  const bool dark = palette().color(QPalette::Window).lightness() < 128;
  charts_->setDark(dark);
  roofline_->setDark(dark);
  compare_->setDark(dark);
}

void MainWindow::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange) applyTheme();
  QMainWindow::changeEvent(event);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (worker_->isRunning()) {
    const auto answer = QMessageBox::question(this, tr("Run in progress"),
                                              tr("A run is in progress. Stop it (it can be resumed later) and quit?"));
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
    worker_->shutdown();
  }
  if (options_.use_settings) {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    if (const auto spec = editor_->spec()) settings.setValue(QStringLiteral("sweep/last"), qs(specToJson(*spec).dump()));
  }
  QMainWindow::closeEvent(event);
}

void MainWindow::loadSweepFile() {
  const QString path = chooseOpenFile(this, tr("Load sweep"), QString(), tr("Sweep files (*.json)"));
  if (!path.isEmpty()) loadSweep(path);
}

bool MainWindow::loadSweep(const QString& path) {
  try {
    editor_->setSpec(loadSpecFile(path.toStdString()));
  } catch (const std::exception& e) {
    appendLog(QStringLiteral("error"), tr("cannot load %1: %2").arg(path, what(e)));
    return false;
  }
  appendLog(QStringLiteral("info"), tr("loaded the sweep %1").arg(path));
  return true;
}

void MainWindow::saveSweepFile() {
  const auto spec = editor_->spec();
  if (!spec) {
    appendLog(QStringLiteral("warning"), tr("fix the sweep before saving it"));
    return;
  }
  const QString path =
      chooseSaveFile(this, tr("Save sweep"), qs(spec->name) + QStringLiteral(".json"), tr("Sweep files (*.json)"));
  if (!path.isEmpty()) saveSweep(path);
}

bool MainWindow::saveSweep(const QString& path) {
  const auto spec = editor_->spec();
  if (!spec) {
    appendLog(QStringLiteral("warning"), tr("fix the sweep before saving it"));
    return false;
  }
  std::ofstream out(path.toStdString());
  out << specToJson(*spec).dump(2) << '\n';
  out.close();
  if (!out) {
    appendLog(QStringLiteral("error"), tr("cannot write %1").arg(path));
    return false;
  }
  appendLog(QStringLiteral("info"), tr("saved the sweep to %1").arg(path));
  return true;
}

void MainWindow::exportChartsDialog() {
  if (!data_->hasRun()) {
    appendLog(QStringLiteral("warning"), tr("no run to export: run a sweep or open one from the history"));
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Export charts"));
  auto* which = new QComboBox;
  which->addItem(tr("All four charts (into a folder)"));
  for (ChartKind kind : kChartKinds) which->addItem(charts_->charts()->title(kind));  // as chosen in the window
  auto* format = new QComboBox;
  for (ImageFormat f : kAllImageFormats) format->addItem(formatSuffix(f).toUpper(), static_cast<int>(f));
  QSettings settings;
  auto* width = new QSpinBox;
  width->setRange(200, 8000);
  width->setSuffix(tr(" px"));
  width->setValue(settings.value(QStringLiteral("export/width"), kDefaultChartSize.width()).toInt());
  auto* height = new QSpinBox;
  height->setRange(150, 8000);
  height->setSuffix(tr(" px"));
  height->setValue(settings.value(QStringLiteral("export/height"), kDefaultChartSize.height()).toInt());
  // Pixels for the screen, or a figure: a size on the page, one font size, a PNG resolution.
  auto* style = new QComboBox;
  style->addItem(tr("Pixels (width × height)"));
  style->addItem(tr("Paper figure (8 pt, no title)"), QStringLiteral("paper"));
  style->addItem(tr("Screen figure (9 pt, titled)"), QStringLiteral("screen"));
  auto* figure_size = new QLineEdit(QStringLiteral("3.3x2.2in"));
  figure_size->setToolTip(tr("Width x height with a unit: 3.3x2.2in (one column), 7x3in (two), 84x56mm"));
  auto* dpi = new QSpinBox;
  dpi->setRange(kMinFigureDpi, kMaxFigureDpi);
  dpi->setValue(300);
  dpi->setSuffix(tr(" dpi"));
  auto* dark = new QCheckBox(tr("Dark theme"));
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Chart"), which);
  form->addRow(tr("Format"), format);
  form->addRow(tr("Style"), style);
  form->addRow(tr("Width"), width);
  form->addRow(tr("Height"), height);
  form->addRow(tr("Figure size"), figure_size);
  form->addRow(tr("PNG resolution"), dpi);
  form->addRow(QString(), dark);
  const auto show_style = [=] {
    const bool figure = style->currentIndex() > 0;
    width->setEnabled(!figure);
    height->setEnabled(!figure);
    figure_size->setEnabled(figure);
    dpi->setEnabled(figure);
    dark->setEnabled(figure);
    FigureStyle preset;
    QString ignored;
    if (figure && namedFigureStyle(style->currentData().toString(), &preset, &ignored)) {
      figure_size->setText(QStringLiteral("%1x%2in").arg(preset.size_inches.width(), 0, 'g', 4).arg(preset.size_inches.height(), 0, 'g', 4));
      dpi->setValue(preset.png_dpi);
    }
  };
  connect(style, &QComboBox::currentIndexChanged, &dialog, show_style);
  show_style();
  auto* box = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  form->addRow(box);
  connect(box, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(box, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  settings.setValue(QStringLiteral("export/width"), width->value());
  settings.setValue(QStringLiteral("export/height"), height->value());

  const QSize size(width->value(), height->value());
  const auto image_format = static_cast<ImageFormat>(format->currentData().toInt());
  if (style->currentIndex() > 0) {
    FigureStyle figure;
    QString error;
    if (!namedFigureStyle(style->currentData().toString(), &figure, &error) ||
        !parseFigureSize(figure_size->text(), &figure.size_inches, &error)) {
      appendLog(QStringLiteral("error"), error);
      return;
    }
    figure.png_dpi = dpi->value();
    figure.dark = dark->isChecked();
    QList<ChartKind> kinds(kChartKinds.begin(), kChartKinds.end());
    if (which->currentIndex() > 0) kinds = {kChartKinds[static_cast<std::size_t>(which->currentIndex() - 1)]};
    const QString dir = chooseDirectory(this, tr("Export figures into"), QString());
    if (!dir.isEmpty()) exportFigureFiles(dir, kinds, image_format, figure);
    return;
  }
  const QString suffix = formatSuffix(image_format);
  if (which->currentIndex() == 0) {
    const QString dir = chooseDirectory(this, tr("Export charts into"), QString());
    if (!dir.isEmpty()) exportAllCharts(dir, image_format, size);
    return;
  }
  const ChartKind kind = kChartKinds[static_cast<std::size_t>(which->currentIndex() - 1)];
  QString path = chooseSaveFile(this, tr("Export chart"), QStringLiteral("run%1-%2.%3").arg(data_->run().id).arg(charts_->charts()->stem(kind), suffix),
                                suffix.toUpper() + QStringLiteral(" (*.") + suffix + QLatin1Char(')'));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += QLatin1Char('.') + suffix;
  exportChartFile(kind, path, size);
}

bool MainWindow::exportAllCharts(const QString& dir, ImageFormat format, QSize size) {
  if (!data_->hasRun()) return false;
  QStringList written;
  QString error;
  const QList<ChartKind> kinds(kChartKinds.begin(), kChartKinds.end());
  if (!exportCharts(data_->run(), data_->points(), dir, kinds, {format}, size, charts_->charts(), &written, &error)) {
    appendLog(QStringLiteral("error"), error);
    return false;
  }
  appendLog(QStringLiteral("info"), tr("wrote %1").arg(written.join(QStringLiteral(", "))));
  return true;
}

bool MainWindow::exportFigureFiles(const QString& dir, const QList<ChartKind>& kinds, ImageFormat format, const FigureStyle& style) {
  if (!data_->hasRun()) return false;
  QStringList written;
  QString error;
  if (!exportFigures(data_->run(), data_->points(), dir, kinds, {format}, style, charts_->charts(), &written, &error)) {
    appendLog(QStringLiteral("error"), error);
    return false;
  }
  appendLog(QStringLiteral("info"), tr("wrote %1").arg(written.join(QStringLiteral(", "))));
  return true;
}

bool MainWindow::exportChartFile(ChartKind kind, const QString& path, QSize size) {
  if (!data_->hasRun()) return false;
  QString error;
  if (!exportChart(data_->run(), data_->points(), kind, path, size, charts_->charts(), &error)) {
    appendLog(QStringLiteral("error"), error);
    return false;
  }
  appendLog(QStringLiteral("info"), tr("wrote %1").arg(path));
  return true;
}

void MainWindow::exportTableDialog() {
  if (!data_->hasRun()) return;
  const QString path = chooseSaveFile(this, tr("Export table"), QStringLiteral("run%1.csv").arg(data_->run().id),
                                      tr("CSV (*.csv);;JSON (*.json)"));
  if (path.isEmpty()) return;
  QString error;
  if (!exportTable(data_->run(), data_->points(), path, &error)) {
    appendLog(QStringLiteral("error"), error);
  } else {
    appendLog(QStringLiteral("info"), tr("wrote %1").arg(path));
  }
}

void MainWindow::exportReportDialog() {
  if (!data_->hasRun()) return;
  const QString path = chooseSaveFile(this, tr("Export report"), QStringLiteral("run%1-report.html").arg(data_->run().id),
                                      tr("HTML (*.html);;PDF (*.pdf)"));
  if (path.isEmpty()) return;
  QString error;
  if (!exportReport(data_->run(), data_->points(), path, &error)) {
    appendLog(QStringLiteral("error"), error);
  } else {
    appendLog(QStringLiteral("info"), tr("wrote %1").arg(path));
  }
}

void MainWindow::quickStart() {
  QMessageBox::information(
      this, tr("Quick start"),
      tr("<ol>"
         "<li>Pick a preset in <b>Sweep</b>, or models, sequence lengths, batch sizes, dtypes and kernels.</li>"
         "<li>Press <b>Run</b>: the worker measures each point; the charts and <b>Results</b> fill in as it goes, "
         "the status bar shows the ETA. <b>Cancel</b> keeps the points done; <b>Resume</b> continues.</li>"
         "<li>Runs are kept in the database shown under <b>Run history</b>: open one, select two or more to compare, "
         "add a note.</li>"
         "<li><b>File ▸ Export</b> writes the charts (PNG, SVG, PDF), the table (CSV, JSON) or a report.</li>"
         "<li>Without a display: <code>attnbench --batch --preset cpu-quick</code>; "
         "<code>attnbench --help</code> lists everything. The README has the details.</li></ol>"));
}

void MainWindow::about() {
  QString cuda;
#ifdef ATTNBENCH_HAVE_CUDA
  cuda = tr("CUDA: built in");
  try {
    for (const auto& d : listDevices()) {
      if (d.kind != "cuda") continue;
      for (auto it = d.properties.begin(); it != d.properties.end(); ++it) {
        if (it.key().find("version") != std::string::npos) {
          cuda += QStringLiteral("<br>%1: %2").arg(qs(it.key()), qs(it.value().is_string() ? it.value().get<std::string>()
                                                                                            : it.value().dump()));
        }
      }
      break;
    }
  } catch (const std::exception&) {
    cuda += tr(" (no device)");
  }
#else
  cuda = tr("CUDA: not built");
#endif
  QMessageBox::about(this, tr("About attnbench"),
                     tr("<h3>attnbench %1</h3>"
                        "<p>Fused (FlashAttention-style) against standard attention on LLM shapes: latency, "
                        "throughput and memory, kept in SQLite and drawn live.</p>"
                        "<p>Qt: %2 (built with %3)<br>%4</p>")
                         .arg(QStringLiteral(ATTNBENCH_VERSION), QString::fromLatin1(qVersion()),
                              QStringLiteral(QT_VERSION_STR), cuda));
}

}  // namespace attnbench::ui
