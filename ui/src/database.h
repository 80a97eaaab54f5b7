// The results database as the window uses it: a path, never a connection kept open.
//
// Each operation opens the database, does its reads or its one change, and closes it again, so that
// between operations this process holds no descriptor on the file and no SQLite lock. This is what
// makes the window safe next to a worker: POSIX locks belong to the process, and a close() of *any*
// descriptor on the file (a file dialog reading it, a library checking its type) drops all of them.
// A connection kept open across such a close would look absent to the worker, which then deletes the
// WAL it still uses at the end of its run: later runs and notes are lost and the file can corrupt.
// Measurements are written by the worker process only.
#pragma once

#include <type_traits>
#include <utility>

#include <QString>

#include "attnbench/store.h"

namespace attnbench::ui {

class Database {
 public:
  Database() = default;
  // Creates the database (or migrates an older one) and closes it again. Throws like Store::open.
  static Database create(const QString& path) {
    Store::open(path.toStdString());
    return Database(path);
  }

  bool isSet() const { return !path_.isEmpty(); }
  const QString& path() const { return path_; }

  // Runs `operation` on a connection opened for it alone; Store's exceptions pass through.
  template <class Operation>
  std::invoke_result_t<Operation, Store&> use(Operation&& operation) const {
    const auto store = Store::openExisting(path_.toStdString());
    return std::forward<Operation>(operation)(*store);
  }

 private:
  explicit Database(QString path) : path_(std::move(path)) {}
  QString path_;
};

}  // namespace attnbench::ui
