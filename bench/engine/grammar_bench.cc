// What constrained decoding costs: generation speed of the embedded engine with and without a
// grammar, on the same model, prompt and context, alternating the modes within each repetition.
//   grammar_bench [--threads 2] [--tokens 96] [--reps 5] [--temp 0] MODEL.gguf...
// Modes: free (no grammar, end-of-generation ignored so that every run writes --tokens tokens),
// json (the json_object grammar) and schema (a JSON Schema with an array of objects, enums and
// integer ranges); both grammars over the model's whole vocabulary. The prompt asks, in ChatML,
// for the JSON the schema describes, so a good model mostly writes what the grammar wants and
// the sampler's first choice passes (one check a token); --temp > 0 makes refusals, and so full
// vocabulary masks, more frequent. Prints tokens/s best and median per mode (decode only: the
// prompt is evaluated once and then served from the cache), the median cost against free, and
// the time spent choosing each token (sampling plus the grammar: the grammar's own cost, free
// of the noise a shared machine puts into the forward pass), how many tokens each constrained
// run wrote, and for how many tokens in all the first choice
// was refused and the whole vocabulary masked. On stderr: what a full-vocabulary mask costs at
// every position of the schema outputs, replayed on a fresh matcher (the worst case, a model
// whose every first choice the grammar refuses).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json.h"
#include "engine/generate.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/json_grammar.h"
#include "engine/model.h"

using naut::engine::Context;
using naut::engine::GenerateOptions;
using naut::engine::Grammar;
using naut::engine::Model;
using naut::engine::TokenVocabulary;

namespace {

constexpr const char* kSchema = R"({
  "type": "object",
  "properties": {
    "party": {"type": "array", "minItems": 3, "maxItems": 6, "items": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "class": {"enum": ["warrior", "mage", "rogue", "cleric"]},
        "level": {"type": "integer", "minimum": 1, "maximum": 20},
        "inventory": {"type": "array", "items": {"type": "string"}}
      },
      "required": ["name", "class", "level", "inventory"]
    }}
  },
  "required": ["party"]
})";

constexpr const char* kPrompt =
    "<|im_start|>system\nYou answer with JSON only.<|im_end|>\n<|im_start|>user\nDescribe a "
    "party of five fantasy adventurers as a JSON object {\"party\": [...]}, each with a name, "
    "a class (warrior, mage, rogue or cleric), a level from 1 to 20 and an inventory of items."
    "<|im_end|>\n<|im_start|>assistant\n";

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, tokens = 96, reps = 5;
  float temp = 0;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads") {
      threads = std::stoi(next());
    } else if (a == "--tokens") {
      tokens = std::stoi(next());
    } else if (a == "--reps") {
      reps = std::stoi(next());
    } else if (a == "--temp") {
      temp = std::stof(next());
    } else {
      models.push_back(a);
    }
  }
  auto schema_text = naut::engine::JsonSchemaToGrammar(naut::Json::parse(kSchema));
  auto json = Grammar::Parse(naut::engine::JsonObjectGrammar());
  if (!schema_text.ok() || !json.ok()) {
    std::fprintf(stderr, "grammar: %s\n",
                 schema_text.ok() ? json.error().ToString().c_str()
                                  : schema_text.error().ToString().c_str());
    return 1;
  }
  auto schema = Grammar::Parse(*schema_text);
  if (!schema.ok()) {
    std::fprintf(stderr, "grammar: %s\n", schema.error().ToString().c_str());
    return 1;
  }
  std::printf(
      "| model | vocab | threads | temp | free t/s best (median) | json t/s best (median) | "
      "schema t/s best (median) | cost json / schema (median) | sampling ms/token free / json / "
      "schema (median) | tokens json / schema | full masks json / schema |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& path : models) {
    auto m = Model::Load(path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.error().ToString().c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto vocab = TokenVocabulary::Build((*m)->tokenizer());
    const double vocab_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    auto ctx = Context::Create(**m, {.n_ctx = 1024, .n_threads = threads});
    if (!ctx.ok()) {
      std::fprintf(stderr, "%s\n", ctx.error().ToString().c_str());
      return 1;
    }
    const auto prompt = (*m)->tokenizer().Tokenize(kPrompt, true, true);
    const Grammar* grammars[] = {nullptr, &*json, &*schema};
    std::vector<double> rate[3];
    std::vector<int> written[3];
    int masks[3] = {0, 0, 0};
    std::vector<double> sample_ms[3];
    std::vector<double> mask_ms;
    for (int r = 0; r <= reps; ++r) {
      for (int step = 0; step < 3; ++step) {
        const int mode = r % 2 == 0 ? step : 2 - step;  // alternate the order
        GenerateOptions o;
        o.max_tokens = tokens;
        o.sampling = {.temperature = temp, .seed = static_cast<uint64_t>(r)};
        o.grammar = grammars[mode];
        o.vocabulary = vocab.get();
        o.stop_at_eog = mode != 0;
        auto res = naut::engine::Generate(**ctx, prompt, o);
        if (!res.ok()) {
          std::fprintf(stderr, "%s\n", res.error().ToString().c_str());
          return 1;
        }
        if (r == 0) continue;  // warm-up
        if (mode == 2) {
          // The worst case, every token's first choice refused: a full mask at every position
          // of this output, on a fresh matcher (no state cached yet).
          naut::engine::GrammarConstraint c(*schema, *vocab);
          for (naut::engine::TokenId id : res->tokens) {
            const auto m0 = std::chrono::steady_clock::now();
            (void)c.Allowed();
            mask_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m0)
                    .count());
            if (!c.Accept(id)) break;
          }
        }
        rate[mode].push_back(static_cast<double>(res->tokens.size()) / res->gen_seconds);
        written[mode].push_back(static_cast<int>(res->tokens.size()));
        masks[mode] += res->grammar_full_masks;
        sample_ms[mode].push_back(1e3 * res->sample_seconds /
                                  static_cast<double>(res->tokens.size()));
      }
    }
    auto best = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
    const double free_med = Median(rate[0]);
    std::printf(
        "| %s | %d | %d | %.1f | %.1f (%.1f) | %.1f (%.1f) | %.1f (%.1f) | %+.1f%% / %+.1f%% | "
        "%.3f / %.3f / %.3f | %d / %d | %d / %d |\n",
        std::filesystem::path(path).filename().c_str(), vocab->n_tokens(), threads, temp,
        best(rate[0]), free_med, best(rate[1]), Median(rate[1]), best(rate[2]), Median(rate[2]),
        100.0 * (free_med - Median(rate[1])) / free_med,
        100.0 * (free_med - Median(rate[2])) / free_med, Median(sample_ms[0]), Median(sample_ms[1]),
        Median(sample_ms[2]), written[1].back(), written[2].back(), masks[1], masks[2]);
    double mask_sum = 0;
    for (double v : mask_ms) mask_sum += v;
    std::fprintf(stderr,
                 "%s: token trie built in %.0f ms; a full-vocabulary mask at every position of the "
                 "schema outputs: mean %.3f ms, median %.3f ms, max %.3f ms over %zu masks\n",
                 path.c_str(), vocab_ms, mask_sum / static_cast<double>(mask_ms.size()),
                 Median(mask_ms), *std::max_element(mask_ms.begin(), mask_ms.end()),
                 mask_ms.size());
  }
  return 0;
}
