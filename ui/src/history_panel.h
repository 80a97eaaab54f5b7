// The runs in the database, newest first: open, rename, annotate, delete, compare two or more.
// Listing reads run records only; a run's points are loaded when it is opened. Every read and change
// opens the database for itself (see database.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <QFileSystemWatcher>
#include <QTimer>
#include <QWidget>

#include "attnbench/store.h"
#include "database.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSortFilterProxyModel;
class QStandardItemModel;
class QTableView;

namespace attnbench::ui {

class HistoryPanel : public QWidget {
  Q_OBJECT
 public:
  enum Column { Id, Name, Date, Device, Workload, Model, Status, Points, Note, ColumnCount };

  explicit HistoryPanel(QWidget* parent = nullptr);
  // The database to list (opened for each read or change); an unset one clears the list.
  void setDatabase(const Database& db);
  // Re-reads the list of runs, keeping the selection. Also done on its own when the database's files
  // change (runs written by `attnbench --batch` in another process) and every kPollMs.
  void refresh();
  static constexpr int kPollMs = 10000;
  static constexpr int kSettleMs = 300;  // after a change of the files, before re-reading
  // A run that must not be deleted (the one a worker is writing).
  void setBusyRun(std::int64_t run_id) { busy_run_ = run_id; }
  QTableView* table() const { return table_; }
  // The selected run's details: how it was measured (its provenance, provenance.h).
  QPlainTextEdit* details() const { return details_; }
  QStandardItemModel* model() const { return model_; }
  std::vector<std::int64_t> selectedRuns() const;
  // The run selected alone, read from the store; nullopt for none, several, or a store error.
  std::optional<RunRecord> singleSelectedRun();
  // Updates the points count of a listed run while it runs (no re-read of the store).
  void showProgress(std::int64_t run_id, int done, int total);
  // What the Rename and Note dialogs do once accepted: store, list, runEdited. False on failure
  // (reported through message) or an empty name.
  bool renameRun(std::int64_t run_id, const QString& name);
  bool annotateRun(std::int64_t run_id, const QString& note);

 Q_SIGNALS:
  void openRequested(std::int64_t run_id);
  void compareRequested(const QList<qint64>& run_ids);  // oldest first
  void openDatabaseRequested();
  void message(const QString& level, const QString& text);
  void runEdited(std::int64_t run_id);  // renamed or annotated

 private:
  void rename();
  void annotate();
  void remove();
  void updateButtons();
  void showDetails();
  void watchFiles();
  // Runs a store call; a failure goes to the log instead of escaping the event loop. False on failure.
  bool guarded(const std::function<void()>& change);

  Database db_;
  QStandardItemModel* model_;
  QSortFilterProxyModel* sorted_;
  QTableView* table_;
  QPlainTextEdit* details_;
  QLabel* db_label_;
  QPushButton* open_;
  QPushButton* rename_;
  QPushButton* annotate_;
  QPushButton* delete_;
  QPushButton* compare_;
  QPushButton* refresh_;
  QFileSystemWatcher watcher_;  // inotify: watching opens no file
  QTimer settle_;
  QTimer poll_;
  std::int64_t busy_run_ = 0;
};

}  // namespace attnbench::ui
