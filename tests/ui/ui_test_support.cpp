#include "ui_test_support.h"

#include <fstream>
#include <functional>

#include <QApplication>
#include <QDeadlineTimer>
#include <QThread>

namespace attnbench::ui::test {

void ensureApp() {
  if (QCoreApplication::instance() != nullptr) return;
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  static int argc = 1;
  static char name[] = "ui_tests";
  static char* argv[] = {name, nullptr};
  // Never destroyed: a QApplication torn down among the static destructors runs Qt's post
  // routines after parts of QtGui are gone, and crashes at exit.
  new QApplication(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("attnbench-tests"));
  QApplication::setApplicationName(QStringLiteral("ui_tests"));
}

QString dataPath(const QString& name) { return QStringLiteral(ATTNBENCH_UI_TEST_DATA "/") + name; }

QString fixturePath() { return dataPath(QStringLiteral("cpu_small.jsonl")); }

std::vector<nlohmann::json> fixtureEvents() {
  std::ifstream in(fixturePath().toStdString());
  std::vector<nlohmann::json> events;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) events.push_back(nlohmann::json::parse(line));
  }
  return events;
}

RunRecord fixtureRun() {
  for (const auto& e : fixtureEvents()) {
    if (e["event"] != "run_started") continue;
    RunRecord run;
    run.id = e["run_id"].get<std::int64_t>();
    run.name = e["name"].get<std::string>();
    run.total_points = e["total_points"].get<int>();
    run.device = deviceInfoFromJson(e["device"]);
    run.spec_json = e["spec"];
    run.spec = specFromJson(e["spec"]);
    run.status = RunStatus::Completed;
    return run;
  }
  return {};
}

std::vector<PointResult> fixturePoints() {
  std::vector<PointResult> points;
  for (const auto& e : fixtureEvents()) {
    if (e["event"] == "point_finished") points.push_back(pointResultFromJson(e["result"]));
  }
  return points;
}

std::int64_t storeFixtureRun(Store& store) {
  const RunRecord run = fixtureRun();
  const auto points = fixturePoints();
  const std::int64_t id = store.createRun(run.spec, run.device, run.total_points);
  for (const auto& p : points) store.recordPoint(id, p);
  store.setRunStatus(id, RunStatus::Completed);
  return id;
}

bool waitFor(const std::function<bool()>& done, int timeout_ms) {
  QDeadlineTimer deadline(timeout_ms);
  while (!done()) {
    if (deadline.hasExpired()) return false;
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    QThread::msleep(5);
  }
  return true;
}

}  // namespace attnbench::ui::test
