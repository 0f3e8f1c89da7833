#include "lookup.h"

#include <algorithm>

namespace specdec {

LookupDrafter::LookupDrafter(LookupOptions options) : options_(options), last_(options.ngramMax - options.ngramMin + 1) {}

uint64_t LookupDrafter::hash(const llama_token* tokens, int32_t n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the token ids
  for (int32_t i = 0; i < n; i++) {
    h ^= (uint32_t)tokens[i];
    h *= 1099511628211ull;
  }
  return h;
}

void LookupDrafter::sync(const std::vector<llama_token>& context) {
  const bool extends = indexed_.size() <= context.size() && std::equal(indexed_.begin(), indexed_.end(), context.begin());
  if (!extends) {
    indexed_.clear();
    for (auto& m : last_) m.clear();
  }
  // An n-gram ending at `end` is indexed once a token follows it: the context's own ending is
  // what a proposal looks up, not a match for itself.
  for (size_t end = std::max<size_t>(indexed_.size(), 1); end < context.size(); end++) {
    for (int32_t n = options_.ngramMin; n <= options_.ngramMax && (size_t)n <= end; n++) {
      last_[n - options_.ngramMin][hash(&context[end - n], n)] = (int32_t)end;
    }
  }
  indexed_ = context;
}

void LookupDrafter::propose(const std::vector<llama_token>& context, int maxTokens, Sampler&, const Grammar*,
                              std::vector<Draft>& out) {
  out.clear();
  if (maxTokens <= 0 || context.empty()) return;
  sync(context);
  const size_t size = context.size();
  for (int32_t n = std::min<int32_t>(options_.ngramMax, (int32_t)size); n >= options_.ngramMin; n--) {
    const llama_token* ending = &context[size - n];
    const auto& m = last_[n - options_.ngramMin];
    auto it = m.find(hash(ending, n));
    if (it == m.end()) continue;
    const size_t start = it->second;
    if (!std::equal(ending, ending + n, &context[start - n])) continue;  // a hash collision
    const size_t stop = std::min(size, start + (size_t)maxTokens);
    out.emplace_back().tokens.assign(context.begin() + start, context.begin() + stop);
    return;
  }
}

}  // namespace specdec
