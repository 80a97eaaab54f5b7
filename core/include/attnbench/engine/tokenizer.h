// Prompt text to token ids with a SentencePiece model (the tokenizer.model of Llama-2 and Granite
// checkpoints). Optional: builds without libsentencepiece-dev use synthetic prompt ids instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnbench::engine {

// Whether this build can tokenize (it was built with SentencePiece).
bool tokenizerAvailable();

// The ids of `text` under the SentencePiece model in `model_file`, with the model's BOS id first
// when it has one (as Llama's tokenizer does). InputError for an unreadable model file, or when the
// build has no tokenizer.
std::vector<std::int32_t> tokenize(const std::string& model_file, const std::string& text);

}  // namespace attnbench::engine
