// The fields of a point result, declared once: name, type, unit, description and how to read and
// write it on a PointResult. The event stream's and exports' JSON, the SQLite columns, the CSV header
// and docs/EVENTS.md are all derived from this list, so that adding a result field is a change here
// (plus computing its value) and every encoding agrees on its name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "attnbench/results.h"

namespace attnbench {

// A field's value; monostate where the point has none (a correctness field of an unchecked point).
using FieldValue = std::variant<std::monostate, std::int64_t, double, std::string, bool>;

enum class FieldType { Integer, Real, Text, Boolean };

struct ResultField {
  std::string_view name;         // the one name in JSON, SQLite, CSV and docs
  FieldType type;
  std::string_view unit;         // "ms", "bytes", "TFLOP/s", "FLOP"; empty for none
  std::string_view description;  // one line for docs and tooltips
  FieldValue (*get)(const PointResult&);
  // Writes the value back; null for fields derived from others (recomputed, never stored twice).
  void (*set)(PointResult&, const FieldValue&);
  bool describes_point = false;  // part of the point itself (problem, kernel, tile), known before it runs

  bool derived() const { return set == nullptr; }
};

// Every field, in the order of CSV columns and docs.
std::span<const ResultField> resultFields();

// The field called `name`, or null.
const ResultField* findResultField(std::string_view name);

// A value as text for CSV and tables: integers and booleans plain ("1"/"0" for booleans), reals with
// enough digits to round-trip, monostate empty.
std::string fieldText(const FieldValue& value);

// Parses text written by fieldText back into a value of `type` (empty text: monostate).
FieldValue parseFieldText(FieldType type, const std::string& text);

// The value as JSON (monostate: null) and back (null: monostate). InputError for a wrong type.
nlohmann::json fieldToJson(const FieldValue& value);
FieldValue fieldFromJson(FieldType type, const nlohmann::json& j, std::string_view name);

std::string_view fieldTypeName(FieldType type);  // "integer", "real", "text", "boolean"

// The fields as a Markdown table (name | type | unit | description), as docs/EVENTS.md shows them.
std::string resultFieldsMarkdown();

}  // namespace attnbench
