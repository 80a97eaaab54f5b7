#include "attnbench/engine/tokenizer.h"

#include "attnbench/errors.h"

#ifdef ATTNBENCH_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace attnbench::engine {

#ifdef ATTNBENCH_HAVE_SENTENCEPIECE

bool tokenizerAvailable() { return true; }

std::vector<std::int32_t> tokenize(const std::string& model_file, const std::string& text) {
  sentencepiece::SentencePieceProcessor processor;
  if (const auto status = processor.Load(model_file); !status.ok()) {
    throw InputError("cannot load tokenizer '" + model_file + "': " + status.ToString());
  }
  std::vector<int> pieces;
  if (const auto status = processor.Encode(text, &pieces); !status.ok()) {
    throw InputError("tokenizer '" + model_file + "' cannot encode the prompt: " + status.ToString());
  }
  std::vector<std::int32_t> ids;
  if (processor.bos_id() >= 0) ids.push_back(processor.bos_id());
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

#else

bool tokenizerAvailable() { return false; }

std::vector<std::int32_t> tokenize(const std::string& model_file, const std::string&) {
  throw InputError("cannot use tokenizer '" + model_file +
                   "': this build has no SentencePiece (install libsentencepiece-dev and reconfigure); "
                   "without --tokenizer, prompts are synthetic token ids");
}

#endif

}  // namespace attnbench::engine
