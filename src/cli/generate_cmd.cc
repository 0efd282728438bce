// neuronaut generate -m FILE -p TEXT: run a GGUF model in-process and stream its continuation.

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/context.h"
#include "core/files.h"
#include "engine/generate.h"
#include "engine/grammar.h"
#include "engine/json_grammar.h"
#include "engine/model.h"
#include "engine/quant.h"

namespace naut::cli {

namespace {

struct GenerateFlags {
  std::string model, prompt;
  int n_predict = 128;
  int threads = 2;
  int ctx_size = 4096;
  int batch = 512;
  std::string kv_cache = "f16";
  bool no_bos = false;
  bool special = false;
  engine::SamplingParams sampling;
  std::vector<std::string> stop;
  std::string grammar_file, schema_file;  // GBNF, JSON Schema
  bool json = false;                      // any JSON object
};

// The grammar the flags ask for, or nullopt; errors name the file (and the grammar's line).
Result<std::optional<engine::Grammar>> FlagGrammar(const GenerateFlags& g) {
  if (static_cast<int>(!g.grammar_file.empty()) + static_cast<int>(!g.schema_file.empty()) +
          static_cast<int>(g.json) >
      1) {
    return InvalidArgument("generate: give one of --grammar, --json-schema and --json");
  }
  std::string gbnf;
  if (g.json) gbnf = engine::JsonObjectGrammar();
  if (!g.grammar_file.empty()) {
    NAUT_ASSIGN_OR_RETURN(gbnf, ReadFile(g.grammar_file));
  }
  if (!g.schema_file.empty()) {
    NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(g.schema_file));
    NAUT_ASSIGN_OR_RETURN(Json schema, ParseJson(text, g.schema_file));
    auto converted = engine::JsonSchemaToGrammar(schema);
    if (!converted) return converted.error().WithContext(g.schema_file);
    gbnf = std::move(*converted);
  }
  if (gbnf.empty()) return std::optional<engine::Grammar>();
  auto parsed = engine::Grammar::Parse(gbnf);
  if (!parsed) {
    return parsed.error().WithContext(g.grammar_file.empty() ? "generate" : g.grammar_file);
  }
  return std::optional<engine::Grammar>(std::move(*parsed));
}

int RunGenerate(const GenerateFlags& g) {
  auto grammar = FlagGrammar(g);
  if (!grammar) return Fail(grammar.error());
  auto model = engine::Model::Load(g.model);
  if (!model) return Fail(model.error());
  auto kv = engine::ParseKvType(g.kv_cache);
  if (!kv) return Fail(kv.error());
  auto ctx = engine::Context::Create(
      **model, {.n_ctx = g.ctx_size, .n_threads = g.threads, .n_batch = g.batch, .kv_type = *kv});
  if (!ctx) return Fail(ctx.error());
  auto prompt = (*model)->tokenizer().Tokenize(g.prompt, !g.no_bos, g.special);
  if (prompt.empty()) return Fail(InvalidArgument("generate: the prompt gives no tokens"));
  engine::GenerateOptions o;
  o.max_tokens = g.n_predict;
  o.sampling = g.sampling;
  o.stop = g.stop;
  if (*grammar) o.grammar = &**grammar;
  o.on_text = [](std::string_view t) {
    std::cout << t << std::flush;
    return true;
  };
  auto res = engine::Generate(**ctx, prompt, o);
  std::cout << "\n";
  if (!res) return Fail(res.error());
  const int n_eval = res->n_prompt - res->n_reused;
  // The first sampled token comes from the prompt's logits; each later one costs one decode.
  const int n_decoded = std::max<int>(
      0, static_cast<int>(res->tokens.size()) - (res->stop_reason == "length" ? 1 : 0));
  std::fprintf(stderr, "prompt:     %d tokens in %.3f s (%.1f tokens/s)\n", n_eval,
               res->prompt_seconds, res->prompt_seconds > 0 ? n_eval / res->prompt_seconds : 0.0);
  std::fprintf(stderr, "generation: %zu tokens in %.3f s (%.1f tokens/s), stopped by %s\n",
               res->tokens.size(), res->gen_seconds,
               res->gen_seconds > 0 ? n_decoded / res->gen_seconds : 0.0, res->stop_reason.c_str());
  std::fprintf(stderr, "threads %d, kernels %s\n", g.threads,
               engine::KernelSetName(engine::ActiveKernelSet()));
  return kExitOk;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, Context& ctx) {
  static GenerateFlags g;
  auto* cmd = app.add_subcommand(
      "generate", "Run a GGUF model in-process and stream the continuation of a prompt");
  cmd->add_option("-m,--model", g.model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", g.prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", g.n_predict, "Tokens to generate")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-t,--threads", g.threads, "Compute threads")->check(CLI::Range(1, 256));
  cmd->add_option("--kv-cache", g.kv_cache,
                  "KV cache type: f16 (default, as llama.cpp), f32 or q8_0")
      ->check(CLI::IsMember({"f16", "f32", "q8_0"}));
  cmd->add_option("-c,--ctx-size", g.ctx_size, "Context length (KV cache)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-b,--batch-size", g.batch, "Prompt tokens per forward pass")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--temp", g.sampling.temperature, "Temperature (0 = greedy)");
  cmd->add_option("--top-k", g.sampling.top_k, "Top-k (0 = off)");
  cmd->add_option("--top-p", g.sampling.top_p, "Top-p (1 = off)");
  cmd->add_option("--min-p", g.sampling.min_p, "Min-p (0 = off)");
  cmd->add_option("--repeat-penalty", g.sampling.repeat_penalty, "Repetition penalty (1 = off)");
  cmd->add_option("--repeat-last-n", g.sampling.repeat_last_n, "Tokens the penalties look back on");
  cmd->add_option("--presence-penalty", g.sampling.presence_penalty, "Presence penalty");
  cmd->add_option("--frequency-penalty", g.sampling.frequency_penalty, "Frequency penalty");
  cmd->add_option("-s,--seed", g.sampling.seed, "Sampling seed");
  cmd->add_option("--stop", g.stop, "Stop string (repeatable)");
  cmd->add_flag("--no-bos", g.no_bos, "Do not add BOS");
  cmd->add_flag("--special", g.special, "Parse special-token text in the prompt");
  cmd->add_option("--grammar", g.grammar_file, "Constrain the output to a GBNF grammar file");
  cmd->add_option("--json-schema", g.schema_file,
                  "Constrain the output to the values of a JSON Schema file");
  cmd->add_flag("--json", g.json, "Constrain the output to a JSON object");
  cmd->callback([&ctx] { ctx.exit_code = RunGenerate(g); });
}

}  // namespace naut::cli
