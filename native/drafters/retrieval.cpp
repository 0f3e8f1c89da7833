#include "retrieval.h"

#include <algorithm>
#include <cmath>

namespace specdec {

namespace {
constexpr double kMinAgreement = 0.25;  // share of the occurrences a proposed token must follow
}  // namespace

int32_t RetrievalDrafter::child(int32_t node, llama_token token) {
  for (int32_t c : trie_[node].children) {
    if (trie_[c].token == token) return c;
  }
  trie_.push_back({token, 0, {}});
  const int32_t c = (int32_t)trie_.size() - 1;
  trie_[node].children.push_back(c);
  return c;
}

void RetrievalDrafter::propose(const std::vector<llama_token>& context, int maxTokens, Sampler&, const Grammar*,
                              std::vector<Draft>& out) {
  out.clear();
  if (maxTokens <= 0) return;
  // The longest ending of the text found in the corpus.
  std::pair<uint64_t, uint64_t> range{0, 0};
  size_t matched = 0;
  for (size_t n = std::min<size_t>(options_.maxMatch, context.size()); n >= (size_t)options_.minMatch && n > 0; n--) {
    range = store_->find(&context[context.size() - n], n);
    if (range.first < range.second) {
      matched = n;
      break;
    }
  }
  if (!matched) return;
  // What followed it, at up to maxSamples occurrences spread over all of them.
  trie_.assign(1, TrieNode{-1, 0, {}});
  const uint64_t found = range.second - range.first;
  const uint64_t samples = std::min<uint64_t>(found, (uint64_t)options_.maxSamples);
  const int32_t* tokens = store_->tokens();
  for (uint64_t i = 0; i < samples; i++) {
    uint64_t at = (uint64_t)store_->suffixes()[range.first + i * found / samples] + matched;
    int32_t node = 0;
    for (int d = 0; d < maxTokens && at < store_->size() && tokens[at] != store_->separator(); d++, at++) {
      node = child(node, tokens[at]);
      trie_[node].count++;
    }
  }
  // The most frequent next tokens, each followed down its most frequent path, as far as a share
  // of the occurrences agrees: a short ending found all over a large corpus is followed by
  // anything, and guesses that are seldom right cost verification.
  const int32_t support = std::max<int32_t>(1, (int32_t)std::ceil(kMinAgreement * (double)samples));
  std::vector<int32_t> firsts = trie_[0].children;
  std::stable_sort(firsts.begin(), firsts.end(), [&](int32_t a, int32_t b) { return trie_[a].count > trie_[b].count; });
  if ((int32_t)firsts.size() > options_.candidates) firsts.resize(options_.candidates);
  for (int32_t node : firsts) {
    if (trie_[node].count < support) break;
    Draft& d = out.emplace_back();
    for (;;) {
      d.tokens.push_back(trie_[node].token);
      if (trie_[node].children.empty()) break;
      node = *std::max_element(trie_[node].children.begin(), trie_[node].children.end(),
                               [&](int32_t a, int32_t b) { return trie_[a].count < trie_[b].count; });
      if (trie_[node].count < support) break;
    }
  }
}

}  // namespace specdec
