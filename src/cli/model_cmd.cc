// neuronaut model info FILE | model tokenize FILE TEXT: look inside a GGUF file.
// neuronaut model template render (--template FILE | MODEL.gguf) --input CASE.json: render a
// chat template the way transformers does.

#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>

#include "cli/context.h"
#include "core/files.h"
#include "core/json.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "llm/chat_format.h"
#include "llm/chat_template.h"
#include "llm/jinja.h"

namespace naut::cli {

namespace {

std::string Human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (bytes >= 1024 && u < 3) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", bytes, units[u]);
  return buf;
}

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string TokenText(const engine::Tokenizer& tok, engine::TokenId id) {
  return id >= 0 && id < tok.n_tokens() ? tok.token_text(id) : "";
}

int Info(const std::string& path, bool all) {
  auto f = engine::GgufFile::Open(path);
  if (!f) return Fail(f.error());
  const engine::GgufFile& g = **f;
  std::cout << "file:          " << path << " (" << Human(static_cast<double>(g.file_size()))
            << ", GGUF v" << g.version() << ")\n";
  std::cout << "architecture:  " << g.GetStringOr("general.architecture", "(none)") << "\n";
  std::cout << "name:          " << g.GetStringOr("general.name", "(none)") << "\n";
  int64_t n_params = 0, n_bytes = 0;
  std::map<std::string, std::pair<int, int64_t>> mix;
  for (const auto& t : g.tensors()) {
    n_params += t.n_elements;
    n_bytes += t.n_bytes;
    auto& m = mix[engine::TypeName(t.type)];
    ++m.first;
    m.second += t.n_bytes;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f M", static_cast<double>(n_params) / 1e6);
  std::cout << "parameters:    " << buf << " in " << g.tensors().size() << " tensors ("
            << Human(static_cast<double>(n_bytes)) << ")\n";
  std::cout << "quant mix:    ";
  for (const auto& [type, m] : mix)
    std::cout << " " << type << " x" << m.first << " (" << Human(static_cast<double>(m.second))
              << ")";
  std::cout << "\n";
  auto model = engine::Model::Load(path);
  if (model) {
    const auto& p = (*model)->params();
    std::cout << "hyperparams:   n_embd " << p.n_embd << ", n_ff " << p.n_ff << ", layers "
              << p.n_layer << ", heads " << p.n_head << "/" << p.n_head_kv << " (dim " << p.head_dim
              << ", rope " << p.n_rot << (p.rope_neox ? " neox" : " normal") << ", base "
              << p.rope_base << "), ctx " << p.n_ctx_train;
    if (p.rope_scaling != "none" && p.rope_freq_scale != 1.0f) {
      std::cout << " (rope scaling " << p.rope_scaling << " x" << 1.0f / p.rope_freq_scale
                << ", original ctx " << p.n_ctx_orig << ")";
    }
    std::cout << "\n";
    const auto& tok = (*model)->tokenizer();
    const char* kind = tok.kind() == engine::Tokenizer::Kind::kSpm   ? "llama (SPM)"
                       : tok.kind() == engine::Tokenizer::Kind::kBpe ? "gpt2 (BPE)"
                                                                     : "bert (WordPiece)";
    std::cout << "tokenizer:     " << kind << ", pre '" << tok.pre() << "', " << tok.n_tokens()
              << " tokens, bos " << tok.bos() << ", eos " << tok.eos() << "\n";
    if ((*model)->embedding_only()) {
      std::cout << "engine:        can run this model, for embeddings only (a " << p.arch_name
                << " encoder: [embeddings] backend = \"embedded\", or serve's /v1/embeddings)\n";
    } else {
      std::cout << "engine:        can run this model\n";
    }
    // What a run needs: the weights mapped, and per slot a KV cache of 4096 tokens (or the
    // model's context when shorter) in fp16, beside what this machine has.
    const engine::ContextOptions slot{
        .n_ctx = 4096, .n_threads = 2, .kv_type = engine::KvType::kF16};
    const engine::MemoryNeed need = engine::EstimateMemory(**model, slot);
    const engine::MemoryAvailable have = engine::SystemMemory();
    std::cout << "memory:        weights " << engine::HumanBytes(need.weights)
              << " (mapped), KV cache " << engine::HumanBytes(need.kv_cache) << " a slot of "
              << std::min<int64_t>(4096, p.n_ctx_train) << " tokens (f16), scratch about "
              << engine::HumanBytes(need.scratch)
              << "; this machine: " << engine::HumanBytes(have.available) << " available of "
              << engine::HumanBytes(have.total) << "\n";
    const std::string source = g.GetStringOr("tokenizer.chat_template", "");
    auto format = llm::DetectChatFormat(source);
    std::cout << "chat template: ";
    if (source.empty()) {
      std::cout << "none";
    } else if (auto t = llm::ChatTemplate::Create(
                   source, {TokenText(tok, tok.bos()), TokenText(tok, tok.eos())});
               t.ok()) {
      const auto& caps = t->capabilities();
      std::cout << "Jinja, renders (system role " << (caps.system_role ? "yes" : "no") << ", tools "
                << (caps.tools ? "yes" : "no") << ", tool calls "
                << (caps.tool_calls ? "yes" : "no") << ", tool results "
                << (caps.tool_responses ? "yes" : "no") << ")";
    } else {
      std::cout << "Jinja, cannot be used: " << t.error().message();
    }
    std::cout << "\n";
    std::cout << "chat format:   "
              << (format ? std::string(llm::ChatFormatName(*format)) +
                               " (built-in fallback, from the template's markers)"
                         : format.error().message())
              << "\n";
  } else {
    std::cout << "engine:        cannot run this file: " << model.error().message() << "\n";
  }
  std::cout << "metadata (" << g.metadata().size() << " keys):\n";
  for (const auto& [key, value] : g.metadata()) {
    std::cout << "  " << key << " = " << value.ToString(all ? 1000000 : 8) << "\n";
  }
  if (all) {
    std::cout << "tensors:\n";
    for (const auto& t : g.tensors()) {
      std::cout << "  " << t.name << " " << engine::TypeName(t.type) << " [";
      for (size_t d = 0; d < t.dims.size(); ++d) std::cout << (d ? ", " : "") << t.dims[d];
      std::cout << "]\n";
    }
  }
  return kExitOk;
}

int Tokenize(const std::string& path, const std::string& text, bool no_bos, bool special) {
  auto f = engine::GgufFile::Open(path);
  if (!f) return Fail(f.error());
  auto tok = engine::Tokenizer::Create(**f);
  if (!tok) return Fail(tok.error());
  auto ids = (*tok)->Tokenize(text, !no_bos, special);
  for (engine::TokenId id : ids)
    std::cout << id << "\t" << Quoted((*tok)->Piece(id, /*special=*/true)) << "\n";
  return kExitOk;
}

// "YYYY-MM-DD HH:MM[:SS]" as local broken-down time.
Result<std::tm> ParseNow(const std::string& text) {
  std::tm tm{};
  int sec = 0;
  const int n = std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &sec);
  if (n < 5) return InvalidArgument("--now '" + text + "' is not 'YYYY-MM-DD HH:MM[:SS]'");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = n == 6 ? sec : 0;
  tm.tm_isdst = -1;
  std::mktime(&tm);  // fills in the weekday and day of the year
  return tm;
}

int RenderTemplate(const std::string& model_path, const std::string& template_path,
                   const std::string& input_path, const std::string& now) {
  if (model_path.empty() == template_path.empty()) {
    return Fail(InvalidArgument("name either a GGUF file or --template FILE.jinja"));
  }
  std::string source, name;
  llm::ChatTemplateTokens tokens;
  if (!template_path.empty()) {
    auto text = ReadFile(template_path);
    if (!text) return Fail(text.error());
    source = std::move(*text);
    name = template_path;
  } else {
    auto f = engine::GgufFile::Open(model_path);
    if (!f) return Fail(f.error());
    source = (*f)->GetStringOr("tokenizer.chat_template", "");
    if (source.empty()) {
      return Fail(NotFound(model_path + " has no chat template (tokenizer.chat_template)"));
    }
    name = model_path + " (tokenizer.chat_template)";
    if (auto tok = engine::Tokenizer::Create(**f); tok) {
      tokens.bos = TokenText(**tok, (*tok)->bos());
      tokens.eos = TokenText(**tok, (*tok)->eos());
    }
  }
  auto input_text = ReadFile(input_path);
  if (!input_text) return Fail(input_text.error());
  auto input = ParseOrderedJson(*input_text, input_path);
  if (!input) return Fail(input.error());
  nlohmann::ordered_json variables = std::move(*input);
  // A conformance case file: {"template": ..., "input": {...}, "output": ...}.
  if (variables.is_object() && variables.contains("input") && variables.contains("template")) {
    nlohmann::ordered_json inner = std::move(variables["input"]);
    variables = std::move(inner);
  }
  if (!variables.is_object()) {
    return Fail(InvalidArgument(input_path + ": expected a JSON object of template variables"));
  }
  llm::JinjaOptions options;
  options.name = name;
  auto tmpl = llm::JinjaTemplate::Parse(source, options);
  if (!tmpl) return Fail(tmpl.error());
  llm::JinjaRenderOptions render_options;
  if (!now.empty()) {
    auto tm = ParseNow(now);
    if (!tm) return Fail(tm.error());
    render_options.now = [t = *tm] { return t; };
  }
  auto out =
      tmpl->Render(llm::WithTransformersDefaults(std::move(variables), tokens), render_options);
  if (!out) return Fail(out.error());
  std::cout << *out << std::flush;
  return kExitOk;
}

}  // namespace

void AddModelCommands(CLI::App& app, Context& ctx) {
  auto* model = app.add_subcommand("model", "Inspect GGUF model files");
  model->require_subcommand(1);
  auto* info = model->add_subcommand(
      "info", "Architecture, sizes, quantization mix and metadata of a GGUF file");
  static std::string info_path;
  static bool all = false;
  info->add_option("FILE", info_path, "GGUF file")->required();
  info->add_flag("--all", all, "Print every array element and every tensor");
  info->callback([&ctx] { ctx.exit_code = Info(info_path, all); });

  auto* tok =
      model->add_subcommand("tokenize", "Token ids and pieces of TEXT with the file's tokenizer");
  static std::string tok_path, text;
  static bool no_bos = false, special = false;
  tok->add_option("FILE", tok_path, "GGUF file (a vocabulary-only file is enough)")->required();
  tok->add_option("TEXT", text, "Text to tokenize")->required();
  tok->add_flag("--no-bos", no_bos, "Do not add BOS/EOS");
  tok->add_flag("--special", special,
                "Parse special-token text such as <|im_end|> into the control token");
  tok->callback([&ctx] { ctx.exit_code = Tokenize(tok_path, text, no_bos, special); });

  auto* tmpl =
      model->add_subcommand("template", "Chat templates (Jinja) as transformers renders them");
  tmpl->require_subcommand(1);
  auto* render = tmpl->add_subcommand(
      "render", "Print what a chat template renders for the variables in --input, exactly");
  static std::string render_model, render_template, render_input, render_now;
  render->add_option("MODEL", render_model, "GGUF file whose tokenizer.chat_template to render");
  render->add_option("--template", render_template, "Jinja template file to render instead");
  render
      ->add_option("--input", render_input,
                   "JSON object of template variables ({\"messages\": [...], \"tools\": [...], "
                   "\"add_generation_prompt\": true, ...}), or a conformance case file whose "
                   "\"input\" is that object")
      ->required();
  render->add_option("--now", render_now,
                     "The time strftime_now() formats, 'YYYY-MM-DD HH:MM' (default: now)");
  render->callback([&ctx] {
    ctx.exit_code = RenderTemplate(render_model, render_template, render_input, render_now);
  });
}

}  // namespace naut::cli
