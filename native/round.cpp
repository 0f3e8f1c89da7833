// A session's rounds (SessionCore, session.h): the plain round, and the speculative round with
// its drafting policy (which drafters propose, how far), the token tree, the verification batch
// and the walk down the tree, and what the controllers and the drafters' records learn from it.
#include <algorithm>

#include "errors.h"
#include "session.h"

namespace specdec {

namespace {
// The share of rounds in which the free drafters fall short: faded per round, from a prior of
// kShortPrior such rounds out of twice as many.
constexpr double kShortFade = 0.9, kShortPrior = 1.0;
}  // namespace

// One token the plain way: evaluate what is pending, then sample.
void SessionCore::plainRound(StepResult& out) {
  if (!pending_.empty()) {
    decodeMain(pending_.data(), (int32_t)pending_.size(), false);
    pending_.clear();
    nextLogits_ = main_->logits(-1);
  }
  llama_token token = sampler_->sample(nextLogits_, model()->nVocab(), history_, history_.size());
  nextLogits_ = nullptr;
  if (emit(token, out)) pending_.push_back(token);
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
                               sampled >= 0 ? tree_.q(childNodes_[sampled]) : nullptr);
  recordPosition(depth, c.kept >= 0);
  recordFreeDrafters(parent, depth, c.kept >= 0 ? tree_.node(childNodes_[c.kept]).sources : 0);
  if (c.kept < 0) return c;
  c.kept = childNodes_[c.kept];
  const DraftNode& node = tree_.node(c.kept);
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (!((node.sources >> i) & 1u)) continue;
    stats_.drafters[i].accepted++;
    stats_.drafters[i].count(stats_.drafters[i].acceptedAt, node.depth - 1);
  }
  return c;
}

// After a place of the tree is verified: the record of each free drafter that offered a token
// there. One whose first place is seldom kept sits out the next rounds (kRestRounds), then proposes
// again to be judged anew: its wrong guesses still cost verification.
void SessionCore::recordFreeDrafters(int32_t parent, size_t depth, uint32_t keptSources) {
  constexpr int kRestRounds = 7;
  uint32_t offered = 0;
  for (int32_t c = tree_.firstChild(parent); c >= 0; c = tree_.node(c).nextSibling) offered |= tree_.node(c).sources;
  for (size_t i = 0; i < drafters_.size(); i++) {
    SessionDrafter& d = drafters_[i];
    if (d.costly || !((offered >> i) & 1u)) continue;
    d.record.record(depth, (keptSources >> i) & 1u);
    if (depth == 0 && d.record.poorFirstPlace()) d.resting = kRestRounds;
  }
}

// The free drafters propose up to k tokens each, cut where they are seldom kept (PlaceRecord);
// returns the longest proposal's length.
size_t SessionCore::proposeFree(int k) {
  size_t longest = 0;
  std::vector<std::pair<llama_token, double>> firstChances;  // the round's first tokens so far, and their chances
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (drafters_[i].costly) continue;
    proposals_[i].clear();
    if (drafters_[i].resting > 0) {
      drafters_[i].resting--;
      continue;
    }
    if (k == 0) continue;
    drafters_[i].drafter->proposeAll(history_, std::min(k, drafters_[i].maxTokens), *sampler_, proposals_[i]);
    for (Draft& d : proposals_[i]) {
      if (d.tokens.empty()) continue;
      // A first token beside others already proposed is verified too, but only matters when
      // none of those is kept.
      double alone = 1;
      bool shared = false;
      for (const auto& [token, chance] : firstChances) {
        if (token == d.tokens[0]) shared = true;
        else alone *= 1 - chance;
      }
      if (drafters_[i].adaptive) d.tokens.resize(drafters_[i].record.likelyLength(d.tokens.size(), shared ? 1 : alone));
      if (!d.tokens.empty() && !shared) firstChances.push_back({d.tokens[0], drafters_[i].record.chance(0)});
      longest = std::max(longest, d.tokens.size());
    }
  }
  return longest;
}

// One speculative round. Every drafter proposes up to k tokens; the proposals are merged into one
// token tree. The main model evaluates the pending tokens (if any) and the tree in one batch, and
// the verifier walks down from the root: at each place it keeps the child the main model agrees
// with, or puts its own token there and stops. When nothing is pending, the first place is
// checked against the logits at hand first: if nothing there is kept there is no batch at all,
// else only the kept child's subtree is evaluated. Returns the depth of the tree (0: no drafts,
// the round decoded plainly).
int SessionCore::speculativeRound(int k, StepResult& out) {
  const auto draftStart = Clock::now();
  const size_t outBefore = out.tokens.size();
  tree_.clear();
  // The lookahead window rides along when the batch and the context have room for it (its
  // positions run to the text's end + ngram - 2 + window - 1).
  const std::vector<LookaheadToken>* window = lookahead_ ? &lookahead_->window(history_) : nullptr;
  int32_t windowReach = 0;
  if (window) {
    for (const LookaheadToken& t : *window) windowReach = std::max(windowReach, t.offset);
    if (window->size() + pending_.size() + 1 >= batchSize() || history_.size() + (size_t)windowReach + 1 >= contextSize()) window = nullptr;
  }
  const int64_t windowSize = window ? (int64_t)window->size() : 0;
  // Room for nodes: the batch holds the pending tokens (and the window) too, and every node's
  // position (at most its index in the batch) stays below the context size.
  const int64_t room = std::min<int64_t>((int64_t)batchSize() - (int64_t)pending_.size() - windowSize,
                                         (int64_t)contextSize() - (int64_t)(main_->tokens().size() + pending_.size()) - 1);
  // The drafters that cost next to nothing (lookup, retrieval, lookahead) go first. When one of
  // them proposes the whole length, the draft model is not asked: its tokens cost time and the
  // round has a full guess already. Otherwise its controller says whether it drafts, and how
  // far; its proposal is then the primary path.
  size_t maxNodes = std::min((size_t)std::max<int64_t>(room, 0), controller_->nodeBudget(k));
  const size_t longestFree = proposeFree(k);
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (!drafters_[i].costly || longestFree >= (size_t)std::max(k, 1)) continue;
    int length = std::min(k, drafters_[i].maxTokens);
    if (draftController_) {
      // The draft model's prompt evaluation is weighed against the tokens it may draft for: those
      // of the rounds where the free drafters fall short.
      const double shortShare = (shortRounds_ + kShortPrior) / (allRounds_ + 2 * kShortPrior);
      draftModelK_ = length =
          clampDraftLength(draftController_->next(promptCatchUp_, (size_t)((double)remaining_ * shortShare)));
      if (length <= 0) continue;
      maxNodes = std::max(maxNodes, std::min((size_t)std::max<int64_t>(room, 0), draftController_->nodeBudget(length)));
    }
    drafters_[i].drafter->propose(history_, length, *sampler_, draft_);
    roundCatchUpMs_ += drafters_[i].drafter->lastCatchUpMs();
    tree_.add(draft_, (int)i, maxNodes, maxLeaves_);
  }
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (drafters_[i].costly) continue;
    for (const Draft& d : proposals_[i]) tree_.add(d, (int)i, maxNodes, maxLeaves_);
  }
  stats_.draftMs += msSince(draftStart);
  if (tree_.empty() && !window) {
    plainRound(out);
    return 0;
  }
  for (size_t n = 0; n < tree_.size(); n++) {
    const DraftNode& node = tree_.node((int32_t)n);
    for (size_t i = 0; i < drafters_.size(); i++) {
      if (!((node.sources >> i) & 1u)) continue;
      stats_.drafters[i].proposed++;
      stats_.drafters[i].count(stats_.drafters[i].proposedAt, node.depth - 1);
    }
  }
  const int depth = tree_.depth();

  int32_t start = DraftTree::kRoot;
  bool treeInBatch = !tree_.empty();
  size_t place = 0;               // depth - 1 of the place being verified
  std::vector<int32_t> kept;      // the nodes kept, root to leaf
  if (pending_.empty()) {
    // The first place against the logits at hand: nothing kept there, no batch (unless the
    // window needs one: then the main model's token is evaluated with it).
    Choice c{-1, 0};
    if (tree_.empty()) {
      c.token = sampler_->sample(nextLogits_, model()->nVocab(), history_, history_.size());
    } else {
      c = verifyPlace(nextLogits_, DraftTree::kRoot, place++);
    }
    nextLogits_ = nullptr;
    if (!emit(c.token, out, c.kept >= 0)) return depth;
    if (c.kept < 0) {
      pending_.push_back(c.token);
      if (!window) return depth;
      treeInBatch = false;
    } else {
      start = c.kept;
      kept.push_back(start);
    }
  }

  // The batch: the pending tokens, then the tree (or the kept child's subtree) depth first, the
  // primary path first, then the lookahead window. A chain needs no branch sequences and is
  // evaluated the plain way.
  size_t primary = 0;
  int branches = 0;
  const std::vector<int32_t> nodes = treeInBatch ? tree_.order(start, &primary, &seqs_, &branches) : std::vector<int32_t>();
  const size_t nPending = pending_.size();
  const size_t before = main_->tokens().size();
  batch_.assign(pending_.begin(), pending_.end());
  rowOf_.assign(tree_.size(), -1);
  for (size_t i = 0; i < nodes.size(); i++) {
    batch_.push_back(tree_.node(nodes[i]).token);
    rowOf_[nodes[i]] = (int32_t)(nPending + i);
  }
  const int treeBranches = branches;
  if (window) branches += lookahead_->sequences();
  if (branches == 0) {
    decodeMain(batch_.data(), (int32_t)batch_.size(), true);
  } else {
    const uint64_t all = (2ull << branches) - 1;
    offsets_.clear();
    masks_.assign(nPending, all);  // pending tokens: in every sequence
    for (size_t i = 0; i < nPending; i++) offsets_.push_back((int32_t)i);
    for (size_t i = 0; i < nodes.size(); i++) {
      offsets_.push_back((int32_t)nPending + tree_.node(nodes[i]).depth - 1);
      masks_.push_back(seqs_[i]);
    }
    windowRows_.clear();
    if (window) {
      // The window hangs off the text's last token (the last pending token, or the kept child
      // that starts the batch, which then belongs to the window's sequences too).
      const int32_t anchor = nPending > 0 ? (int32_t)nPending - 1 : 0;
      if (nPending == 0) masks_[0] |= all & ~((2ull << treeBranches) - 1);
      for (const LookaheadToken& t : *window) {
        if (t.lastLevel) windowRows_.push_back((int32_t)batch_.size());
        batch_.push_back(t.token);
        offsets_.push_back(anchor + t.offset);
        masks_.push_back(t.seqs << (treeBranches + 1));
      }
    }
    const auto t = Clock::now();
    main_->decodeTree(batch_.data(), (int32_t)batch_.size(), offsets_.data(), masks_.data(), nPending + primary, branches);
    stats_.mainMs += msSince(t);
    stats_.mainDecodes++;
  }
  pending_.clear();

  int32_t node = start;
  int32_t row = start == DraftTree::kRoot ? (int32_t)nPending - 1 : rowOf_[start];
  std::optional<llama_token> correction;
  bool ended = false;
  while (treeInBatch && tree_.firstChild(node) >= 0) {
    Choice c = verifyPlace(main_->logits(row), node, place++);
    if (!emit(c.token, out, c.kept >= 0)) {
      ended = true;
      break;
    }
    if (c.kept < 0) {
      correction = c.token;
      break;
    }
    node = c.kept;
    row = rowOf_[node];
    kept.push_back(node);
  }
  if (window) {
    lookahead_->update([&](size_t i) { return main_->logits(windowRows_[i]); }, model()->nVocab(),
                       out.tokens.size() - outBefore, history_);
  }
  // The cache keeps the pending tokens and the kept nodes as far as they follow the primary path
  // (batch rows nPending, nPending + 1, ...). Kept nodes off it are evaluated again in the next
  // round: the cache's cells then stay in position order, which the attention's sums follow,
  // and the numbers stay those of plain decoding.
  size_t onPrimary = 0;
  while (onPrimary < kept.size() && rowOf_[kept[onPrimary]] == (int32_t)(nPending + onPrimary)) onPrimary++;
  if (branches) main_->dropBranches();
  main_->truncate(before + nPending + onPrimary);
  if (ended) return depth;
  for (size_t i = onPrimary; i < kept.size(); i++) pending_.push_back(tree_.node(kept[i]).token);
  if (correction) pending_.push_back(*correction);
  if (pending_.empty()) nextLogits_ = main_->logits(row);
  return depth;
}

// No more drafts than the output still needs or the context can hold; the verification batch
// (pending token + drafts) stays within the batch size.
int SessionCore::clampDraftLength(int k) const {
  if (request_.maxTokens > 0) k = std::min<int>(k, request_.maxTokens - stats_.generatedTokens - 1);
  k = std::min<int>(k, (int)contextSize() - (int)main_->tokens().size() - 2);
  return std::min<int>(k, (int)batchSize() - 1);
}

// One round of generation: the controllers pick draft lengths (0: plain), within what the
// output and the context still allow, and are told what the round produced and took.
void SessionCore::decodeRound(StepResult& out) {
  // The drafter catching up is a cost of drafting (after plain rounds: the text they
  // decoded), except with the prompt: the controller weighs that once, before drafting.
  size_t catchUp = 0;
  for (const auto& d : drafters_) catchUp = std::max(catchUp, d.drafter->catchUp(history_));
  promptCatchUp_ = catchUp > (size_t)stats_.generatedTokens + 1 ? catchUp : 0;
  remaining_ = request_.maxTokens > 0 ? request_.maxTokens - stats_.generatedTokens : contextSize() - history_.size();
  int k = controller_ ? controller_->next(freeDrafters_ ? 0 : promptCatchUp_, remaining_) : 0;
  if (lookahead_) k = std::max(k, 1);  // the window advances in every round
  k = clampDraftLength(k);
  // The first round samples from the prompt's logits, with nothing to evaluate: it would make
  // whatever it used look fast, so it is not measured.
  const bool firstRound = stats_.generatedTokens == 0;
  const auto roundStart = Clock::now();
  const size_t evaluatedBefore = main_->tokens().size();
  const int32_t checkedBefore = stats_.drafted, acceptedBefore = stats_.accepted;
  roundCatchUpMs_ = 0;
  draftModelK_ = -1;
  int drafted = 0;  // a drafter may have fewer than k tokens to offer, or none
  if (k > 0 || draftController_) {
    drafted = speculativeRound(k, out);
  } else {
    plainRound(out);
  }
  if (controller_ && !firstRound) {
    double ms = msSince(roundStart);
    if (promptCatchUp_) ms -= roundCatchUpMs_;
    // Credited with the tokens the main model has evaluated and kept, not those output: a round
    // can output a token whose evaluation the next round pays for (sampled from logits at hand).
    const int tokens = (int)(main_->tokens().size() - evaluatedBefore);
    const int checked = stats_.drafted - checkedBefore, accepted = stats_.accepted - acceptedBefore;
    if (draftController_) {
      shortRounds_ = shortRounds_ * kShortFade + (draftModelK_ >= 0 ? 1 : 0);
      allRounds_ = allRounds_ * kShortFade + 1;
    }
    // A round the draft model drafted in is its controller's; one it was asked in and declined
    // is, for that controller, a round without it.
    if (draftModelK_ > 0) {
      draftController_->recordRound(draftModelK_, tokens, ms, checked, accepted);
    } else {
      if (draftModelK_ == 0) draftController_->recordRound(0, tokens, ms, 0, 0);
      controller_->recordRound(drafted, tokens, ms, checked, accepted);
    }
  }
}

}  // namespace specdec
