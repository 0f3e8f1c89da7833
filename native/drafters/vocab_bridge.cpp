#include "vocab_bridge.h"

#include <algorithm>
#include <optional>

namespace specdec {

namespace {

// Draft tokens re-tokenized with each append (their text may merge with what follows), and the
// tokens of anchor text before a boundary.
constexpr size_t kRetokenized = 4;
constexpr size_t kAnchorTokens = 3;

// Tokens of `text` as it reads after `anchor`: tokenize(anchor + text) less tokenize(anchor),
// when the first starts with the second; nothing when the text merges into the anchor.
std::optional<std::vector<llama_token>> tokensAfter(const ModelCore& model, const std::string& anchor,
                                                    const std::string& text) {
  if (anchor.empty()) return std::nullopt;
  const std::vector<llama_token> head = model.tokenize(anchor, false, false);
  std::vector<llama_token> all = model.tokenize(anchor + text, false, false);
  if (all.size() < head.size() || !std::equal(head.begin(), head.end(), all.begin())) return std::nullopt;
  all.erase(all.begin(), all.begin() + (ptrdiff_t)head.size());
  return all;
}

}  // namespace

void VocabBridge::rebuild(const std::vector<llama_token>& context) {
  mainTokens_ = context;
  text_ = main_.detokenize(context, false);
  draftTokens_ = draft_.tokenize(text_, true, false);
  // The pieces' text is the text, less the space prefix the tokenizer may have put first.
  size_t total = 0;
  for (llama_token t : draftTokens_) total += draft_.piece(t).size();
  size_t end = 0;
  const size_t prefix = total > text_.size() ? total - text_.size() : 0;
  draftEnds_.clear();
  for (llama_token t : draftTokens_) {
    end += draft_.piece(t).size();
    draftEnds_.push_back(end > prefix ? end - prefix : 0);
  }
}

size_t VocabBridge::untranslated(const std::vector<llama_token>& context) const {
  size_t common = 0;
  while (common < context.size() && common < mainTokens_.size() && context[common] == mainTokens_[common]) common++;
  return common == mainTokens_.size() ? context.size() - common : context.size();
}

const std::vector<llama_token>& VocabBridge::toDraft(const std::vector<llama_token>& context) {
  size_t common = 0;
  while (common < context.size() && common < mainTokens_.size() && context[common] == mainTokens_[common]) common++;
  if (common < mainTokens_.size() || mainTokens_.empty() || draftTokens_.size() <= kRetokenized + kAnchorTokens) {
    rebuild(context);
    return draftTokens_;
  }
  if (common == context.size()) return draftTokens_;
  std::string added;
  for (size_t i = common; i < context.size(); i++) added += main_.piece(context[i]);
  // Re-tokenize from a few draft tokens back, after the text of a few more as the anchor.
  const size_t keep = draftTokens_.size() - kRetokenized;
  const size_t split = draftEnds_[keep - 1];
  const size_t anchorStart = keep > kAnchorTokens ? draftEnds_[keep - 1 - kAnchorTokens] : 0;
  std::optional<std::vector<llama_token>> tail =
      tokensAfter(draft_, text_.substr(anchorStart, split - anchorStart), text_.substr(split) + added);
  if (!tail) {
    rebuild(context);
    return draftTokens_;
  }
  mainTokens_ = context;
  text_ += added;
  draftTokens_.resize(keep);
  draftEnds_.resize(keep);
  size_t end = split;
  for (llama_token t : *tail) {
    draftTokens_.push_back(t);
    end += draft_.piece(t).size();
    draftEnds_.push_back(end);
  }
  return draftTokens_;
}

std::vector<llama_token> VocabBridge::toMain(const std::vector<llama_token>& context, const std::string& text) const {
  if (text.empty()) return {};
  std::string anchor;
  for (size_t i = context.size() - std::min(context.size(), kAnchorTokens); i < context.size(); i++) anchor += main_.piece(context[i]);
  std::optional<std::vector<llama_token>> tokens = tokensAfter(main_, anchor, text);
  return tokens ? *tokens : std::vector<llama_token>();
}

}  // namespace specdec
