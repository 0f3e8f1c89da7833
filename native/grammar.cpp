#include "grammar.h"

#include <cmath>
#include <stdexcept>

#include "errors.h"

namespace specdec {

Grammar::Grammar(const llama_vocab* vocab, const std::string& gbnf)
    : vocab_(vocab), sampler_(gbnf.empty() ? nullptr : llama_sampler_init_grammar(vocab, gbnf.c_str(), "root")) {
  if (!sampler_) {
    fail("INVALID_ARGUMENT", "the grammar does not parse as GBNF with a root rule (or is left-recursive)");
  }
}

Grammar::Grammar(const Grammar& other) : vocab_(other.vocab_), sampler_(llama_sampler_clone(other.sampler_.get())) {
  if (!sampler_) fail("INTERNAL", "could not copy the grammar's state");
}

bool Grammar::allows(llama_token token) const {
  llama_token_data one{token, 0.0f, 0.0f};
  llama_token_data_array array{&one, 1, -1, false};
  llama_sampler_apply(sampler_.get(), &array);
  return std::isfinite(one.logit);
}

void Grammar::mask(float* logits, int32_t nVocab) const {
  scratch_.resize(nVocab);
  for (int32_t t = 0; t < nVocab; t++) scratch_[t] = {t, 0.0f, 0.0f};
  llama_token_data_array array{scratch_.data(), (size_t)nVocab, -1, false};
  llama_sampler_apply(sampler_.get(), &array);
  // the grammar engine keeps the array's order and size
  for (int32_t t = 0; t < nVocab; t++) {
    if (!std::isfinite(scratch_[t].logit)) logits[scratch_[t].id] = -INFINITY;
  }
}

void Grammar::filter(std::vector<llama_token>& tokens) const {
  scratch_.resize(tokens.size());
  for (size_t i = 0; i < tokens.size(); i++) scratch_[i] = {tokens[i], 0.0f, 0.0f};
  llama_token_data_array array{scratch_.data(), tokens.size(), -1, false};
  llama_sampler_apply(sampler_.get(), &array);
  size_t kept = 0;
  for (size_t i = 0; i < tokens.size(); i++) {
    if (std::isfinite(scratch_[i].logit)) tokens[kept++] = scratch_[i].id;
  }
  tokens.resize(kept);
}

void Grammar::accept(llama_token token) {
  try {
    llama_sampler_accept(sampler_.get(), token);
  } catch (const std::exception& e) {
    fail("INTERNAL", std::string("the grammar refused an allowed token: ") + e.what());
  }
}

size_t Grammar::allowedPrefix(const std::vector<llama_token>& tokens) const {
  if (tokens.empty()) return 0;
  Grammar state(*this);
  for (size_t i = 0; i < tokens.size(); i++) {
    if (!state.allows(tokens[i])) return i;
    if (llama_vocab_is_eog(vocab_, tokens[i])) return i + 1;
    if (i + 1 < tokens.size()) state.accept(tokens[i]);
  }
  return tokens.size();
}

}  // namespace specdec
