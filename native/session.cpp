#include "session.h"

#include <algorithm>
#include <cstring>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "worker.h"

namespace specdec {

namespace {
// Where lookup fell short, draft-q8_0's drafts were kept 42-43% of the time (two runs of the
// benchmark), against 77% everywhere: the prior of the draft model's controller beside free drafters.
constexpr double kHardPlacesAcceptance = 0.45;
// The share of rounds in which the free drafters fall short: faded per round, from a prior of
// kShortPrior such rounds out of twice as many.
constexpr double kShortFade = 0.9, kShortPrior = 1.0;

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Adds counts by position.
void addAt(std::vector<int32_t>& to, const std::vector<int32_t>& from) {
  if (to.size() < from.size()) to.resize(from.size(), 0);
  for (size_t i = 0; i < from.size(); i++) to[i] += from[i];
}
}  // namespace

void GenerationStats::add(const GenerationStats& g) {
  promptTokens += g.promptTokens;
  reusedTokens += g.reusedTokens;
  generatedTokens += g.generatedTokens;
  promptMs += g.promptMs;
  generationMs += g.generationMs;
  mainDecodes += g.mainDecodes;
  drafted += g.drafted;
  accepted += g.accepted;
  draftMs += g.draftMs;
  mainMs += g.mainMs;
  addAt(draftedAt, g.draftedAt);
  addAt(acceptedAt, g.acceptedAt);
  if (drafters.size() < g.drafters.size()) drafters = std::vector<Drafter>(g.drafters.size());
  for (size_t i = 0; i < g.drafters.size(); i++) {
    drafters[i].name = g.drafters[i].name;
    drafters[i].proposed += g.drafters[i].proposed;
    drafters[i].accepted += g.drafters[i].accepted;
    addAt(drafters[i].proposedAt, g.drafters[i].proposedAt);
    addAt(drafters[i].acceptedAt, g.drafters[i].acceptedAt);
  }
  stopReason = g.stopReason;
}

// ---- SessionCore ------------------------------------------------------------------------------

SessionCore::SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options)
    : draftOptions_(options.draft) {
  // Without a threadpool of its own, ggml starts and joins threads for every llama_decode. The
  // draft model uses the same threads: it never runs at the same time as the main model.
  ggml_threadpool_params tp = ggml_threadpool_params_default(options.main.threads);
  threadpool_.reset(ggml_threadpool_new(&tp));
  if (!threadpool_) fail("CONTEXT_FAILED", "failed to start the CPU threadpool");
  ggml_threadpool* batchPool = threadpool_.get();
  if (options.main.threadsBatch != options.main.threads) {
    ggml_threadpool_params tpb = ggml_threadpool_params_default(options.main.threadsBatch);
    threadpoolBatch_.reset(ggml_threadpool_new(&tpb));
    if (!threadpoolBatch_) fail("CONTEXT_FAILED", "failed to start the CPU threadpool");
    batchPool = threadpoolBatch_.get();
  }
  // The drafters, in the order of their figures: the draft model, lookup, retrieval.
  double sizeRatio = 0, paramRatio = 0;
  if (draftOptions_) {
    EvaluatorOptions d = options.main;
    d.contextSize = options.main.contextSize ? options.main.contextSize : (uint32_t)llama_model_n_ctx_train(model->get());
    drafters_.push_back({"draftModel", draftOptions_->maxTokens, true, draftOptions_->adaptive,
                         std::make_unique<DraftModelDrafter>(draftOptions_->model, d, threadpool_.get(), batchPool, &abort_,
                                                             draftOptions_->drafter)});
    const llama_model* draft = draftOptions_->model->get();
    sizeRatio = (double)llama_model_size(draft) / (double)llama_model_size(model->get());
    paramRatio = (double)llama_model_n_params(draft) / (double)llama_model_n_params(model->get());
  }
  // The free drafters' length and whether it adapts: the first one's say.
  int freeMaxTokens = 0;
  std::optional<bool> freeAdaptive;
  if (options.lookup) {
    drafters_.push_back({"lookup", options.lookup->maxTokens, false, options.lookup->adaptive, std::make_unique<LookupDrafter>(options.lookup->lookup)});
    freeMaxTokens = std::max(freeMaxTokens, options.lookup->maxTokens);
    if (!freeAdaptive) freeAdaptive = options.lookup->adaptive;
  }
  if (options.retrieval) {
    drafters_.push_back({"retrieval", options.retrieval->maxTokens, false, options.retrieval->adaptive,
                         std::make_unique<RetrievalDrafter>(options.retrieval->store, options.retrieval->retrieval)});
    freeMaxTokens = std::max(freeMaxTokens, options.retrieval->maxTokens);
    if (!freeAdaptive) freeAdaptive = options.retrieval->adaptive;
  }
  if (options.lookahead) {
    auto drafter = std::make_unique<LookaheadDrafter>(options.lookahead->lookahead);
    lookahead_ = drafter.get();
    const int32_t length = options.lookahead->lookahead.ngram - 1;
    drafters_.push_back({"lookahead", length, false, false, std::move(drafter)});
    freeMaxTokens = std::max(freeMaxTokens, length);
    if (!freeAdaptive) freeAdaptive = false;  // its window runs every round
  }
  proposals_.resize(drafters_.size());
  for (const auto& d : drafters_) freeDrafters_ = freeDrafters_ || !d.costly;
  for (const auto& d : drafters_) maxLeaves_ += d.drafter->maxCandidates();
  // A leaf per candidate: the primary one in the main sequence, each other in its own; and a
  // sequence per column of the lookahead window.
  EvaluatorOptions mainOptions = options.main;
  mainOptions.branches = std::max(maxLeaves_ - 1, 0) + (lookahead_ ? lookahead_->sequences() : 0);
  main_ = std::make_unique<Evaluator>(std::move(model), mainOptions, threadpool_.get(), batchPool, &abort_);
  // With free drafters, controller_ sets their length and draftController_ decides, in the rounds
  // where they fall short, whether and how far the draft model drafts (measured on those rounds
  // only: the places the free drafters cannot guess are the hard ones). A draft model alone has
  // controller_.
  const ModelCore& mainModel = *main_->model();
  auto prior = [&](int maxTokens, bool withDraft) {
    CostPrior p;
    p.ratio = mainModel.costCurve().ratios(costKey(mainOptions), maxTokens + 1);
    if (withDraft) {
      // A draft step's share of a main step: measured when both models have run single steps on
      // these threads; else about half the size ratio (draft-q8_0 0.09 for 0.21, tiny-q8_0 0.06
      // for 0.14 beside main-q8_0). A round also costs the draft model its catch-up with the
      // tokens kept since its last round and a first step on caches the main model's batch has
      // cooled: about three steps (1.0-1.5 ms for draft-q8_0 against a 3.5 ms main step).
      const double mainMs = mainModel.costCurve().singleMs(costKey(mainOptions));
      const double draftMs = draftOptions_->model->costCurve().singleMs(costKey(mainOptions));
      p.draftStep = mainMs > 0 && draftMs > 0 ? draftMs / mainMs : 0.5 * sizeRatio;
      p.draftRound = 3 * p.draftStep;
      p.paramRatio = paramRatio;
    }
    return p;
  };
  if (freeDrafters_) {
    controller_ = std::make_unique<DraftController>(freeMaxTokens, *freeAdaptive, prior(freeMaxTokens, false));
    if (draftOptions_) {
      draftController_ = std::make_unique<DraftController>(draftOptions_->maxTokens, draftOptions_->adaptive,
                                                           prior(draftOptions_->maxTokens, true), kHardPlacesAcceptance);
    }
  } else if (draftOptions_) {
    controller_ = std::make_unique<DraftController>(draftOptions_->maxTokens, draftOptions_->adaptive,
                                                    prior(draftOptions_->maxTokens, true));
  }
}

void SessionCore::pauseThreads() {
  ggml_threadpool_pause(threadpool_.get());
  if (threadpoolBatch_) ggml_threadpool_pause(threadpoolBatch_.get());
}

void SessionCore::begin(GenerationRequest request) {
  request_ = std::move(request);
  stats_ = GenerationStats{};
  abort_.store(false);
  phase_ = Phase::Prepare;
}

// Tokenizes the prompt, checks it against the context, and keeps the longest common prefix of
// the KV cache (at least one prompt token is evaluated again: its logits start the generation).
void SessionCore::prepare() {
  if (request_.promptText) {
    prompt_ = model()->tokenize(*request_.promptText, request_.addBos, request_.parseSpecial);
  } else {
    prompt_ = std::move(request_.promptTokens);
    model()->checkTokens(prompt_);
  }
  const int32_t n = (int32_t)prompt_.size();
  const uint32_t nCtx = contextSize();
  if (n == 0) fail("INVALID_ARGUMENT", "the prompt is empty (no tokens to start from)");
  if ((uint32_t)n >= nCtx) {
    fail("CONTEXT_OVERFLOW", "the prompt has " + std::to_string(n) + " tokens; the context holds " +
                                 std::to_string(nCtx) + " (at least one more is needed to generate)");
  }
  if (request_.maxTokens > 0 && (uint32_t)(n + request_.maxTokens) > nCtx) {
    fail("CONTEXT_OVERFLOW", "prompt (" + std::to_string(n) + " tokens) + maxTokens (" +
                                 std::to_string(request_.maxTokens) + ") exceed the context size " +
                                 std::to_string(nCtx));
  }
  size_t common = main_->commonPrefix(prompt_);
  if (common == prompt_.size()) common--;
  main_->truncate(common);
  promptDone_ = main_->tokens().size();
  history_ = prompt_;
  pending_.clear();
  nextLogits_ = nullptr;
  sampler_ = std::make_unique<Sampler>(request_.sampling);
  verifier_ = std::make_unique<Verifier>(*sampler_, model()->nVocab());
  if (draftOptions_) verifier_->setAcceptAllForTesting(draftOptions_->acceptAllForTesting);
  text_ = std::make_unique<TextStream>(request_.stops);
  stats_.promptTokens = n;
  stats_.reusedTokens = (int32_t)promptDone_;
  for (const auto& d : drafters_) stats_.drafters.push_back({d.name});
  phase_ = Phase::Prompt;
  phaseStart_ = Clock::now();
}

void SessionCore::evalPromptChunk() {
  size_t n = std::min<size_t>(batchSize(), prompt_.size() - promptDone_);
  main_->decode(prompt_.data() + promptDone_, (int32_t)n, false);
  promptDone_ += n;
  if (promptDone_ == prompt_.size()) {
    nextLogits_ = main_->logits(-1);
    stats_.promptMs = msSince(phaseStart_);
    for (DraftController* c : {controller_.get(), draftController_.get()}) {
      if (c) c->recordPrefill(prompt_.size() - stats_.reusedTokens, stats_.promptMs);
    }
    phase_ = Phase::Decode;
    phaseStart_ = Clock::now();
  }
}

void SessionCore::decodeMain(const llama_token* tokens, int32_t n, bool allLogits) {
  const auto start = Clock::now();
  main_->decode(tokens, n, allLogits);
  const double ms = msSince(start);
  stats_.mainMs += ms;
  stats_.mainDecodes++;
}

void SessionCore::finish(const char* reason) {
  if (phase_ == Phase::Done) return;
  if (phase_ == Phase::Decode) stats_.generationMs = msSince(phaseStart_);
  stats_.stopReason = reason;
  phase_ = Phase::Done;
  totals_.add(stats_);
}

bool SessionCore::emit(llama_token token, StepResult& out, bool drafted) {
  if (model()->isEog(token)) {
    text_->flush();
    finish("eos");
    return false;
  }
  out.tokens.push_back(token);
  out.drafted.push_back(drafted);
  history_.push_back(token);
  stats_.generatedTokens++;
  if (text_->push(model()->piece(token))) {
    finish("stop");
    return false;
  }
  const char* end = nullptr;
  if (request_.maxTokens > 0 && stats_.generatedTokens >= request_.maxTokens) end = "maxTokens";
  if (history_.size() >= contextSize()) end = "contextFull";  // prompt + generated fill the context
  if (end) {
    text_->flush();
    finish(end);
    return false;
  }
  return true;
}

void SessionCore::recordPosition(size_t index, bool accepted) {
  if (stats_.draftedAt.size() <= index) {
    stats_.draftedAt.resize(index + 1, 0);
    stats_.acceptedAt.resize(index + 1, 0);
  }
  stats_.draftedAt[index]++;
  stats_.drafted++;
  if (accepted) {
    stats_.acceptedAt[index]++;
    stats_.accepted++;
  }
}

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

StepResult SessionCore::step() {
  StepResult out;
  const auto start = Clock::now();
  try {
    if (phase_ == Phase::Prepare) prepare();
    while (phase_ == Phase::Prompt || phase_ == Phase::Decode) {
      if (abort_.load()) fail("ABORTED", "the generation was aborted");
      if (phase_ == Phase::Prompt) {
        evalPromptChunk();
      } else {
        decodeRound(out);
      }
      if (msSince(start) >= request_.chunkMs) break;
    }
  } catch (const SpecdecException& e) {
    pauseThreads();
    finish(e.code() == "ABORTED" ? "aborted" : "error");
    throw;
  }
  pauseThreads();  // until the next step, the threads sleep instead of polling
  out.text = text_ ? text_->take() : std::string();
  out.done = phase_ == Phase::Done;
  return out;
}

std::vector<float> SessionCore::evaluateLogits(const std::vector<llama_token>& tokens, uint32_t batchSize) {
  model()->checkTokens(tokens);
  if (tokens.empty()) fail("INVALID_ARGUMENT", "no tokens to evaluate");
  if (tokens.size() > contextSize()) fail("CONTEXT_OVERFLOW", "more tokens than the context holds");
  if (batchSize < 1 || batchSize > this->batchSize()) {
    fail("INVALID_ARGUMENT", "batchSize must be in [1, session batch size]");
  }
  abort_.store(false);
  main_->clear();
  const int32_t nVocab = model()->nVocab();
  std::vector<float> out(tokens.size() * (size_t)nVocab);
  for (size_t i = 0; i < tokens.size(); i += batchSize) {
    int32_t n = (int32_t)std::min<size_t>(batchSize, tokens.size() - i);
    main_->decode(tokens.data() + i, n, true);
    for (int32_t j = 0; j < n; j++) {
      std::memcpy(&out[(i + j) * nVocab], main_->logits(j), nVocab * sizeof(float));
    }
  }
  pauseThreads();
  return out;
}

std::vector<double> SessionCore::measureDecode(uint32_t depth, const std::vector<uint32_t>& sizes, uint32_t repeats) {
  uint32_t largest = 0;
  for (uint32_t n : sizes) largest = std::max(largest, n);
  if (largest < 1 || largest > batchSize()) fail("INVALID_ARGUMENT", "sizes must be in [1, session batch size]");
  if (depth + largest > contextSize()) fail("CONTEXT_OVERFLOW", "depth + the largest size exceed the context");
  if (repeats < 1) fail("INVALID_ARGUMENT", "repeats must be at least 1");
  abort_.store(false);
  main_->clear();
  // Any valid ids do for timing; a spread of them keeps the embedding lookups honest.
  std::vector<llama_token> tokens(depth + largest);
  for (size_t i = 0; i < tokens.size(); i++) tokens[i] = (llama_token)((i * 7919 + 13) % model()->nVocab());
  std::vector<llama_token> prefix(tokens.begin(), tokens.begin() + std::max<uint32_t>(depth, 1));
  if (depth > 0) main_->sync(prefix);
  // Sizes take turns within each repeat, so a machine whose speed drifts slows all of them alike.
  std::vector<std::vector<double>> times(sizes.size(), std::vector<double>(repeats));
  for (uint32_t r = 0; r < repeats; r++) {
    for (size_t i = 0; i < sizes.size(); i++) {
      const auto start = Clock::now();
      main_->decode(tokens.data() + depth, (int32_t)sizes[i], true);
      times[i][r] = msSince(start);
      main_->truncate(depth);
    }
  }
  std::vector<double> medians;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[repeats / 2]);
  }
  pauseThreads();
  return medians;
}

// ---- SessionWrap ------------------------------------------------------------------------------

Napi::Function SessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&SessionWrap::Info>("info"),
                         InstanceMethod<&SessionWrap::Begin>("begin"),
                         InstanceMethod<&SessionWrap::Step>("step"),
                         InstanceMethod<&SessionWrap::Abort>("abort"),
                         InstanceMethod<&SessionWrap::Stats>("stats"),
                         InstanceMethod<&SessionWrap::EvaluateLogits>("evaluateLogits"),
                         InstanceMethod<&SessionWrap::MeasureDecode>("measureDecode"),
                         InstanceMethod<&SessionWrap::Dispose>("dispose"),
                     });
}

SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw makeError(info.Env(), "INVALID_ARGUMENT", "use model.createSession() to create a Session");
  }
  core_ = *info[0].As<Napi::External<std::shared_ptr<SessionCore>>>().Data();
}

Napi::Value SessionWrap::Create(Napi::Env env, std::shared_ptr<ModelCore> model, const Napi::Object& o) {
  SessionOptions options;
  EvaluatorOptions& m = options.main;
  m.contextSize = (uint32_t)optInt(o, "contextSize", 0, 0, 1 << 24);
  m.batchSize = (uint32_t)optInt(o, "batchSize", 512, 1, 1 << 16);
  m.threads = (int32_t)optInt(o, "threads", 4, 1, 1024);
  m.threadsBatch = (int32_t)optInt(o, "threadsBatch", m.threads, 1, 1024);
  m.flashAttention = (int32_t)optInt(o, "flashAttention", -1, -1, 1);
  Napi::Value draft = o.Get("draft");
  if (draft.IsObject()) {
    Napi::Object d = draft.As<Napi::Object>();
    Napi::Value handle = d.Get("model");
    if (!handle.IsObject() || !handle.As<Napi::Object>().InstanceOf(AddonData::of(env).modelClass.Value())) {
      fail("INVALID_ARGUMENT", "draft.model must be a Model");
    }
    DraftOptions dopt;
    dopt.model = ModelWrap::Unwrap(handle.As<Napi::Object>())->core(env);
    dopt.maxTokens = (int32_t)optInt(d, "maxTokens", 4, 1, 63);
    dopt.adaptive = optBool(d, "adaptive", true);
    dopt.drafter.minConfidence = (float)optNumber(d, "minConfidence", dopt.drafter.minConfidence, 0, 1);
    dopt.drafter.greedyWhenSampling = optBool(d, "greedy", dopt.drafter.greedyWhenSampling);
    dopt.acceptAllForTesting = optBool(d, "acceptAllForTesting", false);
    uint32_t ctx = m.contextSize ? m.contextSize : (uint32_t)llama_model_n_ctx_train(model->get());
    if ((uint32_t)dopt.maxTokens + 1 >= ctx) fail("INVALID_ARGUMENT", "draft.maxTokens must be below the context size");
    options.draft = dopt;
  } else if (!draft.IsUndefined() && !draft.IsNull()) {
    fail("INVALID_ARGUMENT", "draft must be an object");
  }
  Napi::Value lookup = o.Get("lookup");
  if (lookup.IsObject()) {
    Napi::Object l = lookup.As<Napi::Object>();
    LookupSpec spec;
    spec.lookup.ngramMin = (int32_t)optInt(l, "ngramMin", spec.lookup.ngramMin, 1, 16);
    spec.lookup.ngramMax = (int32_t)optInt(l, "ngramMax", std::max(spec.lookup.ngramMax, spec.lookup.ngramMin), spec.lookup.ngramMin, 16);
    spec.maxTokens = (int32_t)optInt(l, "maxTokens", spec.maxTokens, 1, 63);
    spec.adaptive = optBool(l, "adaptive", true);
    options.lookup = spec;
  }
  Napi::Value lookahead = o.Get("lookahead");
  if (lookahead.IsObject()) {
    Napi::Object l = lookahead.As<Napi::Object>();
    LookaheadSpec spec;
    spec.lookahead.window = (int32_t)optInt(l, "window", spec.lookahead.window, 1, 16);
    spec.lookahead.ngram = (int32_t)optInt(l, "ngram", spec.lookahead.ngram, 3, 8);
    spec.lookahead.candidates = (int32_t)optInt(l, "candidates", spec.lookahead.candidates, 1, 8);
    options.lookahead = spec;
  }
  Napi::Value retrieval = o.Get("retrieval");
  if (retrieval.IsObject()) {
    Napi::Object r = retrieval.As<Napi::Object>();
    RetrievalSpec spec;
    Napi::Value path = r.Get("path");
    if (!path.IsString()) fail("INVALID_ARGUMENT", "retrieval.path must be a string");
    spec.path = path.As<Napi::String>().Utf8Value();
    spec.retrieval.minMatch = (int32_t)optInt(r, "minMatch", spec.retrieval.minMatch, 1, 64);
    spec.retrieval.maxMatch = (int32_t)optInt(r, "maxMatch", std::max(spec.retrieval.maxMatch, spec.retrieval.minMatch), spec.retrieval.minMatch, 64);
    spec.retrieval.candidates = (int32_t)optInt(r, "candidates", spec.retrieval.candidates, 1, 8);
    spec.maxTokens = (int32_t)optInt(r, "maxTokens", spec.maxTokens, 1, 63);
    spec.adaptive = optBool(r, "adaptive", true);
    options.retrieval = spec;
  }
  return PromiseWorker<std::shared_ptr<SessionCore>>::Run(
      env,
      [model, options]() mutable {
        if (options.draft) model->checkDraftCompatible(*options.draft->model);
        if (options.retrieval) options.retrieval->store = Datastore::open(options.retrieval->path, *model);
        return std::make_shared<SessionCore>(model, options);
      },
      [](Napi::Env env, std::shared_ptr<SessionCore>& core) -> Napi::Value {
        auto external = Napi::External<std::shared_ptr<SessionCore>>::New(env, &core);
        return AddonData::of(env).sessionClass.New({external});
      });
}

std::shared_ptr<SessionCore> SessionWrap::core(Napi::Env env) const {
  if (!core_) throw makeError(env, "DISPOSED", "the session has been disposed");
  return core_;
}

std::shared_ptr<SessionCore> SessionWrap::idleCore(Napi::Env env) const {
  auto core = this->core(env);
  if (core->busy) throw makeError(env, "BUSY", "the session is already generating; one generation at a time");
  return core;
}

Napi::Value SessionWrap::Info(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("contextSize", core->contextSize());
  o.Set("batchSize", core->batchSize());
  o.Set("hasDraft", core->hasDraft());
  return o;
}

// begin({ prompt: string | tokens, addBos, specialTokens, maxTokens, stop, sampling..., chunkMs })
Napi::Value SessionWrap::Begin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  try {
    Napi::Object o = argObject(info, 0);
    GenerationRequest r;
    Napi::Value prompt = o.Get("prompt");
    if (prompt.IsString()) {
      r.promptText = prompt.As<Napi::String>().Utf8Value();
    } else {
      r.promptTokens = tokensFrom(prompt, "prompt");
    }
    r.addBos = optBool(o, "addBos", llama_vocab_get_add_bos(core->model()->vocab()));
    r.parseSpecial = optBool(o, "specialTokens", true);
    r.maxTokens = (int32_t)optInt(o, "maxTokens", -1, -1, 1 << 24);
    if (r.maxTokens == 0) fail("INVALID_ARGUMENT", "maxTokens must be at least 1");
    if (r.maxTokens > 0 && (uint32_t)r.maxTokens >= core->contextSize()) {
      fail("CONTEXT_OVERFLOW", "maxTokens (" + std::to_string(r.maxTokens) + ") must be below the context size (" +
                                   std::to_string(core->contextSize()) + ")");
    }
    SamplingParams& s = r.sampling;
    s.temperature = (float)optNumber(o, "temperature", s.temperature, 0, 100);
    s.topK = (int32_t)optInt(o, "topK", s.topK, 0, 1 << 24);
    s.topP = (float)optNumber(o, "topP", s.topP, 0, 1);
    s.minP = (float)optNumber(o, "minP", s.minP, 0, 1);
    s.repeatPenalty = (float)optNumber(o, "repeatPenalty", s.repeatPenalty, 0, 100);
    s.repeatLastN = (int32_t)optInt(o, "repeatLastN", s.repeatLastN, -1, 1 << 24);
    s.frequencyPenalty = (float)optNumber(o, "frequencyPenalty", 0, -100, 100);
    s.presencePenalty = (float)optNumber(o, "presencePenalty", 0, -100, 100);
    s.seed = (uint32_t)optInt(o, "seed", 0, 0, 0xffffffffLL);
    Napi::Value stop = o.Get("stop");
    if (stop.IsArray()) {
      auto arr = stop.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString()) fail("INVALID_ARGUMENT", "stop must be an array of strings");
        r.stops.push_back(v.As<Napi::String>().Utf8Value());
      }
    } else if (!stop.IsUndefined() && !stop.IsNull()) {
      fail("INVALID_ARGUMENT", "stop must be an array of strings");
    }
    r.chunkMs = optNumber(o, "chunkMs", 25, 0, 60000);
    core->begin(std::move(r));
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
  return env.Undefined();
}

// step() -> Promise<{ tokens: Int32Array, text: string, done: boolean }>
Napi::Value SessionWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  core->busy = true;
  return PromiseWorker<StepResult>::Run(
      env, [core]() { return core->step(); },
      [](Napi::Env env, StepResult& result) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tokens", tokensToJs(env, result.tokens));
        auto drafted = Napi::Uint8Array::New(env, result.drafted.size());
        std::copy(result.drafted.begin(), result.drafted.end(), drafted.Data());
        o.Set("drafted", drafted);
        o.Set("text", Napi::String::New(env, result.text));
        o.Set("done", result.done);
        return o;
      },
      [core]() { core->settle(); });
}

// abort(disconnect?): ends the generation at its next check; with disconnect, also stops waiting on
// the model's RPC workers by failing their connections (for a worker that does not answer).
Napi::Value SessionWrap::Abort(const Napi::CallbackInfo& info) {
  if (!core_) return info.Env().Undefined();
  core_->requestAbort();
  if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value() && core_->busy) {
    core_->model()->disconnectRpc("a generation was aborted while waiting on the worker");
  }
  return info.Env().Undefined();
}

namespace {
Napi::Object statsToJs(Napi::Env env, const GenerationStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("promptTokens", s.promptTokens);
  o.Set("reusedTokens", s.reusedTokens);
  o.Set("generatedTokens", s.generatedTokens);
  o.Set("promptMs", s.promptMs);
  o.Set("generationMs", s.generationMs);
  o.Set("mainDecodes", s.mainDecodes);
  o.Set("drafted", s.drafted);
  o.Set("accepted", s.accepted);
  auto arr = [&](const std::vector<int32_t>& v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
    return a;
  };
  o.Set("draftedAt", arr(s.draftedAt));
  o.Set("acceptedAt", arr(s.acceptedAt));
  o.Set("draftMs", s.draftMs);
  o.Set("mainMs", s.mainMs);
  Napi::Array drafters = Napi::Array::New(env, s.drafters.size());
  for (size_t i = 0; i < s.drafters.size(); i++) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", s.drafters[i].name);
    d.Set("proposed", s.drafters[i].proposed);
    d.Set("accepted", s.drafters[i].accepted);
    d.Set("proposedAt", arr(s.drafters[i].proposedAt));
    d.Set("acceptedAt", arr(s.drafters[i].acceptedAt));
    drafters.Set((uint32_t)i, d);
  }
  o.Set("drafters", drafters);
  o.Set("stopReason", s.stopReason.empty() ? env.Null() : Napi::String::New(env, s.stopReason));
  return o;
}
}  // namespace

// stats() -> { last: stats of the last generation, totals: of every finished one }
Napi::Value SessionWrap::Stats(const Napi::CallbackInfo& info) {
  auto core = this->core(info.Env());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("last", statsToJs(info.Env(), core->publishedStats));
  o.Set("totals", statsToJs(info.Env(), core->publishedTotals));
  return o;
}

// evaluateLogits(tokens, batchSize) -> Promise<Float32Array> (tokens.length x vocabSize)
Napi::Value SessionWrap::EvaluateLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  std::vector<llama_token> tokens;
  uint32_t batchSize;
  try {
    tokens = tokensFrom(info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    Napi::Object o = argObject(info, 1);
    batchSize = (uint32_t)optInt(o, "batchSize", core->batchSize(), 1, core->batchSize());
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
  core->busy = true;
  return PromiseWorker<std::vector<float>>::Run(
      env, [core, tokens = std::move(tokens), batchSize]() { return core->evaluateLogits(tokens, batchSize); },
      [](Napi::Env env, std::vector<float>& logits) -> Napi::Value {
        auto a = Napi::Float32Array::New(env, logits.size());
        std::memcpy(a.Data(), logits.data(), logits.size() * sizeof(float));
        return a;
      },
      [core]() { core->settle(); });
}

// measureDecode({ depth, sizes, repeats }) -> Promise<number[]> (median ms per size)
Napi::Value SessionWrap::MeasureDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = idleCore(env);
  uint32_t depth, repeats;
  std::vector<uint32_t> sizes;
  try {
    Napi::Object o = argObject(info, 0);
    depth = (uint32_t)optInt(o, "depth", 0, 0, 1 << 24);
    repeats = (uint32_t)optInt(o, "repeats", 9, 1, 100000);
    Napi::Value v = o.Get("sizes");
    if (!v.IsArray()) fail("INVALID_ARGUMENT", "sizes must be an array of batch sizes");
    auto arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
      if (d < 1 || d != std::floor(d) || d > (1 << 16)) fail("INVALID_ARGUMENT", "sizes must be positive integers");
      sizes.push_back((uint32_t)d);
    }
  } catch (const SpecdecException& e) {
    throw makeError(env, e);
  }
  core->busy = true;
  return PromiseWorker<std::vector<double>>::Run(
      env, [core, depth, sizes, repeats]() { return core->measureDecode(depth, sizes, repeats); },
      [](Napi::Env env, std::vector<double>& ms) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, ms.size());
        for (size_t i = 0; i < ms.size(); i++) a.Set((uint32_t)i, ms[i]);
        return a;
      },
      [core]() { core->settle(); });
}

Napi::Value SessionWrap::Dispose(const Napi::CallbackInfo& info) {
  if (core_) {
    core_->requestAbort();  // a running step ends at its next check; the last reference frees it
    releaseOnPool(info.Env(), std::move(core_));
  }
  return info.Env().Undefined();
}

}  // namespace specdec
