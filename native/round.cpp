// A session's rounds (SessionCore, session.h), read top to bottom as llama.cpp's speculative
// loop: plan -> propose (the token tree) -> batch -> evaluate -> verify -> commit -> learn. The
// drafting policy is the drafter set's (drafter_set.h), the batch's layout batch.h's, the choice
// at each place the verifier's (verify.h).
#include <algorithm>
#include <optional>

#include "errors.h"
#include "session.h"

namespace specdec {

void SessionCore::decodeRound(StepResult& out) {
  const size_t remaining = request_.maxTokens > 0 ? request_.maxTokens - stats_.generatedTokens : contextSize() - history_.size();
  const RoundPlan plan = drafters_->plan(history_, stats_.generatedTokens, remaining, draftLimit());
  // The first round samples from the prompt's logits, with nothing to evaluate: it would make
  // whatever it used look fast, so it is not measured.
  const bool measured = stats_.generatedTokens > 0;
  const auto start = Clock::now();
  const size_t evaluatedBefore = main_->tokens().size();
  const int32_t checkedBefore = stats_.drafted, acceptedBefore = stats_.accepted, decodesBefore = stats_.mainDecodes;
  RoundResult round;
  if (plan.speculate) {
    round = speculativeRound(plan, out);
  } else {
    plainRound(out);
  }
  if (!measured) return;
  RoundOutcome outcome;
  outcome.depth = round.depth;
  // Credited with the tokens the main model has evaluated and kept, not those output: a round can
  // output a token whose evaluation the next round pays for (sampled from logits at hand).
  outcome.tokens = (int)(main_->tokens().size() - evaluatedBefore);
  outcome.checked = stats_.drafted - checkedBefore;
  outcome.accepted = stats_.accepted - acceptedBefore;
  outcome.evaluated = stats_.mainDecodes > decodesBefore;
  // A round that ran no batch (its first draft rejected against the logits at hand) hands its
  // time to the next that runs one, whose batch evaluates the token it output.
  const double ms = msSince(start) - round.proposal.apartMs;
  outcome.ms = outcome.evaluated ? ms + unbatchedMs_ : ms;
  unbatchedMs_ = outcome.evaluated ? 0 : unbatchedMs_ + ms;
  drafters_->learn(round.proposal, outcome);
  stats_.draftPromptRefusals = drafters_->promptRefusals() - refusalsBefore_;
}

// One token the plain way: evaluate what is pending, then sample.
void SessionCore::plainRound(StepResult& out) {
  if (!pending_.empty()) {
    decodeMain(pending_.data(), (int32_t)pending_.size(), false);
    pending_.clear();
    nextLogits_ = main_->logits(-1);
  }
  const float* logits = nextLogits_;
  llama_token token = sampler_->sample(logits, model()->nVocab(), history_, history_.size(), grammar_.get());
  nextLogits_ = nullptr;
  if (emit(token, logits, out)) pending_.push_back(token);
}

// One speculative round. The drafters propose into one token tree; the main model evaluates the
// pending tokens (if any) and the tree in one batch, and the verifier walks down from the root: at
// each place it keeps the child the main model agrees with, or puts its own token there and
// stops. When nothing is pending, the first place is checked against the logits at hand first: if
// nothing there is kept there is no batch at all, else only the kept child's subtree is evaluated.
SessionCore::RoundResult SessionCore::speculativeRound(const RoundPlan& plan, StepResult& out) {
  RoundResult result;
  const size_t outBefore = out.tokens.size();

  // Propose.
  const auto draftStart = Clock::now();
  const std::vector<LookaheadToken>* window = lookaheadWindow();
  result.proposal = drafters_->propose(plan, history_, *sampler_, grammar_.get(), nodeRoom(window), tree_);
  stats_.draftMs += msSince(draftStart);
  if (tree_.empty() && !window) {
    plainRound(out);
    return result;
  }
  stats_.countProposed(tree_);
  result.depth = tree_.depth();

  // The first place against the logits at hand: nothing kept there, no batch (unless the window
  // needs one: then the main model's token is evaluated with it).
  int32_t start = tree_.empty() ? VerificationBatch::kNoTree : DraftTree::kRoot;
  size_t place = 0;           // depth - 1 of the place being verified
  std::vector<int32_t> kept;  // the nodes kept, root to leaf
  if (pending_.empty()) {
    Choice c{-1, 0};
    if (tree_.empty()) {
      c.token = sampler_->sample(nextLogits_, model()->nVocab(), history_, history_.size(), grammar_.get());
    } else {
      c = verifyPlace(nextLogits_, DraftTree::kRoot, place++);
    }
    const float* logits = nextLogits_;
    nextLogits_ = nullptr;
    if (!emit(c.token, logits, out, c.kept >= 0)) return result;
    if (c.kept < 0) {
      pending_.push_back(c.token);
      if (!window) return result;
      start = VerificationBatch::kNoTree;
    } else {
      start = c.kept;
      kept.push_back(start);
    }
  }

  // Batch and evaluate.
  LookaheadDrafter* lookahead = drafters_->lookahead();
  batch_.build(pending_, tree_, start, window, window ? lookahead->sequences() : 0);
  const size_t before = main_->tokens().size();
  evaluateBatch();
  pending_.clear();

  // Verify: walk down the tree as far as the main model agrees.
  const bool treeInBatch = start != VerificationBatch::kNoTree;
  int32_t node = treeInBatch ? start : DraftTree::kRoot;
  int32_t row = node == DraftTree::kRoot ? (int32_t)batch_.pending - 1 : batch_.rowOf[node];
  std::optional<llama_token> correction;
  bool ended = false;
  while (treeInBatch && tree_.firstChild(node) >= 0) {
    const float* logits = main_->logits(row);
    Choice c = verifyPlace(logits, node, place++);
    if (!emit(c.token, logits, out, c.kept >= 0)) {
      ended = true;
      break;
    }
    if (c.kept < 0) {
      correction = c.token;
      break;
    }
    node = c.kept;
    row = batch_.rowOf[node];
    kept.push_back(node);
  }
  if (window) {
    lookahead->update([&](size_t i) { return main_->logits(batch_.windowRows[i]); }, model()->nVocab(),
                      out.tokens.size() - outBefore, history_);
  }

  // Commit: the cache keeps the pending tokens and the kept nodes as far as they follow the
  // primary path (rows pending, pending + 1, ...). Kept nodes off it are evaluated again in the
  // next round: the cache's cells then stay in position order, which the attention's sums follow,
  // and the numbers stay those of plain decoding.
  size_t onPrimary = 0;
  while (onPrimary < kept.size() && batch_.rowOf[kept[onPrimary]] == (int32_t)(batch_.pending + onPrimary)) onPrimary++;
  if (batch_.branches) main_->dropBranches();
  main_->truncate(before + batch_.pending + onPrimary);
  if (ended) return result;
  for (size_t i = onPrimary; i < kept.size(); i++) pending_.push_back(tree_.node(kept[i]).token);
  if (correction) pending_.push_back(*correction);
  if (pending_.empty()) nextLogits_ = main_->logits(row);
  return result;
}

// The lookahead window to ride along in this round's batch: when there is a lookahead drafter and
// the batch and the context have room for it (its positions run to the text's end + ngram - 2 +
// window - 1). Null: none.
const std::vector<LookaheadToken>* SessionCore::lookaheadWindow() {
  LookaheadDrafter* lookahead = drafters_->lookahead();
  if (!lookahead) return nullptr;
  const std::vector<LookaheadToken>& window = lookahead->window(history_);
  int32_t reach = 0;
  for (const LookaheadToken& t : window) reach = std::max(reach, t.offset);
  if (window.size() + pending_.size() + 1 >= batchSize() || history_.size() + (size_t)reach + 1 >= contextSize()) {
    return nullptr;
  }
  return &window;
}

// Room for tree nodes: the batch holds the pending tokens (and the window) too, and every node's
// position (at most its index in the batch) stays below the context size.
size_t SessionCore::nodeRoom(const std::vector<LookaheadToken>* window) const {
  const int64_t windowSize = window ? (int64_t)window->size() : 0;
  const int64_t room = std::min<int64_t>((int64_t)batchSize() - (int64_t)pending_.size() - windowSize,
                                         (int64_t)contextSize() - (int64_t)(main_->tokens().size() + pending_.size()) - 1);
  return (size_t)std::max<int64_t>(room, 0);
}

// The batch in one main-model evaluation: a chain the plain way, a tree or a window with its
// sequences.
void SessionCore::evaluateBatch() {
  if (batch_.branches == 0) {
    decodeMain(batch_.tokens.data(), (int32_t)batch_.tokens.size(), true);
    return;
  }
  const auto t = Clock::now();
  main_->decodeTree(batch_.tokens.data(), (int32_t)batch_.tokens.size(), batch_.offsets.data(), batch_.seqs.data(),
                    batch_.primaryRows, batch_.branches);
  stats_.mainMs += msSince(t);
  stats_.mainDecodes++;
}

// No more drafts than the output still needs or the context can hold; the verification batch
// (pending token + drafts) stays within the batch size.
int SessionCore::draftLimit() const {
  int limit = (int)batchSize() - 1;
  if (request_.maxTokens > 0) limit = std::min<int>(limit, request_.maxTokens - stats_.generatedTokens - 1);
  return std::min<int>(limit, (int)contextSize() - (int)main_->tokens().size() - 2);
}

// Verifies one place of the tree, the children of `parent`, against the main model's logits there,
// outputs the token the main model puts there, and records the figures. Returns the node kept
// (-1: none) and the token.
Choice SessionCore::verifyPlace(const float* logits, int32_t parent, size_t depth) {
  candidates_.clear();
  childNodes_.clear();
  int32_t sampled = -1;
  for (int32_t c = tree_.firstChild(parent); c >= 0; c = tree_.node(c).nextSibling) {
    if (tree_.q(c)) sampled = (int32_t)candidates_.size();
    candidates_.push_back(tree_.node(c).token);
    childNodes_.push_back(c);
  }
  Choice c = verifier_->choose(logits, history_, history_.size(), candidates_, sampled,
                               sampled >= 0 ? tree_.q(childNodes_[sampled]) : nullptr, grammar_.get());
  stats_.countPlace(depth, c.kept >= 0);
  drafters_->recordPlace(tree_, parent, depth, c.kept >= 0 ? tree_.node(childNodes_[c.kept]).sources : 0);
  if (c.kept < 0) return c;
  c.kept = childNodes_[c.kept];
  stats_.countKept(tree_.node(c.kept));
  return c;
}

}  // namespace specdec
