// The main window: sweep editor and Run/Cancel on the left, live charts / results / compare /
// device in the middle, run history and the log below, progress in the status bar.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <QMainWindow>
#include <QStringList>

#include "attnbench/device_info.h"
#include "attnbench/store.h"
#include "chart_export.h"
#include "database.h"

class QAction;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTabWidget;

namespace attnbench::ui {

class ChartPanel;
class CompareView;
class DevicePanel;
class HistoryPanel;
class ResultsView;
class RooflineView;
class RunData;
class SweepEditor;
class WinnersView;
class WorkerClient;

struct MainWindowOptions {
  QString db_path;                // empty: the last one used, else Store::defaultPath()
  QString worker_program;         // empty: this executable
  QStringList worker_args;        // put before the batch flags
  bool use_settings = true;       // restore/save the last sweep, window state and DB path
  bool list_devices = true;       // query core for the devices at start
  int cancel_grace_ms = 5000;     // terminate -> kill
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(MainWindowOptions options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  bool openDatabase(const QString& path);
  bool openRun(std::int64_t run_id);
  bool startRun();
  bool resumeRun();
  void cancelRun();
  // Shows these runs on the Compare tab, the first as the baseline.
  void compareRuns(const QList<qint64>& run_ids);
  // What the File menu's dialogs do once a file is chosen; false (and a log line) on failure.
  bool loadSweep(const QString& path);
  bool saveSweep(const QString& path);
  bool exportChartFile(ChartKind kind, const QString& path, QSize size);  // format from the suffix
  bool exportAllCharts(const QString& dir, ImageFormat format, QSize size);
  // The charts of `kinds` as figures in `style` (run<ID>-<chart>.<ext>), as the window shows them.
  bool exportFigureFiles(const QString& dir, const QList<ChartKind>& kinds, ImageFormat format, const FigureStyle& style);

  SweepEditor* editor() const { return editor_; }
  RunData* runData() const { return data_; }
  WorkerClient* worker() const { return worker_; }
  ChartPanel* chartPanel() const { return charts_; }
  ResultsView* resultsView() const { return results_; }
  RooflineView* rooflineView() const { return roofline_; }
  WinnersView* winnersView() const { return winners_; }
  HistoryPanel* historyPanel() const { return history_; }
  CompareView* compareView() const { return compare_; }
  DevicePanel* devicePanel() const { return device_; }
  QPlainTextEdit* logPane() const { return log_; }
  QProgressBar* progressBar() const { return progress_; }
  QTabWidget* tabs() const { return tabs_; }
  QLabel* estimateLabel() const { return estimate_label_; }  // the sweep's predicted time, under Run
  QLabel* etaLabel() const { return eta_label_; }
  QLabel* workersLabel() const { return workers_label_; }  // points per worker of a run over several (--gpus)
  QString databasePath() const;

 public Q_SLOTS:
  void appendLog(const QString& level, const QString& message);
  // Several lines as one edit of the log: laid out and scrolled once (a refresh's finished points).
  void appendLogLines(const QList<std::pair<QString, QString>>& level_and_message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  void createActions();
  void createDocks();
  void applyTheme();
  void updateRunActions();
  void updateEstimate();
  // This machine's device a spec's "device" resolves to (with its cached ceilings); null if absent.
  const DeviceInfo* deviceFor(const std::string& spec_device) const;
  void showProgress();
  void onWorkerFinished(int exit_code, bool crashed, bool cancelled);
  void loadSweepFile();
  void saveSweepFile();
  void exportChartsDialog();
  void exportTableDialog();
  void exportReportDialog();
  void chooseDatabase();
  void about();
  void quickStart();

  MainWindowOptions options_;
  Database db_;  // opened per operation, never held (see database.h)
  RunData* data_;
  WorkerClient* worker_;
  SweepEditor* editor_;
  ChartPanel* charts_;
  ResultsView* results_;
  RooflineView* roofline_;
  WinnersView* winners_;
  CompareView* compare_;
  DevicePanel* device_;
  HistoryPanel* history_;
  QPlainTextEdit* log_;
  QTabWidget* tabs_;
  QProgressBar* progress_;
  QLabel* status_label_;
  QLabel* eta_label_;
  QLabel* workers_label_;
  QLabel* estimate_label_;
  QMenu* view_menu_ = nullptr;
  QPushButton* run_button_ = nullptr;
  QAction* run_action_ = nullptr;
  QAction* cancel_action_ = nullptr;
  QAction* resume_action_ = nullptr;
  QAction* export_action_ = nullptr;
  std::vector<DeviceInfo> devices_;  // this machine's, from core, with the ceilings the DB has cached
  std::int64_t resumable_run_ = 0;  // a run whose worker died; Resume continues it
};

}  // namespace attnbench::ui
