// Writes llama.cpp's greedy completions with top-5 probabilities for a GGUF model, in the JSON
// layout of ../shared/conformance/reference (prompt_tokens, completion_tokens, top). Built
// against a llama.cpp source tree by bench/engine/llama_cpp.sh; not part of the product build.
//
//   llama_ref [--special] MODEL.gguf N_PREDICT FA(on|off) KV(f16|f32|q8_0) PROMPT... >
//   reference.json (a q8_0 KV cache needs flash attention on, as in llama.cpp) llama_ref --embed
//   mean|cls|last MODEL.gguf PROMPT...                          > embeddings.json
//
// --embed: the pooled embedding of each prompt as llama-server's /v1/embeddings and
// llama-embedding give it (embeddings mode, the pooling asked for, every token an output,
// scaled to unit length), with the prompt's tokens (BOS as the vocabulary asks, plain text).
//
// --special: text such as "<|im_start|>" in a prompt becomes the special token (chat markup),
// as llama-server does for a chat prompt; without it the prompt is tokenized as plain text.

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

// The model with llama.cpp's log silenced, or nullptr (said on stderr).
llama_model* Load(const std::string& path) {
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  llama_model* model = llama_model_load_from_file(path.c_str(), llama_model_default_params());
  if (model == nullptr) std::fprintf(stderr, "cannot load %s\n", path.c_str());
  return model;
}

// A context of 512 tokens, all in one batch, on one thread.
llama_context_params OneThread512() {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 512;
  cp.n_batch = 512;
  cp.n_ubatch = 512;
  cp.n_threads = 1;
  cp.n_threads_batch = 1;
  return cp;
}

// `prompt`'s tokens, BOS as the vocabulary asks.
std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& prompt,
                                  bool parse_special) {
  std::vector<llama_token> toks(prompt.size() + 8);
  const int n = llama_tokenize(vocab, prompt.c_str(), static_cast<int32_t>(prompt.size()),
                               toks.data(), static_cast<int32_t>(toks.size()), true, parse_special);
  toks.resize(static_cast<size_t>(std::max(n, 0)));
  return toks;
}

int Embed(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: llama_ref --embed mean|cls|last MODEL PROMPT...\n");
    return 2;
  }
  const std::string pooling = argv[1], path = argv[2];
  llama_model* model = Load(path);
  if (model == nullptr) return 1;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_embd = llama_model_n_embd(model);
  nlohmann::json out = {
      {"model", path.substr(path.rfind('/') + 1)},
      {"llama_cpp", "embeddings, pooling " + pooling + ", KV cache F32, 1 thread"},
      {"pooling", pooling},
      {"results", nlohmann::json::array()}};
  for (int a = 3; a < argc; ++a) {
    llama_context_params cp = OneThread512();
    cp.embeddings = true;
    cp.pooling_type = pooling == "cls"    ? LLAMA_POOLING_TYPE_CLS
                      : pooling == "last" ? LLAMA_POOLING_TYPE_LAST
                                          : LLAMA_POOLING_TYPE_MEAN;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    llama_context* ctx = llama_init_from_model(model, cp);
    const std::string prompt = argv[a];
    const std::vector<llama_token> toks = Tokenize(vocab, prompt, false);
    llama_batch batch = llama_batch_init(static_cast<int32_t>(toks.size()), 0, 1);
    for (size_t i = 0; i < toks.size(); ++i) {
      batch.token[i] = toks[i];
      batch.pos[i] = static_cast<llama_pos>(i);
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    batch.n_tokens = static_cast<int32_t>(toks.size());
    if (llama_decode(ctx, batch) != 0) {
      std::fprintf(stderr, "decode failed\n");
      return 1;
    }
    const float* e = llama_get_embeddings_seq(ctx, 0);
    if (e == nullptr) {
      std::fprintf(stderr, "no pooled embedding\n");
      return 1;
    }
    double norm = 0;
    for (int i = 0; i < n_embd; ++i) norm += static_cast<double>(e[i]) * e[i];
    norm = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    std::vector<float> v(static_cast<size_t>(n_embd));
    for (int i = 0; i < n_embd; ++i) v[static_cast<size_t>(i)] = static_cast<float>(e[i] * norm);
    out["results"].push_back({{"prompt", prompt}, {"prompt_tokens", toks}, {"embedding", v}});
    llama_batch_free(batch);
    llama_free(ctx);
  }
  std::printf("%s\n", out.dump(1).c_str());
  llama_model_free(model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--embed") == 0) return Embed(argc - 1, argv + 1);
  const bool parse_special = argc > 1 && std::strcmp(argv[1], "--special") == 0;
  if (parse_special) {
    --argc;
    ++argv;
  }
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s [--special] MODEL N_PREDICT on|off f16|f32|q8_0 PROMPT...\n",
                 argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int n_predict = std::atoi(argv[2]);
  const bool fa = std::strcmp(argv[3], "on") == 0;
  const std::string kv = argv[4];
  const ggml_type kv_type = kv == "f32"    ? GGML_TYPE_F32
                            : kv == "q8_0" ? GGML_TYPE_Q8_0
                                           : GGML_TYPE_F16;
  const std::string kv_name = kv == "f32" ? "F32" : kv == "q8_0" ? "Q8_0" : "F16";
  llama_model* model = Load(path);
  if (model == nullptr) return 1;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  nlohmann::json out = {{"model", path.substr(path.rfind('/') + 1)},
                        {"llama_cpp", std::string("flash attention ") + (fa ? "on" : "off") +
                                          ", KV cache " + kv_name + ", 1 thread"},
                        {"parse_special", parse_special},
                        {"results", nlohmann::json::array()}};
  for (int a = 5; a < argc; ++a) {
    llama_context_params cp = OneThread512();
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = kv_type;
    cp.type_v = kv_type;
    llama_context* ctx = llama_init_from_model(model, cp);
    const std::string prompt = argv[a];
    std::vector<llama_token> toks = Tokenize(vocab, prompt, parse_special);
    std::vector<llama_token> completion;
    nlohmann::json tops = nlohmann::json::array();
    llama_batch batch = llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()));
    for (int i = 0; i < n_predict; ++i) {
      if (llama_decode(ctx, batch) != 0) {
        std::fprintf(stderr, "decode failed\n");
        return 1;
      }
      // The softmax of the raw logits over the whole vocabulary, in float32 as llama-server
      // reports it, and its 5 largest entries.
      const float* logits = llama_get_logits_ith(ctx, -1);
      const float mx = *std::max_element(logits, logits + n_vocab);
      std::vector<std::pair<double, int>> p(static_cast<size_t>(n_vocab));
      double sum = 0;
      for (int t = 0; t < n_vocab; ++t) {
        const float e = std::exp(logits[t] - mx);
        p[t] = {e, t};
        sum += e;
      }
      std::partial_sort(p.begin(), p.begin() + 5, p.end(),
                        [](const auto& x, const auto& y) { return x.first > y.first; });
      nlohmann::json top = nlohmann::json::array();
      for (int k = 0; k < 5; ++k) top.push_back({p[k].second, p[k].first / sum});
      tops.push_back(std::move(top));
      completion.push_back(p[0].second);
      batch = llama_batch_get_one(&completion.back(), 1);
    }
    out["results"].push_back({{"prompt", prompt},
                              {"prompt_tokens", toks},
                              {"completion_tokens", completion},
                              {"top", std::move(tops)}});
    llama_free(ctx);
  }
  std::printf("%s\n", out.dump(1).c_str());
  llama_model_free(model);
  return 0;
}
