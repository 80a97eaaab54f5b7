// The window never endangers the results database (issue: a file dialog listing the database's
// folder used to open the file to guess its type; the close() dropped the SQLite locks of the
// window's long-lived connection, the worker then deleted the WAL under it and runs, notes and
// finally the whole file were lost). Now the dialogs never open a file they list, and the window
// keeps no connection between operations; a real worker writes the runs.
#include <gtest/gtest.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileSystemModel>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTimer>

#include <sqlite3.h>

#include "file_dialogs.h"
#include "history_panel.h"
#include "main_window.h"
#include "run_data.h"
#include "sweep_editor.h"
#include "ui_test_support.h"
#include "worker_client.h"

namespace attnbench::ui {
namespace {

// Names of the files in `dir` opened while it is watched (inotify IN_OPEN; folders left out).
class OpenWatch {
 public:
  explicit OpenWatch(const QString& dir) : fd_(inotify_init1(IN_NONBLOCK)) {
    if (fd_ >= 0) inotify_add_watch(fd_, QFile::encodeName(dir).constData(), IN_OPEN);
  }
  ~OpenWatch() {
    if (fd_ >= 0) close(fd_);
  }
  OpenWatch(const OpenWatch&) = delete;
  OpenWatch& operator=(const OpenWatch&) = delete;
  bool valid() const { return fd_ >= 0; }
  QStringList openedFiles() {
    QStringList names;
    alignas(inotify_event) char buffer[8192];
    ssize_t n;
    while ((n = read(fd_, buffer, sizeof buffer)) > 0) {
      for (char* p = buffer; p < buffer + n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(p);
        if ((e->mask & IN_ISDIR) == 0 && e->len > 0) names << QFile::decodeName(e->name);
        p += sizeof(inotify_event) + e->len;
      }
    }
    return names;
  }

 private:
  int fd_;
};

// Descriptors this process holds on `db` or its -wal/-shm.
int descriptorsOn(const QString& db) {
  const QString target = QFileInfo(db).canonicalFilePath();
  int count = 0;
  for (const QFileInfo& fd : QDir(QStringLiteral("/proc/self/fd")).entryInfoList(QDir::System | QDir::Files)) {
    if (fd.symLinkTarget().startsWith(target)) ++count;
  }
  return count;
}

// Waits until `dialog` has listed its folder and typed every file in it, as it would on screen.
void listLikeOnScreen(QFileDialog& dialog) {
  dialog.setViewMode(QFileDialog::Detail);
  auto* model = dialog.findChild<QFileSystemModel*>();
  ASSERT_NE(model, nullptr);
  // directoryLoaded comes once per folder: a dialog listed before has its rows.
  bool loaded = dialog.property("listed").toBool();
  const auto connection = QObject::connect(model, &QFileSystemModel::directoryLoaded, [&] { loaded = true; });
  if (!dialog.isVisible()) dialog.show();
  const bool listed = test::waitFor([&] { return loaded; }, 10000);
  QObject::disconnect(connection);
  ASSERT_TRUE(listed);
  dialog.setProperty("listed", true);
  const QModelIndex folder = model->index(dialog.directory().absolutePath());
  for (int r = 0; r < model->rowCount(folder); ++r) {
    for (int c = 0; c < model->columnCount(folder); ++c) {
      model->index(r, c, folder).data(Qt::DisplayRole);
      model->index(r, c, folder).data(Qt::DecorationRole);
    }
  }
  test::waitFor([] { return false; }, 500);  // the model's gatherer thread types the files meanwhile
}

TEST(DatabaseSafety, FileDialogsListAFolderWithoutOpeningItsFiles) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("r.db"));
  test::createFixtureDb(db);
  for (const char* name : {"notes.txt", "no-suffix", "r.sqlite"}) {
    QFile f(dir.filePath(QString::fromLatin1(name)));
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(test::readAll(db).left(4096));  // SQLite content under every name
  }
  OpenWatch watch(dir.path());
  ASSERT_TRUE(watch.valid());
  {
    QFileDialog dialog(nullptr, QStringLiteral("Open database"), dir.path(),
                       QStringLiteral("attnbench databases (*.db *.sqlite *.sqlite3);;All files (*)"));
    listFilesBySuffixOnly(dialog);
    listLikeOnScreen(dialog);
    dialog.selectNameFilter(QStringLiteral("All files (*)"));
    listLikeOnScreen(dialog);
  }
  // Qt's own provider opens r.db, r.sqlite and no-suffix here to guess their types.
  EXPECT_EQ(watch.openedFiles().join(QStringLiteral(", ")).toStdString(), "");
  // The watch does see an open (the check above can fail).
  QFile(db).open(QIODevice::ReadOnly);
  EXPECT_TRUE(watch.openedFiles().contains(QStringLiteral("r.db")));
}

// Opens File ▸ Open database… through the history's button, lets it list the database's folder
// and cancels it.
void openAndCancelTheDatabaseDialog(MainWindow& window) {
  QPushButton* open_db = nullptr;
  for (QPushButton* b : window.historyPanel()->findChildren<QPushButton*>()) {
    if (b->text().startsWith(QLatin1String("Open DB"))) open_db = b;
  }
  ASSERT_NE(open_db, nullptr);
  bool listed = false;
  QTimer::singleShot(0, [&] {
    auto* dialog = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
    ASSERT_NE(dialog, nullptr);
    EXPECT_EQ(dialog->directory().absolutePath(), QFileInfo(window.databasePath()).absolutePath());
    listLikeOnScreen(*dialog);
    listed = true;
    dialog->reject();
  });
  open_db->click();  // modal until the timer cancels it
  EXPECT_TRUE(listed);
}

SweepSpec tinyCpuSweep(const char* name) {
  SweepSpec spec = test::fixtureRun().spec;
  spec.name = name;
  spec.device = "cpu";
  spec.seq_lens = {64, 128};
  spec.batch_sizes = {1};
  spec.repetitions = 1;
  return spec;
}

void runToTheEnd(MainWindow& window, const char* name) {
  window.editor()->setSpec(tinyCpuSweep(name));
  ASSERT_TRUE(window.startRun());
  ASSERT_TRUE(test::waitFor([&] { return !window.worker()->isRunning(); }, 120000));
  ASSERT_TRUE(window.runData()->hasRun());
  EXPECT_EQ(window.runData()->donePoints(), window.runData()->totalPoints());
  // Read back from the store at the end (the events carry neither): a report has them at once.
  EXPECT_FALSE(window.runData()->run().host.empty());
  EXPECT_FALSE(window.runData()->run().version.empty());
  EXPECT_FALSE(window.runData()->run().finished_at.empty());
}

std::string integrityCheck(const QString& db) {
  sqlite3* handle = nullptr;
  std::string answer = "cannot open";
  if (sqlite3_open_v2(QFile::encodeName(db).constData(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      answer = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(handle);
  return answer;
}

TEST(DatabaseSafety, DialogRunNoteRunQuitKeepsEverything) {
  test::ensureApp();
  QTemporaryDir dir;
  const QString db = dir.filePath(QStringLiteral("r.db"));
  MainWindowOptions options = test::quietOptions(db);
  options.worker_program = QStringLiteral(ATTNBENCH_EXE);
  {
    MainWindow window(options);
    window.show();
    EXPECT_EQ(descriptorsOn(db), 0) << "the window keeps a connection open";
    openAndCancelTheDatabaseDialog(window);
    runToTheEnd(window, "first");
    const std::int64_t first = window.runData()->run().id;
    EXPECT_EQ(descriptorsOn(db), 0);
    openAndCancelTheDatabaseDialog(window);
    ASSERT_TRUE(window.historyPanel()->annotateRun(first, QStringLiteral("noted between runs")));
    EXPECT_EQ(descriptorsOn(db), 0);
    runToTheEnd(window, "second");
    openAndCancelTheDatabaseDialog(window);
    ASSERT_TRUE(window.openRun(first));
    EXPECT_EQ(descriptorsOn(db), 0);
    window.close();
  }
  EXPECT_EQ(integrityCheck(db), "ok");
  auto store = Store::openExisting(db.toStdString());
  const auto runs = store->listRuns();
  ASSERT_EQ(runs.size(), 2u);
  for (const RunRecord& run : runs) {
    EXPECT_EQ(run.status, RunStatus::Completed) << run.name;
    EXPECT_EQ(run.finished_points, run.total_points) << run.name;
    EXPECT_EQ(store->loadPoints(run.id).size(), static_cast<std::size_t>(run.total_points)) << run.name;
  }
  EXPECT_EQ(runs[0].name, "second");
  EXPECT_EQ(runs[1].note, "noted between runs");
}

}  // namespace
}  // namespace attnbench::ui
