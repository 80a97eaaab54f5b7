#include "sweep_editor.h"

#include <algorithm>
#include <set>

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QRegularExpression>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

#include "attnbench/errors.h"
#include "ui_format.h"

namespace attnbench::ui {

namespace {

QString dtypeLabel(DType d) {
  const auto name = kernels::dtypeName(d);
  return QString::fromLatin1(name.data(), static_cast<qsizetype>(name.size()));
}

QString presetLabel(const ModelPreset& m) {
  return QStringLiteral("%1  (%2 h, %3 kv, d %4)")
      .arg(qs(m.display_name.empty() ? m.name : m.display_name))
      .arg(m.heads)
      .arg(m.kv_heads)
      .arg(m.head_dim);
}

// "8GiB", "512MiB" or a plain byte count: exact, so that the spec survives the round trip.
QString exactByteSize(std::uint64_t bytes) {
  constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;
  if (bytes > 0 && bytes % kGiB == 0) return QStringLiteral("%1GiB").arg(bytes / kGiB);
  if (bytes > 0 && bytes % kMiB == 0) return QStringLiteral("%1MiB").arg(bytes / kMiB);
  return QString::number(bytes);
}

QSpinBox* spin(int lo, int hi, int value) {
  auto* s = new QSpinBox;
  s->setRange(lo, hi);
  s->setValue(value);
  return s;
}

}  // namespace

std::optional<std::vector<int>> parsePositiveInts(const QString& text, QString* error) {
  std::vector<int> values;
  for (const QString& part : text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
    bool ok = false;
    const int v = part.toInt(&ok);
    if (!ok || v <= 0) {
      *error = QStringLiteral("\"%1\" is not a positive whole number").arg(part);
      return std::nullopt;
    }
    if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
  }
  return values;
}

SweepEditor::SweepEditor(QWidget* parent) : QWidget(parent) {
  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setRowWrapPolicy(QFormLayout::DontWrapRows);
  addModelRows(form);
  addAxisRows(form);
  addRunRows(form);

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buildAdvanced());
  layout->addWidget(summary_);
  layout->addStretch(1);
  revalidateOnEveryChange();

  SweepSpec initial;
  initial.models = {builtinModels().empty() ? ModelPreset{} : builtinModels().front()};
  initial.seq_lens = {512, 1024, 2048, 4096};
  initial.batch_sizes = {1};
  initial.dtypes = {DType::F16};
  initial.causal = {false};
  initial.kernels = {KernelKind::Flash, KernelKind::Standard};
  initial.tiles = {TileShape{}};
  setSpec(initial);
}

void SweepEditor::addModelRows(QFormLayout* form) {
  preset_ = new QComboBox;
  preset_->setObjectName(QStringLiteral("preset"));
  preset_->addItem(tr("— choose a preset —"));
  for (const auto& name : sweepPresetNames()) preset_->addItem(qs(name));
  connect(preset_, &QComboBox::activated, this, &SweepEditor::loadPreset);
  form->addRow(tr("Preset"), preset_);

  name_ = new QLineEdit(QStringLiteral("sweep"));
  form->addRow(tr("Name"), name_);

  // Models: presets ticked in a list, plus an optional custom shape.
  models_ = new QListWidget;
  for (const auto& m : builtinModels()) {
    auto* item = new QListWidgetItem(presetLabel(m), models_);
    item->setData(Qt::UserRole, qs(m.name));
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
    item->setCheckState(Qt::Unchecked);
  }
  models_->setMaximumHeight(models_->sizeHintForRow(0) * 5 + 8);
  form->addRow(tr("Models"), field(models_, &models_error_));

  custom_ = new QGroupBox(tr("Custom shape"));
  custom_->setCheckable(true);
  custom_->setChecked(false);
  custom_name_ = new QLineEdit(QStringLiteral("custom"));
  custom_heads_ = spin(1, 1024, 32);
  custom_kv_heads_ = spin(1, 1024, 8);
  custom_head_dim_ = spin(1, 1024, 128);
  auto* custom_form = new QFormLayout(custom_);
  custom_form->addRow(tr("Name"), custom_name_);
  auto* heads_row = new QHBoxLayout;
  heads_row->addWidget(new QLabel(tr("heads")));
  heads_row->addWidget(custom_heads_);
  heads_row->addWidget(new QLabel(tr("kv heads")));
  heads_row->addWidget(custom_kv_heads_);
  heads_row->addWidget(new QLabel(tr("head dim")));
  heads_row->addWidget(custom_head_dim_);
  custom_form->addRow(heads_row);
  custom_error_ = new QLabel;
  custom_form->addRow(custom_error_);
  form->addRow(custom_);
}

void SweepEditor::addAxisRows(QFormLayout* form) {
  workload_ = new QComboBox;
  workload_->setObjectName(QStringLiteral("workload"));
  workload_->addItem(tr("attention (prefill operator)"), static_cast<int>(Workload::Attention));
  workload_->addItem(tr("decode (one generation step, KV cache)"), static_cast<int>(Workload::Decode));
  workload_->addItem(tr("inference (whole model: TTFT, ms/token)"), static_cast<int>(Workload::Inference));
  workload_->setToolTip(tr("attention: N queries against N keys; decode: a few new tokens per sequence against a KV "
                           "cache of N tokens, measured in GB/s"));
  form->addRow(tr("Workload"), workload_);
  decode_ = buildDecodeRows();
  form->addRow(decode_);
  inference_ = buildInferenceRows();
  form->addRow(inference_);

  // Sequence lengths: powers of two as toggles, anything else typed in.
  auto* seq_grid = new QGridLayout;
  seq_grid->setSpacing(2);
  for (int e = kMinPow2; e <= kMaxPow2; ++e) {
    const int n = 1 << e;
    auto* b = new QToolButton;
    b->setText(n >= 1024 ? QStringLiteral("%1K").arg(n / 1024) : QString::number(n));
    b->setToolTip(tr("%1 tokens").arg(n));
    b->setCheckable(true);
    b->setAutoRaise(false);
    // A ticked length must read as ticked in every style.
    b->setStyleSheet(QStringLiteral("QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); }"));
    b->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    const int i = e - kMinPow2;
    seq_grid->addWidget(b, i / 6, i % 6);
    seq_buttons_[n] = b;
  }
  seq_custom_ = new QLineEdit;
  seq_custom_->setPlaceholderText(tr("other lengths, e.g. 384, 3000"));
  auto* seq_box = new QWidget;
  auto* seq_layout = new QVBoxLayout(seq_box);
  seq_layout->setContentsMargins(0, 0, 0, 0);
  seq_layout->addLayout(seq_grid);
  seq_layout->addWidget(seq_custom_);
  form->addRow(tr("Sequence lengths"), field(seq_box, &seq_error_));

  batches_ = new QLineEdit(QStringLiteral("1"));
  batches_->setPlaceholderText(tr("e.g. 1, 4, 16"));
  form->addRow(tr("Batch sizes"), field(batches_, &batch_error_));

  QList<QWidget*> dtype_boxes;
  for (DType d : {DType::F16, DType::BF16, DType::F32}) {
    auto* c = new QCheckBox(dtypeLabel(d));
    dtypes_[d] = c;
    dtype_boxes << c;
  }
  form->addRow(tr("Dtypes"), fieldLayout(dtype_boxes, &dtype_error_));

  non_causal_ = new QCheckBox(tr("non-causal"));
  causal_ = new QCheckBox(tr("causal"));
  form->addRow(tr("Masking"), fieldLayout({non_causal_, causal_}, &causal_error_));

  const std::pair<KernelKind, QString> kernel_labels[] = {
      {KernelKind::Flash, tr("flash (fused)")}, {KernelKind::Standard, tr("standard")}, {KernelKind::Cudnn, tr("cuDNN")}};
  QList<QWidget*> kernel_boxes;
  for (const auto& [kind, label] : kernel_labels) {
    kernels_[kind] = new QCheckBox(label);
    kernel_boxes << kernels_[kind];
  }
  kernels_[KernelKind::Cudnn]->setToolTip(
      tr("NVIDIA cuDNN's fused SDPA, as a peer (NVIDIA GPUs; skipped with the reason elsewhere)"));
  form->addRow(tr("Kernels"), fieldLayout(kernel_boxes, &kernel_error_));

  tiles_ = new QLineEdit(QStringLiteral("auto"));
  tiles_->setPlaceholderText(tr("auto, 64x64, 128x64"));
  tiles_->setToolTip(tr("Flash tiles, rows of Q x rows of K/V; \"auto\" lets the kernel choose"));
  tiles_row_ = field(tiles_, &tile_error_);
  form->addRow(tr("Flash tiles"), tiles_row_);
  showWorkloadRows();
}

QSpinBox* SweepEditor::pageSizeSpin(const QString& name) {
  QSpinBox* box = spin(0, SpecLimits::kMaxPageSize, 0);
  box->setObjectName(name);
  box->setSpecialValueText(tr("contiguous"));
  box->setToolTip(tr("Tokens per page of a paged KV cache (%1-%2), or a contiguous cache")
                      .arg(SpecLimits::kMinPageSize)
                      .arg(SpecLimits::kMaxPageSize));
  return box;
}

QGroupBox* SweepEditor::buildDecodeRows() {
  auto* box = new QGroupBox(tr("Decode"));
  box->setObjectName(QStringLiteral("decodeRows"));
  auto* decode_form = new QFormLayout(box);
  q_lens_ = new QLineEdit(QStringLiteral("1"));
  q_lens_->setObjectName(QStringLiteral("qLens"));
  q_lens_->setPlaceholderText(tr("e.g. 1, 4 (1-%1)").arg(SpecLimits::kMaxQueryLen));
  q_lens_->setToolTip(tr("New tokens per sequence and step: 1 for generation, more for speculative decoding"));
  decode_form->addRow(tr("New tokens"), field(q_lens_, &q_lens_error_));
  page_size_ = pageSizeSpin(QStringLiteral("pageSize"));
  decode_form->addRow(tr("Page size"), page_size_);
  kv_spread_ = new QDoubleSpinBox;
  kv_spread_->setRange(0.0, SpecLimits::kMaxKvLensSpread);
  kv_spread_->setSingleStep(0.1);
  kv_spread_->setSpecialValueText(tr("all N"));
  kv_spread_->setToolTip(tr("Ragged batch: cache lengths drawn in N(1 ± spread), summing to B × N"));
  decode_form->addRow(tr("Length spread"), kv_spread_);
  splits_ = spin(0, SpecLimits::kMaxSplits, 0);
  splits_->setSpecialValueText(tr("auto"));
  splits_->setToolTip(tr("Flash decode's key ranges per sequence; auto lets the kernel's heuristic choose"));
  decode_form->addRow(tr("Splits"), splits_);
  return box;
}

QGroupBox* SweepEditor::buildInferenceRows() {
  auto* box = new QGroupBox(tr("Inference"));
  box->setObjectName(QStringLiteral("inferenceRows"));
  auto* inference_form = new QFormLayout(box);
  const InferenceSettings defaults;
  new_tokens_ = spin(1, SpecLimits::kMaxNewTokens, defaults.new_tokens);
  new_tokens_->setObjectName(QStringLiteral("newTokens"));
  new_tokens_->setToolTip(tr("Decode steps timed per repetition, with the KV cache"));
  inference_form->addRow(tr("Decode steps"), new_tokens_);
  depth_ = spin(0, SpecLimits::kMaxSeqLen, defaults.depth);
  depth_->setToolTip(tr("Tokens already in the KV cache before the prompt (llama-bench's pp512@d8192)"));
  inference_form->addRow(tr("KV depth"), depth_);
  kv_page_size_ = pageSizeSpin(QStringLiteral("inferencePageSize"));
  inference_form->addRow(tr("KV cache pages"), kv_page_size_);
  compile_mode_ = new QComboBox;
  for (const CompileMode mode : {CompileMode::None, CompileMode::GraphReplay}) {
    compile_mode_->addItem(qs(compileModeName(mode)), static_cast<int>(mode));
  }
  compile_mode_->setToolTip(tr("reduce-overhead: each decode step replayed from a captured CUDA graph"));
  inference_form->addRow(tr("Compile mode"), compile_mode_);
  ckpt_dir_ = new QLineEdit;
  ckpt_dir_->setPlaceholderText(tr("synthetic weights, or a Hugging Face checkpoint folder"));
  inference_form->addRow(tr("Checkpoint"), ckpt_dir_);
  tokenizer_ = new QLineEdit;
  tokenizer_->setPlaceholderText(tr("SentencePiece model for the prompt (optional)"));
  inference_form->addRow(tr("Tokenizer"), tokenizer_);
  prompt_ = new QLineEdit;
  prompt_->setPlaceholderText(tr("prompt text (needs a tokenizer); synthetic ids without"));
  inference_form->addRow(tr("Prompt"), prompt_);
  return box;
}

void SweepEditor::showWorkloadRows() {
  const auto workload = static_cast<Workload>(workload_->currentData().toInt());
  decode_->setVisible(workload == Workload::Decode);
  inference_->setVisible(workload == Workload::Inference);
  tiles_row_->setEnabled(workload == Workload::Attention);
  tiles_row_->setToolTip(workload == Workload::Attention ? QString() : tr("Only attention sweeps have a tile axis"));
}

void SweepEditor::addRunRows(QFormLayout* form) {
  repetitions_ = spin(0, SpecLimits::kMaxRepetitions, 0);
  repetitions_->setObjectName(QStringLiteral("repetitions"));
  // 0: sample until the spread is below the noise limit (docs/METHODOLOGY.md).
  repetitions_->setSpecialValueText(tr("auto"));
  const SamplingRule rule;
  repetitions_->setToolTip(tr("Timed samples per point; auto samples until the relative spread is at most "
                              "%1 % (at least %2 samples, at most %3 s per point)")
                               .arg(rule.max_noise_percent)
                               .arg(rule.min_samples)
                               .arg(rule.timeout_s));
  warmup_ = spin(0, SpecLimits::kMaxWarmup, 1);
  auto* reps = new QWidget;
  auto* reps_layout = new QHBoxLayout(reps);
  reps_layout->setContentsMargins(0, 0, 0, 0);
  reps_layout->addWidget(repetitions_);
  reps_layout->addWidget(new QLabel(tr("warm-up")));
  reps_layout->addWidget(warmup_);
  form->addRow(tr("Repetitions"), reps);

  correctness_ = new QCheckBox(tr("check against an fp64 reference"));
  form->addRow(tr("Correctness"), correctness_);

  device_ = new QComboBox;
  device_->addItem(tr("auto (first GPU, else CPU)"), QStringLiteral("auto"));
  form->addRow(tr("Device"), device_);

  tensor_parallel_ = spin(1, SpecLimits::kMaxTensorParallel, 1);
  tensor_parallel_->setObjectName(QStringLiteral("tensorParallel"));
  tensor_parallel_->setSuffix(tr(" ranks"));
  tensor_parallel_->setSpecialValueText(tr("one device"));
  tensor_parallel_->setToolTip(tr("Tensor parallel: each point split over this many GPUs from the device on (CPU "
                                  "threads on the CPU), the Megatron way. Attention and decode give each rank its "
                                  "share of the heads; inference splits the whole model (NCCL on GPUs)"));
  form->addRow(tr("Split over"), tensor_parallel_);
}

QGroupBox* SweepEditor::buildAdvanced() {
  auto* advanced = new QGroupBox(tr("Advanced"));
  auto* adv_form = new QFormLayout(advanced);
  max_memory_ = new QLineEdit;
  max_memory_->setPlaceholderText(tr("device's free memory, or e.g. 8GiB"));
  adv_form->addRow(tr("Memory budget"), field(max_memory_, &memory_error_));
  threads_ = spin(0, SpecLimits::kMaxThreads, 0);
  threads_->setSpecialValueText(tr("all"));
  adv_form->addRow(tr("CPU threads"), threads_);
  timing_ = new QComboBox;
  timing_->setObjectName(QStringLiteral("timing"));
  for (const TimingMethod method : {TimingMethod::Blocked, TimingMethod::Batch, TimingMethod::Plain}) {
    timing_->addItem(qs(timingMethodName(method)), static_cast<int>(method));
  }
  timing_->setToolTip(tr("blocked: the stream waits while the launch is enqueued (launch latency excluded); "
                         "batch: back-to-back launches; plain: events around one launch"));
  adv_form->addRow(tr("GPU timing"), timing_);
  l2_flush_ = new QCheckBox(tr("flush L2 between samples (GPU)"));
  cuda_graph_ = new QCheckBox(tr("replay a CUDA graph (GPU)"));
  adv_form->addRow(l2_flush_);
  adv_form->addRow(cuda_graph_);
  seed_ = new QLineEdit(QStringLiteral("20241125"));
  adv_form->addRow(tr("Seed"), field(seed_, &seed_error_));
  return advanced;
}

void SweepEditor::revalidateOnEveryChange() {
  for (QLineEdit* e : {name_, custom_name_, seq_custom_, batches_, tiles_, max_memory_, seed_}) {
    connect(e, &QLineEdit::textChanged, this, &SweepEditor::revalidate);
  }
  for (QSpinBox* s : {custom_heads_, custom_kv_heads_, custom_head_dim_, repetitions_, warmup_, threads_, tensor_parallel_}) {
    connect(s, &QSpinBox::valueChanged, this, &SweepEditor::revalidate);
  }
  QList<QAbstractButton*> toggles = {non_causal_, causal_, correctness_, l2_flush_, cuda_graph_};
  for (auto& [d, c] : dtypes_) toggles << c;
  for (auto& [k, c] : kernels_) toggles << c;
  for (auto& [n, b] : seq_buttons_) toggles << b;
  for (QAbstractButton* b : toggles) connect(b, &QAbstractButton::toggled, this, &SweepEditor::revalidate);
  connect(custom_, &QGroupBox::toggled, this, &SweepEditor::revalidate);
  connect(models_, &QListWidget::itemChanged, this, &SweepEditor::revalidate);
  for (QComboBox* c : {device_, timing_, workload_}) connect(c, &QComboBox::currentIndexChanged, this, &SweepEditor::revalidate);
  connect(workload_, &QComboBox::currentIndexChanged, this, &SweepEditor::showWorkloadRows);
  connect(q_lens_, &QLineEdit::textChanged, this, &SweepEditor::revalidate);
  for (QSpinBox* s : {page_size_, splits_, kv_page_size_}) connect(s, &QSpinBox::valueChanged, this, &SweepEditor::revalidate);
  connect(kv_spread_, &QDoubleSpinBox::valueChanged, this, &SweepEditor::revalidate);
  for (QSpinBox* s : {new_tokens_, depth_}) connect(s, &QSpinBox::valueChanged, this, &SweepEditor::revalidate);
  connect(compile_mode_, &QComboBox::currentIndexChanged, this, &SweepEditor::revalidate);
  for (QLineEdit* e : {ckpt_dir_, tokenizer_, prompt_}) connect(e, &QLineEdit::textChanged, this, &SweepEditor::revalidate);
}

QWidget* SweepEditor::field(QWidget* editor, QLabel** error) { return fieldLayout({editor}, error); }

QWidget* SweepEditor::fieldLayout(const QList<QWidget*>& editors, QLabel** error) {
  auto* box = new QWidget;
  auto* v = new QVBoxLayout(box);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(2);
  auto* row = new QHBoxLayout;
  for (QWidget* w : editors) row->addWidget(w);
  if (editors.size() > 1) row->addStretch(1);
  v->addLayout(row);
  *error = new QLabel;
  (*error)->setObjectName(QStringLiteral("fieldError"));
  (*error)->setWordWrap(true);
  (*error)->setStyleSheet(QStringLiteral("color: #d32f2f;"));
  (*error)->hide();
  v->addWidget(*error);
  return box;
}

void SweepEditor::setDevices(const std::vector<DeviceInfo>& devices) {
  const QString current = device_->currentData().toString();
  device_->blockSignals(true);
  while (device_->count() > 1) device_->removeItem(1);
  for (const auto& d : devices) {
    device_->addItem(QStringLiteral("%1 — %2").arg(qs(d.id), qs(d.name)), qs(d.id));
  }
  const int at = device_->findData(current);
  device_->setCurrentIndex(at >= 0 ? at : 0);
  device_->blockSignals(false);
  revalidate();
}

void SweepEditor::setSpec(const SweepSpec& spec) {
  loading_ = true;
  name_->setText(qs(spec.name));

  bool custom_set = false;
  for (int row = 0; row < models_->count(); ++row) models_->item(row)->setCheckState(Qt::Unchecked);
  custom_->setChecked(false);
  for (const auto& m : spec.models) {
    bool matched = false;
    for (int row = 0; row < models_->count(); ++row) {
      QListWidgetItem* item = models_->item(row);
      if (item->data(Qt::UserRole).toString() != qs(m.name)) continue;
      // A preset name with other numbers is a custom shape that borrowed the name.
      const ModelPreset& preset = builtinModels()[static_cast<std::size_t>(row)];
      if (preset.heads == m.heads && preset.kv_heads == m.kv_heads && preset.head_dim == m.head_dim) {
        item->setCheckState(Qt::Checked);
        matched = true;
      }
    }
    if (!matched && !custom_set) {
      custom_set = true;
      custom_base_ = m;
      custom_->setChecked(true);
      custom_name_->setText(qs(m.name));
      custom_heads_->setValue(m.heads);
      custom_kv_heads_->setValue(m.kv_heads);
      custom_head_dim_->setValue(m.head_dim);
    }
  }

  QStringList others;
  for (auto& [n, b] : seq_buttons_) b->setChecked(false);
  for (int n : spec.seq_lens) {
    if (auto it = seq_buttons_.find(n); it != seq_buttons_.end()) {
      it->second->setChecked(true);
    } else {
      others << QString::number(n);
    }
  }
  seq_custom_->setText(others.join(QStringLiteral(", ")));

  QStringList batches;
  for (int b : spec.batch_sizes) batches << QString::number(b);
  batches_->setText(batches.join(QStringLiteral(", ")));

  for (auto& [d, c] : dtypes_) c->setChecked(std::find(spec.dtypes.begin(), spec.dtypes.end(), d) != spec.dtypes.end());
  non_causal_->setChecked(std::find(spec.causal.begin(), spec.causal.end(), false) != spec.causal.end());
  causal_->setChecked(std::find(spec.causal.begin(), spec.causal.end(), true) != spec.causal.end());
  for (auto& [k, c] : kernels_) c->setChecked(std::find(spec.kernels.begin(), spec.kernels.end(), k) != spec.kernels.end());

  workload_->setCurrentIndex(workload_->findData(static_cast<int>(spec.workload)));
  QStringList q_lens;
  for (int q : spec.q_lens) q_lens << QString::number(q);
  q_lens_->setText(q_lens.join(QStringLiteral(", ")));
  page_size_->setValue(spec.decode.page_size);
  kv_spread_->setValue(spec.decode.kv_lens_spread);
  splits_->setValue(spec.decode.splits);
  kv_page_size_->setValue(spec.workload == Workload::Inference ? spec.decode.page_size : 0);
  new_tokens_->setValue(spec.inference.new_tokens);
  depth_->setValue(spec.inference.depth);
  compile_mode_->setCurrentIndex(compile_mode_->findData(static_cast<int>(spec.inference.compile_mode)));
  ckpt_dir_->setText(qs(spec.inference.ckpt_dir));
  tokenizer_->setText(qs(spec.inference.tokenizer));
  prompt_->setText(qs(spec.inference.prompt));
  max_seq_len_by_batch_ = spec.max_seq_len_by_batch;

  QStringList tiles;
  for (const auto& t : spec.tiles) tiles << qs(tileName(t));
  tiles_->setText(tiles.isEmpty() ? QStringLiteral("auto") : tiles.join(QStringLiteral(", ")));

  repetitions_->setValue(spec.repetitions);
  warmup_->setValue(spec.warmup);
  correctness_->setChecked(spec.check_correctness);
  int at = device_->findData(qs(spec.device));
  if (at < 0) {
    device_->addItem(qs(spec.device), qs(spec.device));
    at = device_->count() - 1;
  }
  device_->setCurrentIndex(at);
  tensor_parallel_->setValue(spec.tensor_parallel);
  max_memory_->setText(spec.max_memory_bytes ? exactByteSize(*spec.max_memory_bytes) : QString());
  threads_->setValue(spec.threads);
  l2_flush_->setChecked(spec.l2_flush);
  cuda_graph_->setChecked(spec.cuda_graph);
  timing_->setCurrentIndex(timing_->findData(static_cast<int>(spec.timing)));
  seed_->setText(QString::number(spec.seed));
  loading_ = false;
  revalidate();
}

void SweepEditor::loadPreset(int combo_index) {
  if (combo_index <= 0) return;
  try {
    setSpec(sweepPreset(preset_->itemText(combo_index).toStdString()));
  } catch (const std::exception& e) {
    summary_->setText(tr("Cannot load the preset: %1").arg(QString::fromUtf8(e.what())));
  }
  preset_->setCurrentIndex(0);
}

void SweepEditor::setError(QLabel* label, const QString& message) {
  label->setText(message);
  label->setVisible(!message.isEmpty());
}

void SweepEditor::revalidate() {
  if (loading_) return;
  SweepSpec spec;
  errors_.clear();
  spec.name = name_->text().trimmed().toStdString();
  if (spec.name.empty()) spec.name = "sweep";
  readModels(spec);
  readAxes(spec);
  readRunOptions(spec);

  // Field checks passed: ask core about the whole spec (ranges, combinations).
  if (errors_.isEmpty()) {
    try {
      validateSpec(spec);
    } catch (const std::exception& e) {
      errors_ << QString::fromUtf8(e.what());
    }
  }
  if (errors_.isEmpty()) {
    spec_ = spec;
  } else {
    spec_.reset();
  }
  showSummary();
  Q_EMIT specChanged(spec_.has_value());
}

void SweepEditor::fail(QLabel* label, const QString& field_name, const QString& message) {
  setError(label, message);
  if (!message.isEmpty()) errors_ << field_name + QStringLiteral(": ") + message;
}

void SweepEditor::readModels(SweepSpec& spec) {
  for (int row = 0; row < models_->count(); ++row) {
    if (models_->item(row)->checkState() == Qt::Checked) spec.models.push_back(builtinModels()[static_cast<std::size_t>(row)]);
  }
  QString custom_message;
  if (custom_->isChecked()) {
    ModelPreset m = custom_base_;
    const std::string name = custom_name_->text().trimmed().toStdString();
    if (m.name != name) {
      m.name = m.display_name = name;
      m.aliases.clear();
    }
    if (m.heads != custom_heads_->value() || m.kv_heads != custom_kv_heads_->value() ||
        m.head_dim != custom_head_dim_->value()) {
      m.heads = custom_heads_->value();
      m.kv_heads = custom_kv_heads_->value();
      m.head_dim = custom_head_dim_->value();
      m.hidden = m.heads * m.head_dim;
      m.layers = std::max(m.layers, 1);
    }
    if (m.name.empty()) {
      custom_message = tr("give the shape a name");
    } else {
      try {
        validateModelShape(m);
        spec.models.push_back(m);
      } catch (const std::exception& e) {
        custom_message = QString::fromUtf8(e.what());
      }
    }
  }
  fail(custom_error_, tr("Custom shape"), custom_message);
  fail(models_error_, tr("Models"),
       spec.models.empty() && custom_message.isEmpty() ? tr("tick at least one model or a custom shape") : QString());
}

void SweepEditor::readAxes(SweepSpec& spec) {
  QString message;
  for (auto& [n, b] : seq_buttons_) {
    if (b->isChecked()) spec.seq_lens.push_back(n);
  }
  if (auto others = parsePositiveInts(seq_custom_->text(), &message)) {
    for (int n : *others) {
      if (std::find(spec.seq_lens.begin(), spec.seq_lens.end(), n) == spec.seq_lens.end()) spec.seq_lens.push_back(n);
    }
    std::sort(spec.seq_lens.begin(), spec.seq_lens.end());
    if (spec.seq_lens.empty()) message = tr("pick at least one sequence length");
  }
  fail(seq_error_, tr("Sequence lengths"), message);

  message.clear();
  if (auto batches = parsePositiveInts(batches_->text(), &message)) {
    spec.batch_sizes = *batches;
    if (spec.batch_sizes.empty()) message = tr("give at least one batch size");
  }
  fail(batch_error_, tr("Batch sizes"), message);

  for (auto& [d, c] : dtypes_) {
    if (c->isChecked()) spec.dtypes.push_back(d);
  }
  fail(dtype_error_, tr("Dtypes"), spec.dtypes.empty() ? tr("tick at least one dtype") : QString());

  if (non_causal_->isChecked()) spec.causal.push_back(false);
  if (causal_->isChecked()) spec.causal.push_back(true);
  fail(causal_error_, tr("Masking"), spec.causal.empty() ? tr("tick non-causal, causal or both") : QString());

  for (auto& [k, c] : kernels_) {
    if (c->isChecked()) spec.kernels.push_back(k);
  }
  fail(kernel_error_, tr("Kernels"), spec.kernels.empty() ? tr("tick at least one kernel") : QString());

  message.clear();
  for (const QString& part : tiles_->text().split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
    try {
      spec.tiles.push_back(parseTile(part.toStdString()));
    } catch (const std::exception& e) {
      message = QString::fromUtf8(e.what());
      break;
    }
  }
  if (message.isEmpty() && spec.tiles.empty()) spec.tiles.push_back(TileShape{});
  fail(tile_error_, tr("Flash tiles"), message);
  readWorkloadOptions(spec);
}

void SweepEditor::readWorkloadOptions(SweepSpec& spec) {
  spec.workload = static_cast<Workload>(workload_->currentData().toInt());
  spec.max_seq_len_by_batch = max_seq_len_by_batch_;
  // Only attention points have a tile axis: the tiles field is left as typed for a switch back.
  if (spec.workload != Workload::Attention) spec.tiles = {TileShape{}};
  if (spec.workload == Workload::Inference) {
    spec.inference.new_tokens = new_tokens_->value();
    spec.inference.depth = depth_->value();
    spec.inference.compile_mode = static_cast<CompileMode>(compile_mode_->currentData().toInt());
    spec.inference.ckpt_dir = ckpt_dir_->text().trimmed().toStdString();
    spec.inference.tokenizer = tokenizer_->text().trimmed().toStdString();
    spec.inference.prompt = prompt_->text().toStdString();
    spec.decode.page_size = kv_page_size_->value();
  }
  if (spec.workload != Workload::Decode) {
    fail(q_lens_error_, tr("New tokens"), QString());
    return;
  }
  QString message;
  if (auto q_lens = parsePositiveInts(q_lens_->text(), &message)) {
    spec.q_lens = *q_lens;
    if (spec.q_lens.empty()) message = tr("give at least one count of new tokens");
  }
  fail(q_lens_error_, tr("New tokens"), message);
  spec.decode.page_size = page_size_->value();
  spec.decode.kv_lens_spread = kv_spread_->value();
  spec.decode.splits = splits_->value();
}

void SweepEditor::readRunOptions(SweepSpec& spec) {
  spec.repetitions = repetitions_->value();
  spec.warmup = warmup_->value();
  spec.check_correctness = correctness_->isChecked();
  spec.device = device_->currentData().toString().toStdString();
  spec.tensor_parallel = tensor_parallel_->value();

  QString message;
  if (!max_memory_->text().trimmed().isEmpty()) {
    try {
      spec.max_memory_bytes = parseByteSize(max_memory_->text().trimmed().toStdString());
    } catch (const std::exception& e) {
      message = QString::fromUtf8(e.what());
    }
  }
  fail(memory_error_, tr("Memory budget"), message);
  spec.threads = threads_->value();
  spec.timing = static_cast<TimingMethod>(timing_->currentData().toInt());
  spec.l2_flush = l2_flush_->isChecked();
  spec.cuda_graph = cuda_graph_->isChecked();

  bool seed_ok = false;
  const qulonglong seed = seed_->text().trimmed().toULongLong(&seed_ok);
  if (seed_ok) spec.seed = seed;
  fail(seed_error_, tr("Seed"), seed_ok ? QString() : tr("a whole number ≥ 0"));
}

void SweepEditor::showSummary() {
  if (!spec_) {
    summary_->setStyleSheet(QStringLiteral("color: #d32f2f;"));
    summary_->setText(errors_.size() == 1 ? errors_.front() : tr("%1 fields need attention").arg(errors_.size()));
    return;
  }
  const auto points = expandPoints(*spec_);
  QStringList per_kernel;
  for (const KernelKind kind : spec_->kernels) {
    const auto count = std::count_if(points.begin(), points.end(), [kind](const SweepPoint& p) { return p.kernel == kind; });
    per_kernel << QStringLiteral("%1 %2").arg(count).arg(qs(kernelName(kind)));
  }
  summary_->setStyleSheet(QString());
  summary_->setText(tr("%1 points: %2, %3")
                        .arg(points.size())
                        .arg(per_kernel.join(QStringLiteral(", ")))
                        .arg(spec_->repetitions > 0 ? tr("%1 timed runs each").arg(spec_->repetitions)
                                                    : tr("sampled until the noise is below %1 %")
                                                          .arg(spec_->sampling.max_noise_percent)));
}

}  // namespace attnbench::ui
