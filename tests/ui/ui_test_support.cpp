#include "ui_test_support.h"

#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include <QApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QSet>
#include <QSvgRenderer>
#include <QThread>
#include <QXmlStreamReader>

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

std::vector<RunEvent> fixtureEvents(const QString& stream) {
  std::ifstream in(dataPath(stream).toStdString());
  std::vector<RunEvent> events;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) events.push_back(eventFromJson(nlohmann::json::parse(line)));
  }
  return events;
}

RunRecord fixtureRun(const QString& stream) {
  for (const auto& event : fixtureEvents(stream)) {
    const auto* e = std::get_if<RunStartedEvent>(&event);
    if (e == nullptr) continue;
    RunRecord run;
    run.id = e->run_id;
    run.name = e->name;
    run.total_points = e->total_points;
    run.device = e->device;
    run.spec_json = e->spec;
    run.spec = specFromJson(e->spec);
    run.status = RunStatus::Completed;
    return run;
  }
  return {};
}

std::vector<PointResult> fixturePoints(const QString& stream) {
  std::vector<PointResult> points;
  for (const auto& event : fixtureEvents(stream)) {
    if (const auto* e = std::get_if<PointFinishedEvent>(&event)) points.push_back(e->result);
  }
  return points;
}

std::int64_t storeFixtureRun(Store& store, const QString& stream) {
  return storeFixtureRunOn(store, fixtureRun(stream).device, stream);
}

std::int64_t storeFixtureRunOn(Store& store, const DeviceInfo& device, const QString& stream) {
  const RunRecord run = fixtureRun(stream);
  const auto points = fixturePoints(stream);
  const std::int64_t id = store.createRun(run.spec, device, run.total_points);
  for (const auto& p : points) store.recordPoint(id, p);
  store.setRunStatus(id, RunStatus::Completed);
  return id;
}

QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void expectDecodablePng(const QString& path, QSize size) {
  QImage image(path);
  ASSERT_FALSE(image.isNull()) << path.toStdString();
  EXPECT_EQ(image.size(), size);
  // Something was drawn: not a blank page.
  QSet<QRgb> colors;
  for (int y = 0; y < image.height(); y += 7) {
    for (int x = 0; x < image.width(); x += 7) colors.insert(image.pixel(x, y));
  }
  EXPECT_GT(colors.size(), 5) << path.toStdString();
}

void expectParseableSvg(const QString& path) {
  QXmlStreamReader xml(readAll(path));
  int elements = 0;
  while (!xml.atEnd()) {
    if (xml.readNext() == QXmlStreamReader::StartElement) ++elements;
  }
  EXPECT_FALSE(xml.hasError()) << path.toStdString() << ": " << xml.errorString().toStdString();
  EXPECT_GT(elements, 10);
  QSvgRenderer renderer(path);
  EXPECT_TRUE(renderer.isValid()) << path.toStdString();
}

void expectPdf(const QString& path) {
  const QByteArray pdf = readAll(path);
  EXPECT_TRUE(pdf.startsWith("%PDF")) << path.toStdString();
  EXPECT_GT(pdf.size(), 1000);
}

void expectChartFiles(const QString& dir, QSize png_size) {
  for (const char* stem : {"latency", "speedup", "tflops", "memory"}) {
    const QString base = QDir(dir).filePath(QString::fromLatin1(stem));
    expectDecodablePng(base + QStringLiteral(".png"), png_size);
    expectParseableSvg(base + QStringLiteral(".svg"));
    expectPdf(base + QStringLiteral(".pdf"));
  }
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

std::int64_t createFixtureDb(const QString& db, const QString& stream) {
  auto store = Store::open(db.toStdString());
  return storeFixtureRun(*store, stream);
}

MainWindowOptions quietOptions(const QString& db) {
  MainWindowOptions options;
  options.db_path = db;
  options.use_settings = false;
  options.list_devices = false;
  return options;
}

}  // namespace attnbench::ui::test
