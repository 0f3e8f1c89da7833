// Unit tests of the engine's parts that need no model: the token tree, the verification batch's
// layout, the place record, the text stream, the verifier and the draft-length controller; and
// the patched CPU backend's column kernels against llama.cpp's single-column ones. Built
// with the engine (no Node-API) as build/Release/specdec_engine_tests; test/engine.test.ts runs it
// in `npm test`.
//
// usage: specdec_engine_tests [name-filter]   exit status 0: every test passed
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "acceptance_record.h"
#include "batch.h"
#include "column_kernels.h"
#include "controller.h"
#include "cost_curve.h"
#include "place_record.h"
#include "sampling.h"
#include "text.h"
#include "tree.h"
#include "verify.h"

using namespace specdec;

namespace {

int failures = 0;

template <typename T>
std::string show(const T& v) {
  return std::to_string(v);
}
std::string show(const std::string& v) { return "\"" + v + "\""; }

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      failures++;                                                            \
    }                                                                        \
  } while (0)
#define CHECK_EQ(a, b)                                                                              \
  do {                                                                                              \
    const auto va = (a);                                                                            \
    const auto vb = (b);                                                                            \
    if (!(va == vb)) {                                                                              \
      std::fprintf(stderr, "  %s:%d: %s == %s failed (%s vs %s)\n", __FILE__, __LINE__, #a, #b,    \
                   show(va).c_str(), show(vb).c_str());                         \
      failures++;                                                                                   \
    }                                                                                               \
  } while (0)

struct Test {
  const char* name;
  std::function<void()> run;
};

Draft chain(std::vector<llama_token> tokens) {
  Draft d;
  d.tokens = std::move(tokens);
  return d;
}

// ---- DraftTree ---------------------------------------------------------------------------------

void treeMergesSharedPrefixes() {
  DraftTree tree;
  tree.add(chain({10, 11, 12}), 0, 64, 8);
  tree.add(chain({10, 11, 13}), 1, 64, 8);  // shares 10, 11; branches at the third place
  tree.add(chain({20}), 2, 64, 8);          // a second child of the root
  CHECK_EQ(tree.size(), (size_t)5);
  CHECK_EQ(tree.depth(), 3);
  CHECK_EQ(tree.node(0).sources, 3u);  // 10: both drafters
  CHECK_EQ(tree.node(1).sources, 3u);
  CHECK_EQ(tree.node(2).sources, 1u);  // 12: the first
  CHECK_EQ(tree.node(3).sources, 2u);  // 13: the second
  CHECK_EQ(tree.node(3).parent, 1);
  CHECK_EQ(tree.node(4).depth, 1);
  // the first proposal at a place stays the first child
  CHECK_EQ(tree.firstChild(DraftTree::kRoot), 0);
  CHECK_EQ(tree.node(0).nextSibling, 4);
  CHECK_EQ(tree.node(2).nextSibling, 3);
  // a chain already in the tree adds no node
  tree.add(chain({10, 11, 13}), 1, 64, 8);
  CHECK_EQ(tree.size(), (size_t)5);
  CHECK_EQ(tree.node(3).sources, 2u);
}

void treeOrder() {
  DraftTree tree;
  tree.add(chain({10, 11, 12}), 0, 64, 8);
  tree.add(chain({10, 11, 13}), 1, 64, 8);
  tree.add(chain({20, 21}), 1, 64, 8);
  size_t primary = 0;
  std::vector<int32_t> order = tree.order(DraftTree::kRoot, &primary);
  // depth first, first children first: 10 11 12 13 20 21
  CHECK_EQ(order.size(), (size_t)6);
  CHECK_EQ(tree.node(order[0]).token, 10);
  CHECK_EQ(tree.node(order[2]).token, 12);
  CHECK_EQ(tree.node(order[3]).token, 13);
  CHECK_EQ(tree.node(order[4]).token, 20);
  CHECK_EQ(primary, (size_t)3);  // 10 11 12: the primary path
  order = tree.order(1, &primary);  // a subtree: from node 1 (token 11) down
  CHECK_EQ(order.size(), (size_t)3);
  CHECK_EQ(primary, (size_t)2);
}

// ---- VerificationBatch -------------------------------------------------------------------------

void batchLaysOutATree() {
  DraftTree tree;
  tree.add(chain({10, 11, 12}), 0, 64, 8);
  tree.add(chain({10, 11, 13}), 1, 64, 8);
  tree.add(chain({20, 21}), 1, 64, 8);
  VerificationBatch b;
  b.build({7}, tree, DraftTree::kRoot, nullptr, 0);
  CHECK_EQ(b.tokens.size(), (size_t)7);  // 7 | 10 11 12 13 20 21
  CHECK_EQ(b.tokens[0], 7);
  CHECK_EQ(b.tokens[4], 13);
  CHECK_EQ(b.primaryRows, (size_t)4);  // 7 10 11 12
  CHECK_EQ(b.branches, 2);              // 13's leaf and 21's leaf
  CHECK_EQ(b.seqs[0], 0b111ull);        // the pending token: every sequence
  CHECK_EQ(b.seqs[1], 0b011ull);        // 10: sequence 0 (primary leaf 12) and 1 (leaf 13)
  CHECK_EQ(b.seqs[2], 0b011ull);
  CHECK_EQ(b.seqs[3], 0b001ull);
  CHECK_EQ(b.seqs[4], 0b010ull);
  CHECK_EQ(b.seqs[5], 0b100ull);  // 20 and 21: sequence 2 only
  CHECK_EQ(b.seqs[6], 0b100ull);
  const std::vector<int32_t> offsets{0, 1, 2, 3, 3, 1, 2};  // positions after the pending token, by depth
  CHECK(b.offsets == offsets);
  CHECK_EQ(b.rowOf[3], 4);  // node 3 (13) in row 4
  // the subtree of the kept first place (10), nothing pending: 10 11 12 13, the top in both sequences
  b.build({}, tree, 0, nullptr, 0);
  CHECK_EQ(b.tokens.size(), (size_t)4);
  CHECK_EQ(b.branches, 1);
  CHECK_EQ(b.primaryRows, (size_t)3);
  CHECK_EQ(b.seqs[0], 0b11ull);
  CHECK_EQ(b.offsets[0], 0);
  CHECK_EQ(b.offsets[3], 2);
  CHECK_EQ(b.rowOf[4], -1);  // 20: not in the batch
  // a chain: sequence 0 alone, evaluated the plain way
  DraftTree line;
  line.add(chain({1, 2, 3}), 0, 64, 8);
  b.build({9}, line, DraftTree::kRoot, nullptr, 0);
  CHECK_EQ(b.branches, 0);
  CHECK_EQ(b.primaryRows, (size_t)4);
}

void batchLaysOutTheLookaheadWindow() {
  DraftTree tree;
  tree.add(chain({10}), 0, 64, 8);
  tree.add(chain({20}), 1, 64, 8);
  // a window of two columns (sequences): one token in both, one in the second only
  const std::vector<LookaheadToken> window{{30, 1, 0b11, false}, {31, 2, 0b10, true}};
  VerificationBatch b;
  b.build({7}, tree, DraftTree::kRoot, &window, 2);
  CHECK_EQ(b.tokens.size(), (size_t)5);  // 7 | 10 20 | 30 31
  CHECK_EQ(b.treeBranches, 1);
  CHECK_EQ(b.branches, 3);
  CHECK_EQ(b.seqs[0], 0b1111ull);
  CHECK_EQ(b.seqs[3], 0b1100ull);  // the window's columns after the tree's sequences
  CHECK_EQ(b.seqs[4], 0b1000ull);
  CHECK_EQ(b.offsets[3], 1);       // anchored at the pending token (offset 0)
  CHECK_EQ(b.offsets[4], 2);
  CHECK_EQ(b.windowRows.size(), (size_t)1);
  CHECK_EQ(b.windowRows[0], 4);
  // no tree rows, nothing pending but the main model's token: the window alone
  b.build({8}, tree, VerificationBatch::kNoTree, &window, 2);
  CHECK_EQ(b.tokens.size(), (size_t)3);
  CHECK_EQ(b.branches, 2);
  CHECK_EQ(b.seqs[0], 0b111ull);
  CHECK_EQ(b.seqs[1], 0b110ull);
  // the kept child starts the batch: it anchors the window and joins its sequences
  b.build({}, tree, 0, &window, 2);
  CHECK_EQ(b.tokens.size(), (size_t)3);
  CHECK_EQ(b.seqs[0], 0b111ull);
  CHECK_EQ(b.offsets[1], 1);
}

void treeRespectsBudgets() {
  DraftTree tree;
  tree.add(chain({1, 2, 3, 4, 5}), 0, 3, 8);  // at most 3 nodes
  CHECK_EQ(tree.size(), (size_t)3);
  tree.clear();
  CHECK(tree.empty());
  tree.add(chain({1, 2}), 0, 64, 1);
  tree.add(chain({1, 3}), 1, 64, 1);  // a second leaf: refused
  tree.add(chain({1, 2, 4}), 1, 64, 1);  // extends the one leaf: fine
  CHECK_EQ(tree.size(), (size_t)3);
  CHECK_EQ(tree.node(2).token, 4);
}

void treeKeepsDistributions() {
  DraftTree tree;
  Draft d = chain({5, 6});
  d.q.resize(2);
  d.q[0].tokens = {5, 7};
  d.q[0].probs = {0.75f, 0.25f};
  d.q[1].tokens = {6};
  d.q[1].probs = {1.0f};
  tree.add(chain({5}), 0, 64, 8);  // a deterministic drafter first
  tree.add(d, 1, 64, 8);
  CHECK(tree.q(0) != nullptr);  // the sampled drafter's q joins the shared node
  CHECK(std::fabs(tree.q(0)->probOf(7) - 0.25f) < 1e-6);
  CHECK(tree.q(1) != nullptr);
}

// ---- PlaceRecord -------------------------------------------------------------------------------

void placeRecordPriorAndCuts() {
  PlaceRecord r;
  CHECK(std::fabs(r.chance(0) - 0.7) < 1e-9);  // the prior before anything is seen
  CHECK_EQ(r.likelyLength(8, 1.0), (size_t)4);  // 0.7^4 = 0.24, 0.7^5 = 0.17 < 0.2
  for (int i = 0; i < 50; i++) r.record(0, true);
  CHECK(r.chance(0) > 0.95);
  CHECK(!r.poorFirstPlace());
  PlaceRecord poor;
  for (int i = 0; i < 20; i++) poor.record(0, i % 10 == 0);
  CHECK(poor.poorFirstPlace());
  CHECK(poor.chance(0) < 0.3);
  // beside a well-kept sibling the first token seldom matters: nothing goes but a lone token
  CHECK_EQ(r.likelyLength(4, 0.1), (size_t)0);
  CHECK_EQ(poor.likelyLength(4, 1.0), (size_t)1);  // a lone first token always goes
  // Beside another drafter's path: the shared tokens before `from` go free; from there the path's
  // chance counts, and a token not worth it is cut with all after it.
  CHECK_EQ(r.likelyLengthFrom(6, 2, 0.1), (size_t)2);
  CHECK_EQ(r.likelyLengthFrom(6, 2, 0.5), (size_t)5);  // places 2-5: 0.5, 0.35, 0.245, 0.17 < 0.2
  CHECK_EQ(r.likelyLengthFrom(2, 2, 0.0), (size_t)2);  // nothing past the end
}

// ---- TextStream --------------------------------------------------------------------------------

void textStreamHoldsIncompleteUtf8() {
  TextStream s;
  const std::string euro = "\xE2\x82\xAC";  // three bytes
  CHECK(!s.push("a" + euro.substr(0, 1)));
  CHECK_EQ(s.take(), std::string("a"));
  CHECK(!s.push(euro.substr(1)));
  CHECK_EQ(s.take(), euro);
  CHECK_EQ(incompleteUtf8Tail("x\xF0\x9F"), (size_t)2);
  CHECK_EQ(incompleteUtf8Tail("x\xF0\x9F\x98\x80"), (size_t)0);
}

void textStreamStopsAcrossTokens() {
  TextStream s({"STOP"});
  CHECK(!s.push("hello S"));
  CHECK_EQ(s.take(), std::string("hello "));  // "S" may begin the stop sequence: held
  CHECK(!s.push("T"));
  CHECK_EQ(s.take(), std::string(""));
  CHECK(s.push("OP and more"));
  CHECK_EQ(s.take(), std::string(""));  // the stop sequence and what follows are dropped
  TextStream t({"STOP"});
  t.push("a S");
  t.push("x");  // not the stop sequence after all
  CHECK_EQ(t.take(), std::string("a Sx"));
  t.push("ST");
  t.flush();
  CHECK_EQ(t.take(), std::string("ST"));
}

// ---- Verifier ----------------------------------------------------------------------------------

std::vector<float> logitsFor(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(p > 0 ? (float)std::log(p) : -1e9f);
  return logits;
}

void verifierGreedy() {
  SamplingParams params;
  params.temperature = 0;
  Sampler sampler(params);
  Verifier verifier(sampler, 4);
  const std::vector<float> logits = {0.1f, 2.0f, 0.5f, -1.0f};  // argmax: token 1
  const std::vector<llama_token> history;
  Choice c = verifier.choose(logits.data(), history, 0, {3, 1}, -1, nullptr);
  CHECK_EQ(c.kept, 1);
  CHECK_EQ(c.token, 1);
  c = verifier.choose(logits.data(), history, 0, {2, 3}, -1, nullptr);
  CHECK_EQ(c.kept, -1);
  CHECK_EQ(c.token, 1);
}

// The token at a place follows p whatever the drafts: a sampled draft from q (speculative
// sampling) and a deterministic candidate beside it.
void verifierSamplingFollowsP() {
  SamplingParams params;
  params.temperature = 1;
  params.topK = 0;
  params.topP = 1;
  params.minP = 0;
  params.seed = 42;
  Sampler sampler(params);
  const std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  const std::vector<float> logits = logitsFor(p);
  Verifier verifier(sampler, 4);
  Distribution q;
  q.tokens = {2, 0, 1, 3};  // a drafter that likes token 2 too much
  q.probs = {0.6f, 0.2f, 0.1f, 0.1f};
  const int n = 40000;
  std::vector<int> count(4, 0), draftedCount(4, 0);
  int kept = 0;
  const std::vector<llama_token> history;
  for (int i = 0; i < n; i++) {
    // the draft drawn from q with the draft stream, as the draft model draws it
    const llama_token drafted = Sampler::draw(q, sampler.uniform((size_t)i, Stream::Draft));
    const std::vector<llama_token> candidates = drafted == 1 ? std::vector<llama_token>{1} : std::vector<llama_token>{drafted, 1};
    const Choice c = verifier.choose(logits.data(), history, (size_t)i, candidates, 0, &q);
    count[c.token]++;
    draftedCount[drafted]++;
    kept += c.kept >= 0;
  }
  auto chi2 = [&](const std::vector<int>& counts) {
    double x = 0;
    for (int t = 0; t < 4; t++) x += std::pow(counts[t] - n * p[t], 2) / (n * p[t]);
    return x;
  };
  CHECK(chi2(count) < 16.3);  // chi-square, 3 degrees of freedom: p = 0.001
  CHECK(kept > n / 2);
  // and the check has the power to see a wrong rule: keeping every draft gives q, not p
  CHECK(chi2(draftedCount) > 100);
}

// ---- DraftController ---------------------------------------------------------------------------

CostPrior cheapBatches(int maxTokens) {
  CostPrior prior;
  for (int n = 0; n <= maxTokens + 1; n++) prior.ratio.push_back(n == 0 ? 0 : 1 + 0.1 * (n - 1));
  prior.draftStep = 0.05;
  return prior;
}

// Simulates rounds at 10 ms a main step: each draft is kept with probability `acceptance`
// (deterministically spread); returns the lengths chosen in the last `tail` rounds.
std::vector<int> simulate(DraftController& c, double acceptance, int rounds, int tail) {
  std::vector<int> lengths;
  double credit = 0;
  for (int r = 0; r < rounds; r++) {
    const int k = c.next(0, 100000);
    int accepted = 0;
    while (accepted < k) {
      credit += acceptance;
      if (credit < 1) break;
      credit -= 1;
      accepted++;
    }
    const int checked = std::min(k, accepted + 1);
    const double ms = k == 0 ? 10.0 : 10.0 * (1 + 0.1 * k) + 0.5 * k;
    c.recordRound(k, k == 0 ? 1 : accepted + 1, ms, checked, accepted);
    if (r >= rounds - tail) lengths.push_back(k);
  }
  return lengths;
}

void controllerDraftsWhenKept() {
  DraftController c(6, true, cheapBatches(6));
  CHECK_EQ(c.next(0, 1000), 6);  // the prior says drafting pays: the longest length first
  std::vector<int> tail = simulate(c, 0.95, 400, 100);
  int longDrafts = 0;
  for (int k : tail) longDrafts += k >= 4;
  CHECK(longDrafts >= 70);
}

// Acceptance measured in rounds that are another controller's counts too: one early round that
// keeps nothing does not settle the length when many rounds beside it keep everything.
void controllerLearnsAcceptanceFromOtherRounds() {
  DraftController c(8, true, cheapBatches(8));
  CHECK_EQ(c.next(0, 1000), 8);
  c.recordRound(8, 1, 20.0, 1, 0);  // untimed first drafting round: the first draft rejected
  CHECK(c.acceptance(0) < 0.5);
  for (int r = 0; r < 30; r++) c.recordAcceptance(8, 8);
  CHECK(c.acceptance(0) > 0.9);
  CHECK(c.acceptance(7) > 0.9);
  for (int r = 0; r < 30; r++) c.recordAcceptance(3, 2);  // the third draft rejected each time
  CHECK(c.acceptance(1) > 0.9);
  CHECK(c.acceptance(2) < 0.4);  // from above 0.9, the older rounds faded
}

// A round whose first draft is rejected against the logits at hand runs no batch (0.1 ms, where
// a batch takes 40): its acceptance counts, its time is no point of the round-time fit. Taken as
// one, right after the untimed first round, it would make drafting look nearly free and choose
// one token a round.
void controllerIgnoresTheTimeOfRoundsWithoutABatch() {
  DraftController c(8, true, cheapBatches(8));
  c.setPlainEstimate(20);
  CHECK_EQ(c.next(0, 1000), 8);
  c.recordRound(8, 9, 45, 8, 8);  // untimed first drafting round: all kept
  CHECK_EQ(c.next(0, 1000), 8);
  c.recordRound(8, 0, 0.1, 1, 0, false);  // no batch
  CHECK(c.acceptance(0) < 0.8);
  for (int r = 0; r < 6; r++) {
    const int k = c.next(0, 1000);
    CHECK(k >= 6);
    c.recordRound(k, k + 1, 20 + 3 * k, k, k);
  }
}

// The prior's slope, scaled to a first timed round that drafted short: the cost curve's chord
// over the lengths, not its top end's slope drawn as a line down to the round's length. With the
// 1.1 B Q4_K_M model's curve, one 40 ms round of 3 (lookup proposing less than the length) read a
// round of 8 as 107 ms (the curve says 67) and chose one token a round for the generation.
void controllerScalesThePriorSlopeToShortRounds() {
  CostPrior measured;
  measured.ratio = {0, 1, 1.07, 1.44, 1.50, 1.63, 1.85, 2.07, 2.18, 2.50};
  DraftController c(8, true, measured);
  c.setPlainEstimate(19.5);
  CHECK_EQ(c.next(0, 1000), 8);
  c.recordRound(0, 1, 19.6, 0, 0);  // lookup found nothing: plain steps
  c.recordRound(0, 1, 23.1, 0, 0);
  c.recordRound(4, 1, 31.6, 1, 0);  // untimed first drafting round
  c.recordRound(3, 4, 40.1, 3, 3);
  CHECK(c.next(0, 1000) >= 4);
}

void controllerStopsWhenNothingIsKept() {
  DraftController c(6, true, cheapBatches(6));
  std::vector<int> tail = simulate(c, 0.0, 400, 100);
  int plain = 0;
  for (int k : tail) plain += k == 0;
  CHECK(plain >= 60);  // mostly plain decoding, with a try of drafting now and then
  // A session's next generation (another text, references) tries drafting in its first round.
  while (c.next(0, 100000) > 0) c.recordRound(1, 1, 11, 1, 0);
  c.recordRound(0, 1, 10, 0, 0);
  CHECK_EQ(c.next(0, 100000), 0);
  c.recordRound(0, 1, 10, 0, 0);
  c.startGeneration();
  CHECK(c.next(0, 100000) > 0);
}

// The session's first drafting round is not timed (cold caches): a second round is the one-round
// try. A try whose round keeps nothing goes on for a segment where the round's cost leaves
// drafting close at the prior's acceptance (one round's acceptance is luck, its time one sample),
// and stops after that round where it does not (a draft step as dear as a main one). A plain
// step: 10 ms.
void controllerTryOutlastsOneUnluckyRound() {
  DraftController c(4, true, cheapBatches(4));
  c.setPlainEstimate(10);
  CHECK_EQ(c.next(0, 100000), 4);
  c.recordRound(4, 1, 80, 1, 0);  // the first, cold: four times the usual
  const int k = c.next(0, 100000);
  CHECK_EQ(k, 4);
  // 27 ms a round: behind even at the prior's acceptance (2.5 tokens a round, 25 ms at plain
  // decoding's rate), but within the slack a lone round's time is given
  c.recordRound(k, 1, 27, 1, 0);
  for (int i = 0; i < 3; i++) {
    const int again = c.next(0, 100000);
    CHECK(again > 0);
    c.recordRound(again, again + 1, 27, again, again);
  }
  CHECK(c.next(0, 100000) > 0);  // the drafts of those rounds were kept: drafting goes on
}

void controllerOneRoundTryWhereDraftingCostsTooMuch() {
  DraftController c(4, true, cheapBatches(4));
  c.setPlainEstimate(10);
  CHECK_EQ(c.next(0, 100000), 4);
  c.recordRound(4, 5, 10.0 * 5, 4, 4);  // the first, not timed: all kept
  const int k = c.next(0, 100000);
  CHECK_EQ(k, 4);
  c.recordRound(k, 1, 10.0 * (1 + k), 1, 0);  // each draft step cost a main step
  CHECK_EQ(c.next(0, 100000), 0);
}

// The pair's acceptance measured in earlier generations decides before this session has measured
// anything: with batches dear enough that drafting pays at the fixed prior (0.7 at each
// position) but not at 0.3, a session starts drafting or not as the record says.
void controllerStartsFromThePairsAcceptance() {
  CostPrior dear;
  for (int n = 0; n <= 5; n++) dear.ratio.push_back(n == 0 ? 0 : 1 + 0.3 * (n - 1));
  dear.draftStep = 0.1;
  DraftController fixedPrior(4, true, dear);
  CHECK_EQ(fixedPrior.next(0, 100000), 4);
  DraftController poorPair(4, true, dear);
  poorPair.setPriorAcceptance({0.3, 0.3, 0.3, 0.3});
  CHECK_EQ(poorPair.next(0, 100000), 0);
  CHECK(std::abs(poorPair.acceptance(0) - 0.3) < 1e-9);
  DraftController goodPair(4, true, dear);
  goodPair.setPriorAcceptance({0.9, 0.95, 0.95, 0.95});
  CHECK_EQ(goodPair.next(0, 100000), 4);
  // What the session then measures outweighs the record within a few rounds: 0 of 8 kept at
  // the first position.
  for (int i = 0; i < 8; i++) goodPair.recordRound(4, 1, 20, 1, 0);
  CHECK(goodPair.acceptance(0) < 0.4);
  // Too short a record (fewer positions than the controller drafts): the fixed prior.
  DraftController shortRecord(4, true, dear);
  shortRecord.setPriorAcceptance({0.3});
  CHECK(std::abs(shortRecord.acceptance(0) - 0.7) < 1e-9);
}

void acceptanceRecordLearnsThePair() {
  AcceptanceRecord record;
  const AcceptanceRecord::Key greedy{1, false, false}, sampling{1, false, true};
  // Rounds of 4 drafts: the first always kept, the second in half the rounds, no more.
  for (int r = 0; r < 6; r++) record.record(greedy, 4, r % 2 ? 2 : 1);
  CHECK(record.acceptance(greedy, 4).empty());  // too few rounds to tell
  for (int r = 0; r < 40; r++) record.record(greedy, r % 2 ? 3 : 2, r % 2 ? 2 : 1);
  const std::vector<double> a = record.acceptance(greedy, 6);
  CHECK_EQ(a.size(), 6u);
  CHECK_EQ(a[0], 0.95);  // all kept: held below certainty
  CHECK(std::abs(a[1] - 0.5) < 0.05);
  CHECK_EQ(a[2], 0.3);  // none kept: held above nothing
  CHECK_EQ(a[4], a[3]);  // never reached: the deepest measured position's
  CHECK(record.acceptance(sampling, 4).empty());  // each decoding its own
  CHECK(record.acceptance({2, false, false}, 4).empty());  // each draft model its own
}

// A size's first decodes are cold: until measured, its figure is the least seen.
void costCurveColdFirstDecodes() {
  CostCurve curve;
  const int key = CostCurve::key(2, 2);
  CHECK_EQ(curve.singleEstimateMs(key), 0.0);
  for (double ms : {131.8, 37.3, 17.0}) curve.record(key, 1, ms);
  CHECK_EQ(curve.singleEstimateMs(key), 17.0);
  CHECK_EQ(curve.singleMs(key), 0.0);  // three samples: not measured yet
  for (double ms : {16.0, 17.0}) curve.record(key, 1, ms);
  CHECK_EQ(curve.singleMs(key), 16.0);
  for (int i = 0; i < 40; i++) curve.record(key, 1, 18.0);  // then it follows the machine
  CHECK(curve.singleMs(key) > 17.5 && curve.singleMs(key) < 18.0);
}

void controllerFixedWhenNotAdaptive() {
  DraftController c(3, false, cheapBatches(3));
  std::vector<int> tail = simulate(c, 0.0, 50, 50);
  for (int k : tail) CHECK_EQ(k, 3);
}

void columnKernelsMatchSingleColumn() {
  std::vector<std::string> mismatches;
  const int checked = checkColumnKernels(mismatches);
  for (const std::string& m : mismatches) std::fprintf(stderr, "  %s\n", m.c_str());
  CHECK(mismatches.empty());
  std::printf("     (%d kernel and column-count pairs checked)\n", checked);
}

const Test tests[] = {
    {"tree merges shared prefixes", treeMergesSharedPrefixes},
    {"tree order", treeOrder},
    {"batch lays out a tree", batchLaysOutATree},
    {"batch lays out the lookahead window", batchLaysOutTheLookaheadWindow},
    {"tree respects budgets", treeRespectsBudgets},
    {"tree keeps distributions", treeKeepsDistributions},
    {"place record prior and cuts", placeRecordPriorAndCuts},
    {"text stream holds incomplete UTF-8", textStreamHoldsIncompleteUtf8},
    {"text stream stops across tokens", textStreamStopsAcrossTokens},
    {"verifier greedy", verifierGreedy},
    {"verifier sampling follows p", verifierSamplingFollowsP},
    {"controller drafts when kept", controllerDraftsWhenKept},
    {"controller learns acceptance from other rounds", controllerLearnsAcceptanceFromOtherRounds},
    {"controller ignores the time of rounds without a batch", controllerIgnoresTheTimeOfRoundsWithoutABatch},
    {"controller scales the prior slope to short rounds", controllerScalesThePriorSlopeToShortRounds},
    {"controller stops when nothing is kept", controllerStopsWhenNothingIsKept},
    {"controller try outlasts one unlucky round", controllerTryOutlastsOneUnluckyRound},
    {"controller one-round try where drafting costs too much", controllerOneRoundTryWhereDraftingCostsTooMuch},
    {"controller starts from the pair's acceptance", controllerStartsFromThePairsAcceptance},
    {"acceptance record learns the pair", acceptanceRecordLearnsThePair},
    {"cost curve: cold first decodes", costCurveColdFirstDecodes},
    {"controller fixed when not adaptive", controllerFixedWhenNotAdaptive},
    {"column kernels match the single-column kernels", columnKernelsMatchSingleColumn},
};

}  // namespace

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int run = 0, failed = 0;
  for (const Test& t : tests) {
    if (!std::strstr(t.name, filter)) continue;
    const int before = failures;
    t.run();
    run++;
    const bool ok = failures == before;
    failed += !ok;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
  }
  std::printf("%d tests, %d failed\n", run, failed);
  return failed == 0 && run > 0 ? 0 : 1;
}
