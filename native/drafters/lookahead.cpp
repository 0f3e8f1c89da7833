#include "lookahead.h"

#include <algorithm>

namespace specdec {

LookaheadDrafter::LookaheadDrafter(LookaheadOptions options) : options_(options) {}

void LookaheadDrafter::propose(const std::vector<llama_token>& context, int maxTokens, Sampler&, const Grammar*,
                              std::vector<Draft>& out) {
  out.clear();
  if (context.empty() || maxTokens <= 0) return;
  auto it = pool_.find(context.back());
  if (it == pool_.end()) return;
  for (auto g = it->second.rbegin(); g != it->second.rend(); ++g) {  // newest first
    Draft& d = out.emplace_back();
    d.tokens.assign(g->begin(), g->begin() + std::min<size_t>(g->size(), (size_t)maxTokens));
  }
}

// Fills the newest level with tokens of the text (the Jacobi iteration needs a start, any start).
void LookaheadDrafter::shift(const std::vector<llama_token>& context) {
  previous_ = levels_[0];
  for (size_t j = 0; j + 1 < levels_.size(); j++) levels_[j] = levels_[j + 1];
  for (llama_token& t : levels_.back()) {
    rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
    t = context[(rng_ >> 33) % context.size()];
  }
}

const std::vector<LookaheadToken>& LookaheadDrafter::window(const std::vector<llama_token>& context) {
  const int32_t W = options_.window, levels = options_.ngram - 1;
  if (levels_.empty()) {
    levels_.assign(levels, std::vector<llama_token>(W));
    for (int32_t j = 0; j < levels; j++) shift(context);
  }
  // As llama.cpp's lookahead: level 0, column i (i >= 1; column 0 is the anchor itself) at
  // offset i, in the sequences of columns i..W-1; level j >= 1, column i at offset j + i, in its
  // column's sequence only. Column i's sequence is bit i.
  tokens_.clear();
  for (int32_t i = 1; i < W; i++) {
    uint64_t seqs = 0;
    for (int32_t c = i; c < W; c++) seqs |= 1ull << c;
    tokens_.push_back({levels_[0][i], i, seqs, false});
  }
  for (int32_t j = 1; j < levels; j++) {
    for (int32_t i = 0; i < W; i++) tokens_.push_back({levels_[j][i], j + i, 1ull << i, j == levels - 1});
  }
  return tokens_;
}

void LookaheadDrafter::remember(llama_token first, const std::vector<llama_token>& rest) {
  auto& grams = pool_[first];
  if (std::find(grams.begin(), grams.end(), rest) != grams.end()) return;
  if ((int32_t)grams.size() >= options_.candidates) grams.erase(grams.begin());
  grams.push_back(rest);
}

void LookaheadDrafter::update(const std::function<const float*(size_t)>& logitsOf, int32_t nVocab, size_t advanced,
                              const std::vector<llama_token>& context) {
  if (levels_.empty() || context.empty()) return;
  const int32_t W = options_.window;
  // The newest level: the argmax after each last-level token.
  std::vector<llama_token> next(W);
  for (int32_t i = 0; i < W; i++) {
    const float* l = logitsOf(i);
    next[i] = (llama_token)(std::max_element(l, l + nVocab) - l);
  }
  previous_ = levels_[0];
  for (size_t j = 0; j + 1 < levels_.size(); j++) levels_[j] = levels_[j + 1];
  levels_.back() = next;
  // Each column, read down from the level before the shift, is an n-gram.
  std::vector<llama_token> rest(levels_.size());
  for (int32_t i = 0; i < W; i++) {
    for (size_t j = 0; j < levels_.size(); j++) rest[j] = levels_[j][i];
    remember(previous_[i], rest);
  }
  // The text went on by more than one token: the window moves on with it, refilled.
  for (size_t a = 1; a < advanced; a++) shift(context);
}

}  // namespace specdec
