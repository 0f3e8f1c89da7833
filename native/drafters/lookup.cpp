#include "lookup.h"

#include <algorithm>

namespace specdec {

LookupDrafter::LookupDrafter(LookupOptions options)
    : options_(options), last_(options.ngramMax - options.ngramMin + 1), inReferences_(last_.size()) {}

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

void LookupDrafter::setReferences(std::vector<std::vector<llama_token>> references) {
  references_ = std::move(references);
  for (auto& m : inReferences_) m.clear();
  for (uint32_t r = 0; r < references_.size(); r++) {
    const std::vector<llama_token>& text = references_[r];
    for (size_t end = 1; end < text.size(); end++) {
      for (int32_t n = options_.ngramMin; n <= options_.ngramMax && (size_t)n <= end; n++) {
        inReferences_[n - options_.ngramMin].try_emplace(hash(&text[end - n], n), Place{r, (uint32_t)end});
      }
    }
  }
}

void LookupDrafter::propose(const std::vector<llama_token>& context, int maxTokens, Sampler&, const Grammar*,
                              std::vector<Draft>& out) {
  out.clear();
  if (maxTokens <= 0 || context.empty()) return;
  sync(context);
  const size_t size = context.size();
  for (int32_t n = std::min<int32_t>(options_.ngramMax, (int32_t)size); n >= options_.ngramMin; n--) {
    const llama_token* ending = &context[size - n];
    const uint64_t h = hash(ending, n);
    const auto& m = last_[n - options_.ngramMin];
    if (auto it = m.find(h); it != m.end()) {
      const size_t start = it->second;
      if (std::equal(ending, ending + n, &context[start - n])) {  // else a hash collision
        const size_t stop = std::min(size, start + (size_t)maxTokens);
        out.emplace_back().tokens.assign(context.begin() + start, context.begin() + stop);
        return;
      }
    }
    const auto& r = inReferences_[n - options_.ngramMin];
    if (auto it = r.find(h); it != r.end()) {
      const std::vector<llama_token>& text = references_[it->second.reference];
      const size_t start = it->second.start;
      if (std::equal(ending, ending + n, &text[start - n])) {
        const size_t stop = std::min(text.size(), start + (size_t)maxTokens);
        out.emplace_back().tokens.assign(text.begin() + start, text.begin() + stop);
        return;
      }
    }
  }
}

}  // namespace specdec
