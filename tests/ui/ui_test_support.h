// Shared by the widget tests: one QApplication (offscreen), the recorded event stream, a store
// filled through core's API.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <QByteArray>
#include <QSize>
#include <QString>
#include <QTemporaryDir>

#include "attnbench/events.h"
#include "attnbench/store.h"
#include "main_window.h"

namespace attnbench::ui::test {

// Created on first use (never during test discovery), on the offscreen platform.
void ensureApp();

QString dataPath(const QString& name);
QString fixturePath();  // tests/ui/data/cpu_small.jsonl
inline const QString kFixture = QStringLiteral("cpu_small.jsonl");
// The events of a recorded stream, decoded as the worker client decodes them.
std::vector<RunEvent> fixtureEvents(const QString& stream = kFixture);
// The run_started event's record and the points of every point_finished event of a recorded stream
// (tests/ui/data; by default the fixture).
RunRecord fixtureRun(const QString& stream = kFixture);
std::vector<PointResult> fixturePoints(const QString& stream = kFixture);

// Records the fixture's (or a recorded stream's) run in `store` and returns its id.
std::int64_t storeFixtureRun(Store& store, const QString& stream = kFixture);
// The same run recorded as measured on `device`.
std::int64_t storeFixtureRunOn(Store& store, const DeviceInfo& device, const QString& stream = kFixture);

// The exported files of a chart: they exist and decode (gtest expectations).
QByteArray readAll(const QString& path);
void expectDecodablePng(const QString& path, QSize size);  // that size, not blank
void expectParseableSvg(const QString& path);              // well-formed, renderable
void expectPdf(const QString& path);                       // a PDF header, not empty
// <dir>/{latency,speedup,tflops,memory}.{png,svg,pdf}, the PNGs at `png_size`.
void expectChartFiles(const QString& dir, QSize png_size);

// Processes events until `done()` or `timeout_ms` passes; false on timeout.
bool waitFor(const std::function<bool()>& done, int timeout_ms);

// Creates the database `db` holding the fixture run; returns the run's id.
std::int64_t createFixtureDb(const QString& db, const QString& stream = kFixture);

// A main window on `db` that neither reads nor writes QSettings and lists no devices.
MainWindowOptions quietOptions(const QString& db);

// The fixture run in a store in a temporary folder, and a quiet main window on that store
// (ensureApp() first).
struct FixtureWindow {
  QTemporaryDir dir;
  QString db = dir.filePath(QStringLiteral("d.db"));
  std::int64_t run_id = createFixtureDb(db);
  MainWindow window{quietOptions(db)};
};

}  // namespace attnbench::ui::test
