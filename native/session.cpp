#include "session.h"

#include <algorithm>
#include <cstring>

#include "errors.h"

namespace specdec {

// ---- SessionCore ------------------------------------------------------------------------------

SessionCore::SessionCore(std::shared_ptr<ModelCore> model, const SessionOptions& options) {
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
  drafters_ = std::make_unique<DrafterSet>(options, *model, options.main, threadpool_.get(), batchPool, &abort_);
  // A sequence per candidate but the primary one (which is in the main sequence), and one per
  // column of the lookahead window (batch.h).
  EvaluatorOptions mainOptions = options.main;
  LookaheadDrafter* lookahead = drafters_->lookahead();
  mainOptions.branches = std::max(drafters_->maxLeaves() - 1, 0) + (lookahead ? lookahead->sequences() : 0);
  main_ = std::make_unique<Evaluator>(std::move(model), mainOptions, threadpool_.get(), batchPool, &abort_);
}

void SessionCore::pauseThreads() {
  ggml_threadpool_pause(threadpool_.get());
  if (threadpoolBatch_) ggml_threadpool_pause(threadpoolBatch_.get());
}

void SessionCore::begin(GenerationRequest request) {
  if (!request.references.empty() && !drafters_->lookup()) {
    fail("INVALID_ARGUMENT", "references are quoted by the lookup drafter, and this session has none (drafters: [{ type: \"lookup\" }])");
  }
  // A grammar that does not parse is the caller's error, before anything starts.
  auto grammar = request.grammar.empty() ? nullptr : std::make_unique<Grammar>(model()->vocab(), request.grammar);
  grammar_ = std::move(grammar);
  request_ = std::move(request);
  stats_ = GenerationStats{};
  abort_.store(false);
  phase_ = Phase::Prepare;
}

// Tokenizes the prompt, checks it against the context, and keeps the longest common prefix of
// the KV cache (at least one prompt token is evaluated again: its logits start the generation).
void SessionCore::prepare() {
  refusalsBefore_ = drafters_->promptRefusals();
  unbatchedMs_ = 0;
  if (request_.promptText) {
    prompt_ = model()->tokenize(*request_.promptText, request_.addBos, request_.parseSpecial);
  } else {
    prompt_ = std::move(request_.promptTokens);
    model()->checkTokens(prompt_);
  }
  if (LookupDrafter* lookup = drafters_->lookup()) {
    const auto start = Clock::now();
    std::vector<std::vector<llama_token>> references;
    for (const std::string& text : request_.references) {
      references.push_back(model()->tokenize(text, false, false));
      stats_.referenceTokens += (int32_t)references.back().size();
    }
    lookup->setReferences(std::move(references));
    stats_.referenceMs = msSince(start);
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
  drafters_->startGeneration(!sampler_->greedy());
  verifier_ = std::make_unique<Verifier>(*sampler_, model()->nVocab());
  text_ = std::make_unique<TextStream>(request_.stops);
  stats_.promptTokens = n;
  stats_.reusedTokens = (int32_t)promptDone_;
  for (size_t i = 0; i < drafters_->size(); i++) stats_.drafters.push_back({drafters_->name(i)});
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
    drafters_->recordPrefill(prompt_.size() - stats_.reusedTokens, stats_.promptMs);
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

bool SessionCore::emit(llama_token token, const float* logits, StepResult& out, bool drafted) {
  if (model()->isEog(token)) {
    text_->flush();
    finish("eos");
    return false;
  }
  if (grammar_) grammar_->accept(token);
  out.tokens.push_back(token);
  out.drafted.push_back(drafted);
  if (request_.logprobs >= 0) {
    out.logprobs.push_back(logProbabilities(logits, model()->nVocab(), token, request_.logprobs, out.topTokens, out.topLogprobs));
  }
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

}  // namespace specdec
