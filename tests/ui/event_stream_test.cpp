#include <gtest/gtest.h>

#include <QtCharts/QXYSeries>

#include <QElapsedTimer>
#include <QFile>
#include <QLegendMarker>
#include <QSignalSpy>
#include <QTest>
#include <QToolTip>
#include <QtCharts/QChart>
#include <QtCharts/QChartView>
#include <QtCharts/QLineSeries>
#include <QtCharts/QLogValueAxis>

#include "chart_panel.h"
#include "results_model.h"
#include "run_data.h"
#include "ui_test_support.h"
#include "worker_client.h"

namespace attnbench::ui {
namespace {

QLineSeries* findLine(QChart* chart, const QString& name) {
  for (QAbstractSeries* s : chart->series()) {
    if (s->name() == name) return qobject_cast<QLineSeries*>(s);
  }
  return nullptr;
}

// Feeds the recorded stream in chunks that cut lines anywhere, as a pipe does; every line is an
// event. Without an event loop in between, so the views see what RunData's throttle hands them.
void feedFixture(RunData& data, int chunk_size) {
  QFile file(test::fixturePath());
  ASSERT_TRUE(file.open(QIODevice::ReadOnly));
  const QByteArray bytes = file.readAll();
  EventLineReader reader;
  for (qsizetype at = 0; at < bytes.size(); at += chunk_size) {
    for (const auto& line : reader.feed(bytes.mid(at, chunk_size))) {
      ASSERT_TRUE(line.event.has_value()) << line.text.toStdString();
      ASSERT_FALSE(std::holds_alternative<NoteEvent>(*line.event) && std::get<NoteEvent>(*line.event).level == "warning")
          << std::get<NoteEvent>(*line.event).message;
      data.applyEvent(*line.event);
    }
  }
  for (const auto& line : reader.finish()) data.applyEvent(*line.event);
}

const NoteEvent* warningOf(const EventLineReader::Line& line) {
  const auto* note = line.event ? std::get_if<NoteEvent>(&*line.event) : nullptr;
  return note != nullptr && note->level == "warning" ? note : nullptr;
}

TEST(EventLineReader, SplitsChunksIntoTypedEvents) {
  EventLineReader reader;
  auto lines = reader.feed("{\"event\":\"no");
  EXPECT_TRUE(lines.empty());
  lines = reader.feed("te\",\"level\":\"info\",\"message\":\"hello\"}\nplain text\n\n{\"event\":\"run_finished\",");
  ASSERT_EQ(lines.size(), 2u);
  ASSERT_TRUE(lines[0].event.has_value());
  ASSERT_TRUE(std::holds_alternative<NoteEvent>(*lines[0].event));
  EXPECT_EQ(std::get<NoteEvent>(*lines[0].event).message, "hello");
  EXPECT_EQ(std::get<NoteEvent>(*lines[0].event).level, "info");
  EXPECT_FALSE(lines[1].event.has_value());
  EXPECT_EQ(lines[1].text, "plain text");
  lines = reader.feed("\"run_id\":4,\"status\":\"interrupted\"}\r\n");
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_TRUE(lines[0].event.has_value());
  ASSERT_TRUE(std::holds_alternative<RunFinishedEvent>(*lines[0].event));
  EXPECT_EQ(std::get<RunFinishedEvent>(*lines[0].event).run_id, 4);
  EXPECT_EQ(std::get<RunFinishedEvent>(*lines[0].event).status, RunStatus::Interrupted);
  EXPECT_TRUE(reader.finish().empty());
}

// Broken JSON, a wrong field type, an unknown kind: each becomes one warning note that says what
// is wrong, and RunData logs it without changing the run.
TEST(EventLineReader, MalformedLinesBecomeWarnings) {
  test::ensureApp();
  EventLineReader reader;
  const auto lines = reader.feed(
      "{\"event\":\"point_finished\",\"run_id\":1\n"
      "{\"event\":\"point_finished\",\"run_id\":1,\"done\":1,\"total\":2,\"result\":\"not an object\"}\n"
      "{\"event\":\"run_finished\",\"run_id\":\"one\",\"status\":\"completed\"}\n"
      "{\"event\":\"something_new\"}\n");
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) {
    const NoteEvent* warning = warningOf(line);
    ASSERT_NE(warning, nullptr) << line.text.toStdString();
    EXPECT_NE(warning->message.find("unreadable event"), std::string::npos) << warning->message;
  }
  EXPECT_NE(warningOf(lines[0])->message.find("not valid JSON"), std::string::npos) << warningOf(lines[0])->message;
  EXPECT_NE(warningOf(lines[3])->message.find("something_new"), std::string::npos) << warningOf(lines[3])->message;

  RunData data;
  data.reset(test::fixtureRun(), {});
  QSignalSpy notes(&data, &RunData::note);
  for (const auto& line : lines) data.applyEvent(*line.event);
  ASSERT_EQ(notes.count(), 4);
  for (const auto& args : notes) EXPECT_EQ(args.at(0).toString(), QStringLiteral("warning"));
  EXPECT_TRUE(data.points().empty());
  EXPECT_EQ(data.run().status, RunStatus::Completed);
}

TEST(EventStream, FillsTableAndChartsPointByPoint) {
  test::ensureApp();
  RunData data;
  ResultsView results(&data);
  ChartPanel charts(&data);
  QSignalSpy updates(&data, &RunData::pointsUpdated);
  QSignalSpy resets(&data, &RunData::runReset);
  QSignalSpy notes(&data, &RunData::note);
  QSignalSpy finished(&data, &RunData::runFinished);
  QSignalSpy progress(&data, &RunData::progressChanged);

  // Remember the first series: later points must extend it, not rebuild the chart.
  QLineSeries* first_series = nullptr;
  QObject::connect(&data, &RunData::pointsUpdated, &data, [&](const QList<int>& rows) {
    if (rows.contains(0)) first_series = findLine(charts.charts()->chart(ChartKind::Latency), QStringLiteral("flash B=1"));
  });

  feedFixture(data, 97);  // ends with run_finished, which hands the views every point

  EXPECT_EQ(resets.count(), 1);
  QList<int> updated;
  for (const auto& args : updates) updated += args.at(0).value<QList<int>>();
  EXPECT_EQ(updated, (QList<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // One refresh at once for the first point, one for the rest (fed faster than kRefreshMs).
  EXPECT_EQ(updates.count(), 2);
  EXPECT_EQ(data.points().size(), 12u);
  EXPECT_EQ(data.donePoints(), 12);
  EXPECT_EQ(data.totalPoints(), 12);
  EXPECT_EQ(progress.last().at(0).toInt(), 12);
  ASSERT_EQ(finished.count(), 1);
  EXPECT_EQ(finished.first().at(0).toString(), QStringLiteral("completed"));
  EXPECT_EQ(data.run().status, RunStatus::Completed);
  EXPECT_FALSE(data.live());
  // The stream's one note (the window logs a line per finished point from pointsUpdated).
  ASSERT_EQ(notes.count(), 1);
  EXPECT_EQ(notes.at(0).at(0).toString(), QStringLiteral("info"));

  // Table: every point, filterable by status and by words.
  EXPECT_EQ(results.model()->rowCount(), 12);
  results.filter()->setStatus(QStringLiteral("skipped"));
  EXPECT_EQ(results.filter()->rowCount(), 3);
  results.filter()->setStatus(QString());
  results.filter()->setText(QStringLiteral("standard skipped"));
  EXPECT_EQ(results.filter()->rowCount(), 2);
  results.filter()->setText(QString());
  results.filter()->sort(ResultsModel::Median, Qt::DescendingOrder);
  const double slowest = results.filter()->index(0, ResultsModel::Median).data(ResultsModel::SortRole).toDouble();
  const double next = results.filter()->index(1, ResultsModel::Median).data(ResultsModel::SortRole).toDouble();
  EXPECT_GE(slowest, next);

  // Charts: one series per kernel x batch, plus the reference lines.
  RunCharts* c = charts.charts();
  EXPECT_EQ(c->seriesCount(ChartKind::Latency), 4);
  EXPECT_EQ(c->seriesCount(ChartKind::Speedup), 3);     // B=1, B=2, parity
  EXPECT_EQ(c->seriesCount(ChartKind::Throughput), 5);  // + GEMM ceiling
  EXPECT_EQ(c->seriesCount(ChartKind::Memory), 6);      // + device memory + OOM/skipped markers
  QLineSeries* flash1 = findLine(c->chart(ChartKind::Latency), QStringLiteral("flash B=1"));
  ASSERT_NE(flash1, nullptr);
  EXPECT_EQ(flash1, first_series);
  ASSERT_EQ(flash1->count(), 3);
  EXPECT_EQ(flash1->at(0).x(), 128);
  EXPECT_EQ(flash1->at(2).x(), 512);
  EXPECT_GT(flash1->at(0).y(), 0);
  QLineSeries* speedup1 = findLine(c->chart(ChartKind::Speedup), QStringLiteral("B=1"));
  ASSERT_NE(speedup1, nullptr);
  EXPECT_EQ(speedup1->count(), 2);  // N=512 has no standard point (skipped)
  QStringList names;
  for (QAbstractSeries* s : c->chart(ChartKind::Throughput)->series()) names << s->name();
  EXPECT_TRUE(names.contains(QStringLiteral("GEMM ceiling"))) << names.join(QLatin1Char('|')).toStdString();
  QLineSeries* ceiling = findLine(c->chart(ChartKind::Throughput), QStringLiteral("GEMM ceiling"));
  ASSERT_NE(ceiling, nullptr);
  EXPECT_DOUBLE_EQ(ceiling->at(0).y(), test::fixtureRun().device.ceilings->gemm_tflops);
}

// A burst of points without run_finished (a live run): the first is drawn at once, the rest on the
// one refresh timer, within RunData::kRefreshMs, in one batch; the table and progress follow with it.
TEST(EventStream, ABurstIsDrawnInOneRefresh) {
  test::ensureApp();
  RunData data;
  ChartPanel charts(&data);
  ResultsView results(&data);
  QSignalSpy updates(&data, &RunData::pointsUpdated);
  QSignalSpy progress(&data, &RunData::progressChanged);
  for (const RunEvent& event : test::fixtureEvents()) {
    if (!std::holds_alternative<RunFinishedEvent>(event)) data.applyEvent(event);
  }
  QLineSeries* flash1 = findLine(charts.charts()->chart(ChartKind::Latency), QStringLiteral("flash B=1"));
  ASSERT_NE(flash1, nullptr);  // every curve of the spec exists from run_started on
  EXPECT_EQ(updates.count(), 1);
  EXPECT_EQ(flash1->count(), 1);
  EXPECT_EQ(results.model()->rowCount(), 1);
  const int progress_before = static_cast<int>(progress.count());
  QElapsedTimer clock;
  clock.start();
  ASSERT_TRUE(test::waitFor([&] { return flash1->count() == 3; }, 10 * RunData::kRefreshMs));
  EXPECT_LE(clock.elapsed(), 3 * RunData::kRefreshMs);
  EXPECT_EQ(updates.count(), 2);
  EXPECT_EQ(updates.last().at(0).value<QList<int>>().size(), 11);
  EXPECT_EQ(results.model()->rowCount(), 12);
  ASSERT_EQ(progress.count(), progress_before + 1);
  EXPECT_EQ(progress.last().at(0).toInt(), 12);
}

// A backlog goes to the views at most kMaxRowsPerRefresh rows a refresh; at the run's end all of it,
// before runFinished.
TEST(EventStream, ABacklogGoesOutInBoundedRefreshesAndAllBeforeTheEnd) {
  test::ensureApp();
  RunData data;
  data.reset(test::fixtureRun(), {});
  int delivered = 0, largest = 0, delivered_at_finish = -1;
  QObject::connect(&data, &RunData::pointsUpdated, &data, [&](const QList<int>& rows) {
    delivered += static_cast<int>(rows.size());
    largest = std::max(largest, static_cast<int>(rows.size()));
  });
  QObject::connect(&data, &RunData::runFinished, &data, [&] { delivered_at_finish = delivered; });
  const PointResult model = test::fixturePoints().front();
  auto add = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      PointResult p = model;
      p.point.index = i;
      data.addPoint(p);
    }
  };
  constexpr int kBacklog = 3 * RunData::kMaxRowsPerRefresh + 7;
  add(0, kBacklog);
  EXPECT_EQ(delivered, 1);  // the first at once, the rest on the timer
  ASSERT_TRUE(test::waitFor([&] { return delivered == kBacklog; }, 20 * RunData::kRefreshMs));
  EXPECT_EQ(largest, RunData::kMaxRowsPerRefresh);

  add(kBacklog, 2 * kBacklog);
  RunFinishedEvent finished;
  finished.run_id = data.run().id;
  data.applyEvent(finished);
  EXPECT_EQ(delivered_at_finish, 2 * kBacklog);
  EXPECT_EQ(data.points().size(), static_cast<std::size_t>(2 * kBacklog));
}

TEST(RunCharts, NamesCurvesAsTheSpecDoesForPointsReadBack) {
  test::ensureApp();
  SweepSpec spec = test::fixtureRun().spec;
  spec.models = {findModel("llama-2-7b"), findModel("llama-3-8b")};
  RunCharts charts;
  charts.reset({ChartRun{spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  const int curves = charts.seriesCount(ChartKind::Latency);
  EXPECT_EQ(curves, 10);  // 2 models x 2 batch sizes x 2 kernels before any point, + 2 line-style keys
  // Points from events or the store carry the model's id ("llama-2-7b") as its display name.
  const auto points = test::fixturePoints();
  ASSERT_EQ(points.front().point.model.display_name, "llama-2-7b");
  charts.addPoints(points);
  EXPECT_EQ(charts.seriesCount(ChartKind::Latency), curves);
  QLineSeries* flash1 = findLine(charts.chart(ChartKind::Latency), QStringLiteral("flash B=1 Llama-2-7B"));
  ASSERT_NE(flash1, nullptr);
  EXPECT_EQ(flash1->count(), 3);
}

TEST(EventStream, ReplacesAPointRecordedAgain) {
  test::ensureApp();
  RunData data;
  ResultsView results(&data);
  feedFixture(data, 4096);
  QSignalSpy updates(&data, &RunData::pointsUpdated);
  PointResult again = data.points()[0];
  again.stats.median_ms *= 2;
  data.addPoint(again);
  data.flushUpdates();
  ASSERT_EQ(updates.count(), 1);
  EXPECT_EQ(updates.first().at(0).value<QList<int>>(), QList<int>{0});
  EXPECT_EQ(results.model()->index(0, ResultsModel::Median).data(ResultsModel::SortRole).toDouble(), again.stats.median_ms);
  EXPECT_EQ(data.points().size(), 12u);
  EXPECT_EQ(results.model()->rowCount(), 12);
}

TEST(EventStream, ALiveRunKnowsItsProvenanceFromTheStart) {
  test::ensureApp();
  RunData data;
  RunStartedEvent started;
  started.run_id = 3;
  started.total_points = 2;
  started.provenance = {{"gpu.name", "NVIDIA H200"}, {"timing.repetitions", "5"}};
  data.applyEvent(eventFromJson(eventToJson(started)));  // as a worker's line arrives
  EXPECT_EQ(data.run().id, 3);
  EXPECT_EQ(data.run().provenance.value("gpu.name"), "NVIDIA H200");
  EXPECT_EQ(data.run().provenance.value("timing.repetitions"), "5");
}

TEST(RunCharts, LabelsALongSequenceAxisPerQuadrupling) {
  test::ensureApp();
  RunCharts charts;
  SweepSpec spec = test::fixtureRun().spec;
  charts.reset({ChartRun{spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  auto* x = qobject_cast<QLogValueAxis*>(charts.chart(ChartKind::Latency)->axes(Qt::Horizontal).at(0));
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->base(), 2.0);  // 128..512: a label per doubling
  // 64..65536: a label per doubling would be cut short, even slanted.
  spec.seq_lens = {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
  charts.reset({ChartRun{spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  EXPECT_EQ(x->base(), 4.0);
  EXPECT_EQ(x->labelsAngle(), 0);
  EXPECT_EQ(x->labelFormat(), QStringLiteral("%.0f"));
  EXPECT_LT(x->min(), 64);
  EXPECT_GT(x->max(), 65536);
}

TEST(RunCharts, ManyCurvesGetAGroupedLegendAndGiBForAGpu) {
  test::ensureApp();
  SweepSpec spec = test::fixtureRun().spec;
  spec.models = {findModel("llama-2-7b"), findModel("llama-3-8b")};
  DeviceInfo gpu = test::fixtureRun().device;
  gpu.memory_bytes = 80ULL << 30;
  RunCharts charts;
  charts.reset({ChartRun{spec, gpu, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints());
  QChart* latency = charts.chart(ChartKind::Latency);
  QChartView view(latency);  // legend entries are visible only in a shown chart
  view.resize(900, 600);
  view.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
  EXPECT_EQ(latency->legend()->alignment(), Qt::AlignRight);
  QStringList entries;
  for (QLegendMarker* m : latency->legend()->markers()) {
    if (m->isVisible()) entries << m->label();
  }
  EXPECT_EQ(entries, (QStringList{QStringLiteral("flash: solid ●"), QStringLiteral("standard: dashed ▲"), QStringLiteral("B=1 Llama-2-7B"),
                                  QStringLiteral("B=2 Llama-2-7B"), QStringLiteral("B=1 Llama-3-8B"),
                                  QStringLiteral("B=2 Llama-3-8B")}));
  // The "standard" key hides every standard curve, and brings them back.
  QLineSeries* key = findLine(latency, QStringLiteral("standard: dashed ▲"));
  ASSERT_NE(key, nullptr);
  QLineSeries* standard1 = findLine(latency, QStringLiteral("standard B=1 Llama-2-7B"));
  QLineSeries* flash1 = findLine(latency, QStringLiteral("flash B=1 Llama-2-7B"));
  ASSERT_TRUE(standard1 != nullptr && flash1 != nullptr);
  Q_EMIT latency->legend()->markers(key).at(0)->clicked();
  EXPECT_FALSE(standard1->isVisible());
  EXPECT_TRUE(flash1->isVisible());
  Q_EMIT latency->legend()->markers(key).at(0)->clicked();
  EXPECT_TRUE(standard1->isVisible());
  EXPECT_FALSE(latency->legend()->markers(standard1).at(0)->isVisible());  // still no entry of its own
  // A group's entry hides both of its kernels.
  Q_EMIT latency->legend()->markers(flash1).at(0)->clicked();
  EXPECT_FALSE(flash1->isVisible());
  EXPECT_FALSE(standard1->isVisible());

  auto* memory_axis = charts.chart(ChartKind::Memory)->axes(Qt::Vertical).at(0);
  EXPECT_EQ(memory_axis->titleText(), QStringLiteral("Peak memory (GiB)"));
  QLineSeries* size = findLine(charts.chart(ChartKind::Memory), QStringLiteral("memory size"));
  ASSERT_NE(size, nullptr);
  EXPECT_DOUBLE_EQ(size->at(0).y(), 80.0);
  view.setChart(new QChart);  // the charts stay with their owner
}

TEST(RunCharts, FollowsADarkPaletteAndKeepsKernelStyles) {
  test::ensureApp();
  RunCharts charts;
  charts.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints());
  charts.setDark(true);
  QChart* latency = charts.chart(ChartKind::Latency);
  EXPECT_EQ(latency->theme(), QChart::ChartThemeDark);
  auto pen = [&](const char* name) {
    for (QAbstractSeries* s : latency->series()) {
      if (s->name() == QLatin1String(name)) return static_cast<QLineSeries*>(s)->pen();
    }
    return QPen();
  };
  EXPECT_EQ(pen("flash B=1").style(), Qt::SolidLine);
  EXPECT_EQ(pen("standard B=1").style(), Qt::DashLine);
  EXPECT_EQ(pen("flash B=1").color(), pen("standard B=1").color());  // one colour per batch size
  EXPECT_NE(pen("flash B=1").color(), pen("flash B=2").color());
  charts.setDark(false);
  EXPECT_EQ(latency->theme(), QChart::ChartThemeLight);
}


TEST(RunCharts, HoverShowsThePointsValues) {
  test::ensureApp();
  RunData data;
  ChartPanel panel(&data);
  panel.resize(1200, 800);
  panel.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&panel));
  data.reset(test::fixtureRun(), test::fixturePoints());
  QCoreApplication::processEvents();
  QChartView* view = panel.view(ChartKind::Latency);
  QChart* chart = view->chart();
  QLineSeries* flash = findLine(chart, QStringLiteral("flash B=1"));
  ASSERT_NE(flash, nullptr);
  // Sweep the cursor across the data point at N=256 until Qt reports the hover.
  const QPointF at = chart->mapToPosition(flash->at(1), flash);
  const QPoint in_view = view->mapFromScene(chart->mapToScene(at));
  bool hovered = false;
  // The curve's markers lie over its points: they or the line report the hover, with the same tooltip.
  QObject::connect(flash, &QXYSeries::hovered, [&](const QPointF&, bool state) { hovered = hovered || state; });
  QObject::connect(panel.charts()->markersOf(flash), &QXYSeries::hovered, [&](const QPointF&, bool state) { hovered = hovered || state; });
  for (int dx = -6; dx <= 6 && !hovered; ++dx) {
    QTest::mouseMove(view->viewport(), in_view + QPoint(dx, 0));
    QCoreApplication::processEvents();
  }
  EXPECT_TRUE(hovered);
  if (hovered) {
    EXPECT_TRUE(QToolTip::text().contains(QLatin1String("N = 256"))) << QToolTip::text().toStdString();
    EXPECT_TRUE(QToolTip::text().contains(QLatin1String("median"))) << QToolTip::text().toStdString();
  }
}


TEST(RunCharts, ClickingALegendEntryHidesItsSeries) {
  test::ensureApp();
  RunCharts charts;
  charts.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints());
  QChart* chart = charts.chart(ChartKind::Latency);
  QLineSeries* standard = findLine(chart, QStringLiteral("standard B=2"));
  ASSERT_NE(standard, nullptr);
  QLegendMarker* marker = chart->legend()->markers(standard).at(0);
  Q_EMIT marker->clicked();
  QCoreApplication::processEvents();
  EXPECT_FALSE(standard->isVisible());
  EXPECT_TRUE(marker->isVisible());  // stays in the legend to bring the series back

  // An export of these charts leaves the hidden series out.
  RunCharts exported;
  exported.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  exported.addPoints(test::fixturePoints());
  charts.setLogScale(ChartKind::Throughput, Qt::Vertical, true);
  exported.copyViewOf(charts);
  EXPECT_FALSE(findLine(exported.chart(ChartKind::Latency), QStringLiteral("standard B=2"))->isVisible());
  EXPECT_TRUE(exported.logScale(ChartKind::Throughput, Qt::Vertical));  // the scales follow too
  EXPECT_TRUE(exported.logScale(ChartKind::Latency, Qt::Horizontal));
  EXPECT_FALSE(exported.logScale(ChartKind::Speedup, Qt::Vertical));
  EXPECT_TRUE(findLine(exported.chart(ChartKind::Latency), QStringLiteral("flash B=2"))->isVisible());

  Q_EMIT marker->clicked();
  EXPECT_TRUE(standard->isVisible());
}

// A legend click hides the series of that name in all four charts, and a second brings it back.
TEST(RunCharts, HidingASeriesHidesItInEveryChart) {
  test::ensureApp();
  RunCharts charts;
  charts.reset({ChartRun{test::fixtureRun().spec, test::fixtureRun().device, QStringLiteral("#1")}}, QString());
  charts.addPoints(test::fixturePoints());
  QLineSeries* clicked = findLine(charts.chart(ChartKind::Latency), QStringLiteral("standard B=2"));
  ASSERT_NE(clicked, nullptr);
  const std::vector<ChartKind> with_curve = {ChartKind::Latency, ChartKind::Throughput, ChartKind::Memory};
  for (bool shown : {false, true}) {
    Q_EMIT charts.chart(ChartKind::Latency)->legend()->markers(clicked).at(0)->clicked();
    for (ChartKind kind : with_curve) {
      QLineSeries* same = findLine(charts.chart(kind), QStringLiteral("standard B=2"));
      ASSERT_NE(same, nullptr) << chartStem(kind).toStdString();
      EXPECT_EQ(same->isVisible(), shown) << chartStem(kind).toStdString();
      // Its entry dimmed while hidden, there to bring it back.
      EXPECT_EQ(charts.chart(kind)->legend()->markers(same).at(0)->labelBrush().color().alphaF() == 1.0f, shown);
      EXPECT_TRUE(findLine(charts.chart(kind), QStringLiteral("flash B=2"))->isVisible());
    }
    // The speedup curve of B=2 is another series (both kernels'): it stays.
    EXPECT_TRUE(findLine(charts.chart(ChartKind::Speedup), QStringLiteral("B=2"))->isVisible());
  }
  // The same from the memory chart's entry.
  QLineSeries* in_memory = findLine(charts.chart(ChartKind::Memory), QStringLiteral("flash B=1"));
  Q_EMIT charts.chart(ChartKind::Memory)->legend()->markers(in_memory).at(0)->clicked();
  for (ChartKind kind : with_curve) EXPECT_FALSE(findLine(charts.chart(kind), QStringLiteral("flash B=1"))->isVisible());
}

// Llama-2-7B and Granite-7B have one attention shape: one curve per kernel and batch, named after
// both, not two drawn over each other; Llama-3-8B (8 KV heads) keeps its own.
TEST(RunCharts, ModelsOfOneShapeShareACurveNamedAfterBoth) {
  test::ensureApp();
  RunRecord run = test::fixtureRun();
  run.spec.models = {findModel("llama-2-7b"), findModel("granite-7b-instruct"), findModel("llama-3-8b")};
  std::vector<PointResult> points;
  for (const PointResult& p : test::fixturePoints()) {
    for (const char* model : {"llama-2-7b", "granite-7b-instruct", "llama-3-8b"}) {
      PointResult copy = p;
      copy.point.model = ModelPreset{};
      copy.point.model.name = model;  // as read back: the id only
      points.push_back(copy);
    }
  }
  RunCharts charts;
  charts.reset({ChartRun{run.spec, run.device, QStringLiteral("#1")}}, QString());
  charts.addPoints(points);
  QStringList names;
  for (QAbstractSeries* s : charts.chart(ChartKind::Latency)->series()) {
    // Unnamed: a curve's markers.
    if (auto* xy = qobject_cast<QXYSeries*>(s); xy != nullptr && xy->count() > 0 && !xy->name().isEmpty()) names << xy->name();
  }
  names.sort();
  // 2 kernels x 2 batches for each of the two shapes.
  EXPECT_EQ(names.size(), 8) << names.join(QStringLiteral(", ")).toStdString();
  EXPECT_EQ(names.filter(QStringLiteral("Llama-2-7B / Granite-7B-Instruct")).size(), 4) << names.join(QStringLiteral(", ")).toStdString();
  EXPECT_EQ(names.filter(QStringLiteral("Llama-3-8B")).size(), 4);
}

}  // namespace
}  // namespace attnbench::ui
