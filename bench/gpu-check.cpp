// The GPU check: with the models offloaded to a GPU, every system generates the benchmark prompts;
// greedy outputs are compared with plain decoding's; tokens/s, speedups, tokens per main-model
// evaluation and the time a round spends outside both models' evaluations are tabled; and with
// --logits, batched logits are compared with single-token ones. It is C++ over the engine because
// the lent GPU machines have no Node.js and what travels there is capped (bench/gpu-pack.sh).
// Built with -DSPECDEC_BENCH_TOOLS=ON (bench/gpu-run.sh).
//
//   specdec_gpu_check --main M.gguf [--draft D.gguf] --prompts F.jsonl [--n-prompts 12] [--rounds 1]
//                     [--temps 0,0.8] [--numerics exact|fast] [--logits] [--threads 8] [--out FILE]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "errors.h"
#include "evaluator.h"
#include "model.h"
#include "session.h"

using namespace specdec;

namespace {

struct Prompt {
  std::string id, text;
  int32_t nPredict = 128;
};

struct System {
  std::string name;
  bool lookup = false;
  bool draft = false;
};

struct Run {
  double tokensPerSecond = 0, tokensPerStep = 0, otherMsPerDecode = 0;
  std::string text;
};

// Every line goes to stdout and, as it is written, to --out (appended): a run cut short by a
// time limit keeps what it had.
std::ofstream out;
void say(const std::string& s = "") {
  std::cout << s << std::endl;
  if (out.is_open()) out << s << std::endl;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::vector<Prompt> loadPrompts(const std::string& file, size_t limit) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::vector<Prompt> prompts;
  for (std::string line; std::getline(in, line) && prompts.size() < limit;) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    prompts.push_back({j.at("id").get<std::string>(), j.at("prompt").get<std::string>(), j.value("n_predict", 128)});
  }
  return prompts;
}

Run generate(const std::shared_ptr<ModelCore>& main, const std::shared_ptr<ModelCore>& draft, const System& system,
             const Prompt& prompt, float temperature, uint32_t seed, int32_t threads) {
  SessionOptions options;
  options.main.contextSize = 2048;
  options.main.threads = options.main.threadsBatch = threads;
  if (system.lookup) options.lookup = LookupSpec{};
  if (system.draft) {
    options.draft = DraftSpec{};
    options.draft->model = draft;
  }
  SessionCore session(main, options);
  GenerationRequest request;
  request.promptText = prompt.text;
  request.maxTokens = prompt.nPredict;
  request.sampling.temperature = temperature;
  request.sampling.seed = seed;
  session.begin(request);
  Run run;
  for (;;) {
    StepResult step = session.step();
    run.text += step.text;
    if (step.done) break;
  }
  session.settle();
  const GenerationStats& s = session.publishedStats;
  run.tokensPerSecond = s.generationMs > 0 ? s.generatedTokens * 1000.0 / s.generationMs : 0;
  run.tokensPerStep = s.mainDecodes > 0 ? (double)s.generatedTokens / s.mainDecodes : 0;
  run.otherMsPerDecode = s.mainDecodes > 0 ? (s.generationMs - s.mainMs - s.draftMs) / s.mainDecodes : 0;
  return run;
}

// Batched logits against single-token logits over the joined prompts' first 600 tokens.
void checkLogits(const std::shared_ptr<ModelCore>& main, const std::vector<Prompt>& prompts, int32_t threads) {
  std::string joined;
  for (const Prompt& p : prompts) joined += p.text + "\n";
  std::vector<llama_token> tokens = main->tokenize(joined, true, false);
  tokens.resize(std::min<size_t>(tokens.size(), 600));
  SessionOptions options;
  options.main.contextSize = 1024;
  options.main.threads = options.main.threadsBatch = threads;
  SessionCore session(main, options);
  const std::vector<float> single = session.evaluateLogits(tokens, 1);
  const size_t vocab = single.size() / tokens.size();
  say();
  say("### batched logits against single tokens (" + std::to_string(tokens.size()) + " tokens)");
  say();
  say("| batch | max abs difference | argmax flips |");
  say("| --- | --- | --- |");
  for (uint32_t batch : {2u, 3u, 4u, 5u, 8u, 9u, 16u, 17u, 64u}) {
    const std::vector<float> batched = session.evaluateLogits(tokens, batch);
    double diff = 0;
    size_t flips = 0;
    for (size_t t = 0; t < tokens.size(); t++) {
      const float* a = &single[t * vocab];
      const float* b = &batched[t * vocab];
      for (size_t i = 0; i < vocab; i++) diff = std::max(diff, (double)std::fabs(a[i] - b[i]));
      if (std::max_element(a, a + vocab) - a != std::max_element(b, b + vocab) - b) flips++;
    }
    say("| " + std::to_string(batch) + " | " + (diff == 0 ? std::string("0 (bit-identical)") : fixed(diff, 6)) + " | " +
        std::to_string(flips) + " |");
  }
}

int run(int argc, char** argv) {
  std::string mainPath, draftPath, promptsPath, outPath, numerics = "exact", temps = "0,0.8";
  size_t nPrompts = 12;
  int rounds = 1;
  int32_t threads = 8;
  bool logits = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--main") mainPath = value();
    else if (a == "--draft") draftPath = value();
    else if (a == "--prompts") promptsPath = value();
    else if (a == "--n-prompts") nPrompts = std::stoul(value());
    else if (a == "--rounds") rounds = std::stoi(value());
    else if (a == "--temps") temps = value();
    else if (a == "--numerics") numerics = value();
    else if (a == "--threads") threads = std::stoi(value());
    else if (a == "--logits") logits = true;
    else if (a == "--out") outPath = value();
    else throw std::runtime_error("unknown argument " + a);
  }
  if (mainPath.empty() || promptsPath.empty() || (numerics != "exact" && numerics != "fast")) {
    std::cerr << "usage: specdec_gpu_check --main M.gguf [--draft D.gguf] --prompts F.jsonl [--n-prompts N] [--rounds R]\n"
                 "                         [--temps 0,0.8] [--numerics exact|fast] [--logits] [--threads T] [--out FILE]\n";
    return 2;
  }
  if (!outPath.empty()) out.open(outPath, std::ios::app);
  llama_backend_init();
  setExactNumerics(numerics == "exact");

  auto load = [](const std::string& path) {
    ModelOptions o;
    o.path = path;
    return ModelCore::load(o);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const std::shared_ptr<ModelCore> main = load(mainPath);
  const std::shared_ptr<ModelCore> draft = draftPath.empty() ? nullptr : load(draftPath);
  const double loadMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<Prompt> prompts = loadPrompts(promptsPath, nPrompts);

  auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
  say("## " + base(mainPath) + (draft ? " with " + base(draftPath) : "") + ", " + numerics + " numerics");
  say();
  say("- " + std::string(llama_print_system_info()));
  say("- models loaded in " + fixed(loadMs, 0) + " ms (every layer on the GPU where there is one)");
  if (logits) checkLogits(main, prompts, threads);

  std::vector<System> systems = {{"plain", false, false}, {"lookup", true, false}};
  if (draft) {
    systems.push_back({"draft", false, true});
    systems.push_back({"draft + lookup", true, true});
  }
  std::stringstream tempList(temps);
  for (std::string t; std::getline(tempList, t, ',');) {
    const float temperature = std::stof(t);
    // runs[system][prompt][round]
    std::vector<std::vector<std::vector<Run>>> runs(systems.size(), std::vector<std::vector<Run>>(prompts.size()));
    for (int round = 0; round < rounds; round++) {
      for (size_t pi = 0; pi < prompts.size(); pi++) {
        for (size_t k = 0; k < systems.size(); k++) {
          const size_t si = round % 2 ? systems.size() - 1 - k : k;
          runs[si][pi].push_back(generate(main, draft, systems[si], prompts[pi], temperature, 1 + round, threads));
          // progress on stdout only: a run cut short by a time limit still shows what it measured
          std::cout << "  t" << t << " " << prompts[pi].id << " " << systems[si].name << ": "
                    << fixed(runs[si][pi].back().tokensPerSecond, 1) << " tokens/s, "
                    << fixed(runs[si][pi].back().tokensPerStep, 2) << " per evaluation" << std::endl;
        }
      }
    }
    say();
    say("### temperature " + t + " (" + std::to_string(prompts.size()) + " prompts, " + std::to_string(rounds) +
        " rounds, a fresh session per generation)");
    say();
    say("| system | tokens/s (median) | speedup vs plain: median, min prompt | tokens per main evaluation | other ms per evaluation | greedy text equal to plain |");
    say("| --- | --- | --- | --- | --- | --- |");
    for (size_t si = 0; si < systems.size(); si++) {
      std::vector<double> tps, ratios, steps, other;
      std::string differ;
      size_t equal = 0;
      for (size_t pi = 0; pi < prompts.size(); pi++) {
        std::vector<double> mine, plain;
        for (const Run& r : runs[si][pi]) mine.push_back(r.tokensPerSecond), steps.push_back(r.tokensPerStep), other.push_back(r.otherMsPerDecode);
        for (const Run& r : runs[0][pi]) plain.push_back(r.tokensPerSecond);
        tps.push_back(median(mine));
        ratios.push_back(median(mine) / median(plain));
        const std::string& a = runs[0][pi][0].text;
        const std::string& b = runs[si][pi][0].text;
        if (a == b) {
          equal++;
        } else {
          size_t at = 0;
          while (at < a.size() && at < b.size() && a[at] == b[at]) at++;
          differ += (differ.empty() ? "" : ", ") + prompts[pi].id + "@" + std::to_string(at);
        }
      }
      const std::string same = temperature > 0 ? "-"
                                               : std::to_string(equal) + "/" + std::to_string(prompts.size()) +
                                                     (differ.empty() ? "" : " (differ: " + differ + ")");
      say("| " + systems[si].name + " | " + fixed(median(tps), 1) + " | " +
          (si ? fixed(median(ratios), 2) + ", " + fixed(*std::min_element(ratios.begin(), ratios.end()), 2) : "-") + " | " +
          fixed(median(steps), 2) + " | " + fixed(median(other), 2) + " | " + same + " |");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const SpecdecException& e) {
    std::cerr << "specdec_gpu_check: " << e.code() << ": " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "specdec_gpu_check: " << e.what() << "\n";
  }
  return 1;
}
