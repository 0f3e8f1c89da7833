// Every option of a session and of a generation, with its default: the one place the engine's
// defaults live. The binding (binding/args.h, session_wrap.cpp) fills these from JS options that
// lib/ has already checked; a key it does not know is an error there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llama.h"

namespace specdec {

class ModelCore;
class Datastore;

// A llama_context: the main model's, and a draft model's (which takes the main one's threads).
struct EvaluatorOptions {
  uint32_t contextSize = 0;  // 0: the model's training context
  uint32_t batchSize = 512;
  int32_t threads = 4;       // lib/ always gives its own default: the processors available, at most 8
  int32_t threadsBatch = 4;  // the binding's default: threads
  int32_t flashAttention = -1;  // llama_flash_attn_type: -1 auto, 0 off, 1 on
  int32_t branches = 0;         // KV sequences besides the main one, for token trees (at most 63); set by the session
};

// The sampler chain (sampling.h), the main model's and every sampling drafter's.
struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy (argmax after penalties)
  int32_t topK = 40;         // 0: off
  float topP = 0.95f;        // 1: off
  float minP = 0.05f;        // 0: off
  float repeatPenalty = 1.0f;
  int32_t repeatLastN = 64;
  float frequencyPenalty = 0.0f;
  float presencePenalty = 0.0f;
  uint32_t seed = 0;
  bool greedy() const { return temperature <= 0.0f; }
  bool penalties() const {
    return repeatLastN != 0 && (repeatPenalty != 1.0f || frequencyPenalty != 0.0f || presencePenalty != 0.0f);
  }
};

// ---- Drafters (drafters/) ---------------------------------------------------------------------

struct DraftModelOptions {
  // Greedy drafting stops once the draft model's probability of its own next token falls below
  // this (0: never; the draft length controller decides). Measured on the shared models, 0.5
  // cut drafts on text the main model is sure of and the draft is not, and was slower.
  float minConfidence = 0.0f;
  // When sampling: draft the draft model's greedy choice (a deterministic draft, kept when the main
  // model's own draw names it) instead of a token drawn from its distribution.
  bool greedyWhenSampling = false;
  // The draft model has another vocabulary: translate through text (drafter/vocab_bridge.h).
  bool translate = false;
};

struct LookupOptions {
  int32_t ngramMin = 2;
  int32_t ngramMax = 4;
};

struct RetrievalOptions {
  int32_t minMatch = 2;
  int32_t maxMatch = 16;
  int32_t candidates = 3;
  int32_t maxSamples = 256;
};

struct LookaheadOptions {
  int32_t window = 4;      // W: positions guessed ahead
  int32_t ngram = 3;       // N >= 3: n-gram size (N - 1 tokens proposed after the text's last token)
  int32_t candidates = 4;  // G: n-grams kept per first token, and proposed per round
};

// A drafter in a session: its own options, how many tokens it may propose in a round, and
// whether the controller (controller.h) and its place record may make that fewer.
struct DraftSpec {
  // The draft model's length when none is given. On 1.1 B Q4_K_M (2 threads, greedy and at
  // temperature 0.8) at most 6 was 2-4% faster than 4 alone, and 1-2% slower beside lookup, which
  // takes the easy places and leaves the draft model the hard ones, where long drafts are seldom
  // kept (bench/results/round-costs-1b-q4_k_m.md, 2026-12-04 night).
  static constexpr int32_t kDefaultMaxTokens = 6, kDefaultMaxTokensBesideFree = 4;
  std::shared_ptr<ModelCore> model;
  int32_t maxTokens = 0;  // 0: the default above, by whether free drafters run beside it
  bool adaptive = true;
  DraftModelOptions drafter;

  int32_t length(bool besideFree) const {
    return maxTokens > 0 ? maxTokens : besideFree ? kDefaultMaxTokensBesideFree : kDefaultMaxTokens;
  }
};

struct LookupSpec {
  LookupOptions lookup;
  int32_t maxTokens = 8;
  bool adaptive = true;
};

struct RetrievalSpec {
  std::string path;
  std::shared_ptr<const Datastore> store;  // opened from path by the worker that makes the session
  RetrievalOptions retrieval;
  int32_t maxTokens = 8;
  bool adaptive = true;
};

struct LookaheadSpec {
  LookaheadOptions lookahead;  // proposes ngram - 1 tokens, every round (its window runs every round)
};

struct SessionOptions {
  EvaluatorOptions main;
  std::optional<DraftSpec> draft;
  std::optional<LookupSpec> lookup;
  std::optional<RetrievalSpec> retrieval;
  std::optional<LookaheadSpec> lookahead;
};

// ---- A generation -------------------------------------------------------------------------------

struct GenerationRequest {
  std::optional<std::string> promptText;
  std::vector<llama_token> promptTokens;
  bool addBos = true;
  bool parseSpecial = false;  // special-token text in a text prompt parsed as those tokens
  int32_t maxTokens = -1;  // -1: until the context is full
  SamplingParams sampling;
  std::vector<std::string> stops;
  std::string grammar;  // GBNF the output must follow ("": none)
  int32_t logprobs = -1;  // -1: none; else each token's log-probability and this many likeliest alternatives
  double chunkMs = 25;  // a step returns to JS after about this long
  // Texts the lookup drafter may quote for this generation only (search results, open files):
  // tokenized and indexed, never put into the prompt or the KV cache.
  std::vector<std::string> references;
};

}  // namespace specdec
