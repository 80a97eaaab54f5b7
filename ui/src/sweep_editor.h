// The sweep editor: models (presets or a custom shape), sequence lengths, batch sizes, dtypes,
// causal, kernels, tiles, repetitions, warm-up, correctness, device. Every field shows its own
// validation message in place; spec() is set only when the whole sweep is valid.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include <QStringList>
#include <QWidget>

#include "attnbench/device_info.h"
#include "attnbench/sweep_spec.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QSpinBox;
class QToolButton;

namespace attnbench::ui {

class SweepEditor : public QWidget {
  Q_OBJECT
 public:
  explicit SweepEditor(QWidget* parent = nullptr);

  void setDevices(const std::vector<DeviceInfo>& devices);
  void setSpec(const SweepSpec& spec);
  // The edited sweep, or nothing when a field is invalid (see errors()).
  std::optional<SweepSpec> spec() const { return spec_; }
  bool isValid() const { return spec_.has_value(); }
  // "field: message" for every invalid field (empty when valid).
  QStringList errors() const { return errors_; }

  // Sequence lengths offered as toggles (powers of two); others go in the custom field.
  static constexpr int kMinPow2 = 6, kMaxPow2 = 17;  // 64 .. 131072

 Q_SIGNALS:
  void specChanged(bool valid);

 private:
  // The form, built in groups of rows.
  void addModelRows(QFormLayout* form);
  void addAxisRows(QFormLayout* form);  // workload, sequence lengths, batch sizes, dtypes, masks, kernels, tiles
  QGroupBox* buildDecodeRows();         // new rows per sequence, page size, length spread, splits
  QSpinBox* pageSizeSpin(const QString& name);  // a KV cache page size, 0 shown as "contiguous"
  QGroupBox* buildInferenceRows();      // decode steps, depth, CUDA graphs, checkpoint, tokenizer, prompt
  void showWorkloadRows();
  void readWorkloadOptions(SweepSpec& spec);
  void addRunRows(QFormLayout* form);   // repetitions, warm-up, correctness, device
  QGroupBox* buildAdvanced();
  void revalidateOnEveryChange();
  // revalidate's steps: each reads its fields into `spec` and shows their messages in place.
  void readModels(SweepSpec& spec);
  void readAxes(SweepSpec& spec);
  void readRunOptions(SweepSpec& spec);
  void fail(QLabel* label, const QString& field_name, const QString& message);
  void showSummary();
  QWidget* field(QWidget* editor, QLabel** error);
  QWidget* fieldLayout(const QList<QWidget*>& editors, QLabel** error);
  void revalidate();
  void setError(QLabel* label, const QString& message);
  void loadPreset(int combo_index);

  // Inputs.
  QLineEdit* name_;
  QComboBox* preset_;
  QListWidget* models_;
  QGroupBox* custom_;
  QLineEdit* custom_name_;
  QSpinBox* custom_heads_;
  QSpinBox* custom_kv_heads_;
  QSpinBox* custom_head_dim_;
  std::map<int, QToolButton*> seq_buttons_;
  QLineEdit* seq_custom_;
  QLineEdit* batches_;
  std::map<DType, QCheckBox*> dtypes_;
  QCheckBox* non_causal_;
  QCheckBox* causal_;
  std::map<KernelKind, QCheckBox*> kernels_;
  QLineEdit* tiles_;
  QWidget* tiles_row_;       // shown for attention sweeps (decode has no tile axis)
  QComboBox* workload_;
  QGroupBox* decode_;        // the decode rows, shown for decode sweeps
  QLineEdit* q_lens_;
  QSpinBox* page_size_;
  QDoubleSpinBox* kv_spread_;
  QSpinBox* splits_;
  QGroupBox* inference_;     // the inference rows, shown for inference sweeps
  QSpinBox* new_tokens_;
  QSpinBox* depth_;
  QSpinBox* kv_page_size_;   // the engine's KV cache (the spec's decode.page_size for an inference sweep)
  QComboBox* compile_mode_;
  QLineEdit* ckpt_dir_;
  QLineEdit* tokenizer_;
  QLineEdit* prompt_;
  std::map<int, int> max_seq_len_by_batch_;  // a loaded spec's batch rule (the seed presets'), kept as is
  QSpinBox* repetitions_;
  QSpinBox* warmup_;
  QCheckBox* correctness_;
  QComboBox* device_;
  QSpinBox* tensor_parallel_;
  QLineEdit* max_memory_;
  QSpinBox* threads_;
  QComboBox* timing_;
  QCheckBox* l2_flush_;
  QCheckBox* cuda_graph_;
  QLineEdit* seed_;
  // Messages in place.
  QLabel* models_error_;
  QLabel* custom_error_;
  QLabel* seq_error_;
  QLabel* batch_error_;
  QLabel* dtype_error_;
  QLabel* causal_error_;
  QLabel* kernel_error_;
  QLabel* tile_error_;
  QLabel* q_lens_error_;
  QLabel* memory_error_;
  QLabel* seed_error_;
  QLabel* summary_;

  ModelPreset custom_base_;  // the custom shape last loaded, so its other fields survive a round trip
  std::optional<SweepSpec> spec_;
  QStringList errors_;
  bool loading_ = false;
};

// "1, 2, 4" -> {1, 2, 4}; a message naming the bad entry otherwise.
std::optional<std::vector<int>> parsePositiveInts(const QString& text, QString* error);

}  // namespace attnbench::ui
