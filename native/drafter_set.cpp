#include "drafter_set.h"

#include <algorithm>
#include <optional>

#include "clock.h"
#include "drafters/retrieval.h"

namespace specdec {

namespace {
// The share of rounds in which the free drafters fall short: faded per round, from a prior of
// kShortPrior such rounds out of twice as many.
constexpr double kShortFade = 0.9, kShortPrior = 1.0;
// A free drafter whose first place is seldom kept sits out this many rounds, then proposes again
// to be judged anew: its wrong guesses still cost verification.
constexpr int kRestRounds = 7;
// What a record advises against is tried anyway once in this many rounds, so that the record
// follows the text: a free drafter's token parting from the draft model's path, the draft model
// where the free drafters propose as far as it may draft.
constexpr int kProbeRounds = 8;

// How many tokens a and b share from their start.
size_t sharedPrefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) n++;
  return n;
}
}  // namespace

bool Probe::tryAnyway(bool advised) {
  if (!advised && ++skipped_ < kProbeRounds) return false;
  skipped_ = 0;
  return true;
}

DrafterSet::DrafterSet(const SessionOptions& options, const ModelCore& main, const EvaluatorOptions& mainOptions,
                       ggml_threadpool* threadpool, ggml_threadpool* threadpoolBatch, const std::atomic<bool>* abort)
    : main_(main), costKey_(costKey(mainOptions)) {
  double sizeRatio = 0, paramRatio = 0;
  int draftMaxTokens = 0;
  if (options.draft) {
    draftMaxTokens = options.draft->length(options.lookup || options.retrieval || options.lookahead);
    EvaluatorOptions d = mainOptions;
    d.branches = 0;
    d.contextSize = mainOptions.contextSize ? mainOptions.contextSize : (uint32_t)llama_model_n_ctx_train(main.get());
    auto drafter = std::make_unique<DraftModelDrafter>(options.draft->model, main, d, threadpool, threadpoolBatch, abort,
                                                       options.draft->drafter);
    draftModel_ = drafter.get();
    draftModelIndex_ = (int)drafters_.size();
    drafters_.push_back({"draftModel", draftMaxTokens, options.draft->adaptive, std::move(drafter)});
    const llama_model* draft = options.draft->model->get();
    sizeRatio = (double)llama_model_size(draft) / (double)llama_model_size(main.get());
    paramRatio = (double)llama_model_n_params(draft) / (double)llama_model_n_params(main.get());
  }
  // The free drafters' length and whether it adapts: the first one's say.
  int freeMaxTokens = 0;
  std::optional<bool> freeAdaptive;
  auto addFree = [&](const char* name, int32_t maxTokens, bool adaptive, std::unique_ptr<Drafter> drafter) {
    drafters_.push_back({name, maxTokens, adaptive, std::move(drafter)});
    freeMaxTokens = std::max(freeMaxTokens, maxTokens);
    if (!freeAdaptive) freeAdaptive = adaptive;
    freeDrafters_ = true;
  };
  if (options.lookup) {
    auto drafter = std::make_unique<LookupDrafter>(options.lookup->lookup);
    lookup_ = drafter.get();
    addFree("lookup", options.lookup->maxTokens, options.lookup->adaptive, std::move(drafter));
  }
  if (options.retrieval) {
    addFree("retrieval", options.retrieval->maxTokens, options.retrieval->adaptive,
            std::make_unique<RetrievalDrafter>(options.retrieval->store, options.retrieval->retrieval));
  }
  if (options.lookahead) {
    auto drafter = std::make_unique<LookaheadDrafter>(options.lookahead->lookahead);
    lookahead_ = drafter.get();
    addFree("lookahead", options.lookahead->lookahead.ngram - 1, false, std::move(drafter));  // its window runs every round
  }
  for (const Entry& d : drafters_) maxLeaves_ += d.drafter->maxCandidates();

  // The controllers' priors: the main model's cost curve on these threads, and the draft model's
  // step as a share of the main one's.
  const int key = costKey_;
  auto prior = [&](int maxTokens, bool withDraft) {
    CostPrior p;
    p.ratio = main.costCurve().ratios(key, maxTokens + 1);
    if (withDraft) {
      // Measured when both models have run single steps on these threads; else about half the
      // size ratio (draft-q8_0 0.09 for 0.21, tiny-q8_0 0.06 for 0.14 beside main-q8_0, hot). A
      // round also costs the draft model its catch-up with the tokens kept since its last round
      // and a first step on caches the main model's batch has cooled: about three hot steps
      // (1.0-1.5 ms for draft-q8_0 against a 3.5 ms main step). The measured single steps are
      // those of rounds, the cold first ones and one-token catch-ups among them (draft-q8_0 0.27
      // main steps on a 2-core CPU): one more.
      const double mainMs = main.costCurve().singleMs(key);
      const double draftMs = options.draft->model->costCurve().singleMs(key);
      const bool measured = mainMs > 0 && draftMs > 0;
      p.draftStep = measured ? draftMs / mainMs : 0.5 * sizeRatio;
      p.draftRound = (measured ? 1 : 3) * p.draftStep;
      p.paramRatio = paramRatio;
    }
    return p;
  };
  // Beside free drafters, the draft model's controller is measured on the rounds where they fall
  // short only: the places they cannot guess are the hard ones. Its prior is the usual one: there
  // its drafts are kept less often as a share of those drafted (42-43% against 77%), but at each
  // position, given the ones before, about as often (0.71-0.79 at the first on 1.1 B Q4_K_M).
  if (freeDrafters_) {
    controller_ = std::make_unique<DraftController>(freeMaxTokens, *freeAdaptive, prior(freeMaxTokens, false));
    if (options.draft) {
      draftController_ = std::make_unique<DraftController>(draftMaxTokens, options.draft->adaptive, prior(draftMaxTokens, true));
    }
  } else if (options.draft) {
    controller_ = std::make_unique<DraftController>(draftMaxTokens, options.draft->adaptive, prior(draftMaxTokens, true));
  }
}

void DrafterSet::startGeneration(bool sampling) {
  sampling_ = sampling;
  if (DraftController* c = draftModelController()) {
    c->setPriorAcceptance(main_.acceptanceRecord().acceptance(acceptanceKey(), drafters_[draftModelIndex_].maxTokens));
  }
  for (DraftController* c : {controller_.get(), draftController_.get()}) {
    if (c) c->startGeneration();
  }
}

void DrafterSet::recordPrefill(size_t tokens, double ms) {
  for (DraftController* c : {controller_.get(), draftController_.get()}) {
    if (c) c->recordPrefill(tokens, ms);
  }
}

RoundPlan DrafterSet::plan(const std::vector<llama_token>& history, size_t generated, size_t remaining, int limit) {
  RoundPlan p;
  p.limit = std::max(limit, 0);
  p.remaining = remaining;
  // The draft model catching up is a cost of drafting, except with the prompt: the controller
  // weighs that once, before drafting.
  const size_t catchUp = draftModel_ ? draftModel_->catchUp(history) : 0;
  p.promptCatchUp = catchUp > generated + 1 ? catchUp : 0;
  // Until plain decoding is measured, the main model's single step stands in for it.
  const double plainMs = main_.costCurve().singleEstimateMs(costKey_);
  for (DraftController* c : {controller_.get(), draftController_.get()}) {
    if (c) c->setPlainEstimate(plainMs);
  }
  int length = controller_ ? controller_->next(freeDrafters_ ? 0 : p.promptCatchUp, remaining) : 0;
  if (lookahead_) length = std::max(length, 1);  // the window advances in every round
  p.length = std::min(length, p.limit);
  p.speculate = p.length > 0 || draftController_ != nullptr;
  return p;
}

DrafterSet::FreeProposals DrafterSet::proposeFree(int length, const std::vector<llama_token>& history, Sampler& sampler,
                                                  const Grammar* grammar) {
  FreeProposals out;
  std::vector<std::pair<llama_token, double>> firstChances;  // the round's first tokens so far, and their chances
  for (size_t i = 0; i < drafters_.size(); i++) {
    Entry& e = drafters_[i];
    if (!isFree(i)) continue;
    e.proposals.clear();
    if (e.resting > 0) {
      e.resting--;
      continue;
    }
    if (length == 0) continue;
    e.drafter->propose(history, std::min(length, e.maxTokens), sampler, grammar, e.proposals);
    for (Draft& d : e.proposals) {
      // What the grammar does not allow costs no verification: the draft ends before it.
      if (grammar) {
        d.tokens.resize(grammar->allowedPrefix(d.tokens));
        if (!d.q.empty()) d.q.resize(d.tokens.size());
      }
      if (d.tokens.empty()) continue;
      // A first token beside others already proposed is verified too, but only matters when
      // none of those is kept.
      double alone = 1;
      bool shared = false;
      for (const auto& [token, chance] : firstChances) {
        if (token == d.tokens[0]) shared = true;
        else alone *= 1 - chance;
      }
      if (e.adaptive) d.tokens.resize(e.record.likelyLength(d.tokens.size(), shared ? 1 : alone));
      if (!d.tokens.empty() && !shared) firstChances.push_back({d.tokens[0], e.record.chance(0)});
      out.longest = std::max(out.longest, d.tokens.size());
      out.expectedKept = std::max(out.expectedKept, e.record.expectedKept(d.tokens.size()));
    }
  }
  return out;
}

Proposal DrafterSet::propose(const RoundPlan& plan, const std::vector<llama_token>& history, Sampler& sampler,
                             const Grammar* grammar, size_t room, DraftTree& tree) {
  Proposal out;
  tree.clear();
  freeChecked_ = freeAccepted_ = 0;
  freeRunOver_ = false;
  size_t maxNodes = std::min(room, controller_->nodeBudget(plan.length));
  const FreeProposals free = proposeFree(plan.length, history, sampler, grammar);
  // Greedy, the draft model drafts where the free drafters propose less than it may draft (the
  // plan's length, or its own limit if shorter), and where they propose as far but its guesses
  // are expected to be kept more: there its path cannot reach past theirs and only matters where
  // they fail, which its own record at such places says (measured: docs/drafters.md). Its
  // controller's acceptance is measured where the free drafters fall short, the harder places.
  // Sampling, it drafts in every round: a free drafter's guesses are kept with the main model's
  // p(token), the draft model's, which follow the main model's distribution, with min(1, p/q),
  // more often (0.7-0.8 at the first place; lookup's tokens 57% at temperature 0.8 on grounded
  // prompts).
  const bool sampling = !sampler.greedy();
  const int draftReach = draftModel_ ? std::min(plan.length, drafters_[draftModelIndex_].maxTokens) : plan.length;
  const bool full = free.longest >= (size_t)std::max(draftReach, 1);
  bool askDraftModel = !full || sampling;
  if (full && !sampling && draftController_) {
    askDraftModel = fullProbe_.tryAnyway(draftWhereFull_.expectedKept(drafters_[draftModelIndex_].maxTokens) > free.expectedKept);
  }
  recordWhereFull_ = full && askDraftModel;
  if (draftModel_ && askDraftModel) {
    Entry& e = drafters_[draftModelIndex_];
    int length = draftReach;
    if (draftController_) {
      // The draft model's prompt evaluation is weighed against the tokens it may draft for: those
      // of the rounds where the free drafters fall short.
      const double shortShare = (shortRounds_ + kShortPrior) / (allRounds_ + 2 * kShortPrior);
      length = std::min(draftController_->next(plan.promptCatchUp, (size_t)((double)plan.remaining * shortShare)), plan.limit);
      out.draftModelLength = length;
      if (length > 0) maxNodes = std::max(maxNodes, std::min(room, draftController_->nodeBudget(length)));
    }
    if (length > 0) {
      e.drafter->propose(history, length, sampler, grammar, e.proposals);
      // Its catch-up with the prompt is weighed before drafting; with text decoded plainly, what
      // it costs beyond a round's usual catch-up (a token or two: about a step) is a cost of
      // starting to draft, not of drafting: it would make a one-round try look dear (1.3-3.5 ms
      // against a 6 ms round, 66 MB models on a 2-core CPU).
      const double catchUpMs = draftModel_->lastCatchUpMs();
      if (plan.promptCatchUp > 0) {
        out.apartMs = catchUpMs;
      } else if (plainSinceDraft_) {
        out.apartMs = std::max(0.0, catchUpMs - draftModel_->model().costCurve().singleEstimateMs(costKey_));
      }
      if (draftController_ && !e.proposals.empty()) {
        for (size_t i = 0; i < drafters_.size(); i++) {
          if (!isFree(i)) continue;
          for (Draft& d : drafters_[i].proposals) cutBesideDraft(drafters_[i], d, e.proposals[0].tokens, sampling);
        }
        // The primary path is the one more likely kept where they part: kept tokens off it are
        // evaluated again in the next round.
        const int lead = leadBesideDraft(e.proposals[0].tokens);
        if (lead >= 0) tree.add(drafters_[lead].proposals[0], lead, maxNodes, maxLeaves_);
      }
      for (const Draft& d : e.proposals) tree.add(d, draftModelIndex_, maxNodes, maxLeaves_);
    }
  }
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (!isFree(i)) continue;
    for (const Draft& d : drafters_[i].proposals) tree.add(d, (int)i, maxNodes, maxLeaves_);
  }
  return out;
}

// The tokens a free proposal shares with the draft model's path cost nothing (the tree merges
// them). Where it parts from the path, its token matters only when the draft model's there is not
// kept: its record beside the draft model says how often it was kept then; past the path's end
// its own record goes on. Both are counted from the round's start, through the draft model's
// measured acceptance along the shared part. Sampling, a token beside the path is kept only where
// the draft model's is rejected and the draw from what is left of p names it: not worth its node
// (1.1 B Q4_K_M, grounded prompts, temperature 0.8: 85.7 tokens/s without such tokens, 80.7 with,
// 18 generations each in turns), so the proposal ends where it parts from the path.
void DrafterSet::cutBesideDraft(Entry& e, Draft& d, const std::vector<llama_token>& path, bool sampling) {
  const size_t shared = sharedPrefix(d.tokens, path);
  double reach = 1;
  for (size_t i = 0; i < shared; i++) reach *= draftController_->acceptance((int)i);
  if (shared == d.tokens.size()) return;
  const bool beside = shared < path.size();
  if (beside && sampling) {
    d.tokens.resize(shared);
    return;
  }
  const PlaceRecord& record = beside ? e.besideDraft : e.record;
  size_t length = record.likelyLengthFrom(d.tokens.size(), shared, reach * record.chance(shared));
  if (beside && e.besideProbe.tryAnyway(length > shared)) length = std::max(length, shared + 1);
  d.tokens.resize(length);
}

int DrafterSet::leadBesideDraft(const std::vector<llama_token>& path) const {
  for (size_t i = 0; i < drafters_.size(); i++) {
    if (!isFree(i) || drafters_[i].proposals.empty()) continue;
    const std::vector<llama_token>& tokens = drafters_[i].proposals[0].tokens;
    const size_t shared = sharedPrefix(tokens, path);
    const bool parts = shared < tokens.size() && shared < path.size();
    if (parts && drafters_[i].besideDraft.chance(shared) > draftBesideFree_.chance(shared)) return (int)i;
  }
  return -1;
}

void DrafterSet::recordPlace(const DraftTree& tree, int32_t parent, size_t depth, uint32_t keptSources) {
  // offered: the sources of the children; apart: those of children without the draft model's token.
  uint32_t offered = 0, apart = 0;
  const uint32_t draftModelBit = draftModelIndex_ >= 0 ? 1u << draftModelIndex_ : 0;
  for (int32_t c = tree.firstChild(parent); c >= 0; c = tree.node(c).nextSibling) {
    const uint32_t sources = tree.node(c).sources;
    offered |= sources;
    if (!(sources & draftModelBit)) apart |= sources;
  }
  const bool draftModelOffered = offered & draftModelBit;
  // The free drafters' run from the round's start: places where one of them offered a token, up
  // to the first not kept.
  const uint32_t freeBits = offered & ~draftModelBit;
  if (!freeRunOver_ && freeBits) {
    freeChecked_++;
    if (keptSources & freeBits) freeAccepted_++;
    else freeRunOver_ = true;
  } else {
    freeRunOver_ = true;
  }
  if (draftModelOffered && recordWhereFull_) draftWhereFull_.record(depth, keptSources & draftModelBit);
  if (draftModelOffered && apart) draftBesideFree_.record(depth, keptSources & draftModelBit);
  for (size_t i = 0; i < drafters_.size(); i++) {
    Entry& e = drafters_[i];
    if (!isFree(i) || !((offered >> i) & 1u)) continue;
    const bool kept = (keptSources >> i) & 1u;
    if (draftModelOffered && ((apart >> i) & 1u)) {
      e.besideDraft.record(depth, kept);
      continue;
    }
    e.record.record(depth, kept);
    if (depth == 0 && e.record.poorFirstPlace()) e.resting = kRestRounds;
  }
}

void DrafterSet::learn(const Proposal& proposal, const RoundOutcome& outcome) {
  if (!controller_) return;
  if (draftController_) {
    shortRounds_ = shortRounds_ * kShortFade + (proposal.draftModelLength >= 0 ? 1 : 0);
    allRounds_ = allRounds_ * kShortFade + 1;
  }
  // A round the draft model drafted in is its controller's; one it was asked in and declined is,
  // for that controller, a round without it.
  if (draftModel_) plainSinceDraft_ = draftController_ ? proposal.draftModelLength == 0 : outcome.depth == 0;
  // The pair's acceptance, for later generations: in the rounds its controller learns from.
  if (draftModel_ && (draftController_ ? proposal.draftModelLength > 0 : outcome.depth > 0)) {
    main_.acceptanceRecord().record(acceptanceKey(), outcome.checked, outcome.accepted);
  }
  if (proposal.draftModelLength > 0) {
    draftController_->recordRound(proposal.draftModelLength, outcome.tokens, outcome.ms, outcome.checked, outcome.accepted,
                                   outcome.evaluated);
    // The round is the draft model's controller's, but how far the free drafters' tokens were
    // kept tells the free controller too: else it measures their acceptance only in the rounds
    // without the draft model, few where they often fall short, and a length chosen from one or
    // two of them (1 or 2 tokens after one early rejection) stood for the rest of a generation.
    if (freeChecked_ > 0) controller_->recordAcceptance(freeChecked_, freeAccepted_);
  } else {
    if (proposal.draftModelLength == 0) draftController_->recordRound(0, outcome.tokens, outcome.ms, 0, 0, outcome.evaluated);
    controller_->recordRound(outcome.depth, outcome.tokens, outcome.ms, outcome.checked, outcome.accepted, outcome.evaluated);
  }
}

}  // namespace specdec
