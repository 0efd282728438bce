// Writes llama.cpp's greedy completions with top-5 probabilities for a GGUF model, in the JSON
// layout of ../shared/conformance/reference (prompt_tokens, completion_tokens, top). Built
// against a llama.cpp source tree by scripts/llama_cpp_refs.sh; not part of the product build.
//
//   llama_ref MODEL.gguf N_PREDICT FA(on|off) KV(f16|f32) PROMPT...   > reference.json

#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL N_PREDICT on|off f16|f32 PROMPT...\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  const int n_predict = std::atoi(argv[2]);
  const bool fa = std::strcmp(argv[3], "on") == 0;
  const bool kv_f32 = std::strcmp(argv[4], "f32") == 0;
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(path, mp);
  if (model == nullptr) {
    std::fprintf(stderr, "cannot load %s\n", path);
    return 1;
  }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::printf(
      "{\n  \"model\": %s,\n  \"llama_cpp\": \"flash attention %s, KV cache %s, 1 thread\",\n",
      JsonString(std::string(path).substr(std::string(path).rfind('/') + 1)).c_str(),
      fa ? "on" : "off", kv_f32 ? "F32" : "F16");
  std::printf("  \"results\": [");
  for (int a = 5; a < argc; ++a) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    cp.type_v = kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    llama_context* ctx = llama_init_from_model(model, cp);
    const std::string prompt = argv[a];
    std::vector<llama_token> toks(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.c_str(), static_cast<int32_t>(prompt.size()), toks.data(),
                           static_cast<int32_t>(toks.size()), true, false);
    toks.resize(static_cast<size_t>(std::max(n, 0)));
    std::vector<llama_token> completion;
    std::string tops;
    llama_batch batch = llama_batch_get_one(toks.data(), static_cast<int32_t>(toks.size()));
    for (int i = 0; i < n_predict; ++i) {
      if (llama_decode(ctx, batch) != 0) {
        std::fprintf(stderr, "decode failed\n");
        return 1;
      }
      const float* logits = llama_get_logits_ith(ctx, -1);
      double mx = -1e300;
      for (int t = 0; t < n_vocab; ++t) mx = std::max(mx, static_cast<double>(logits[t]));
      std::vector<std::pair<double, int>> p(static_cast<size_t>(n_vocab));
      double sum = 0;
      for (int t = 0; t < n_vocab; ++t) {
        // float32 softmax, as llama-server reports it
        float e = std::exp(logits[t] - static_cast<float>(mx));
        p[t] = {e, t};
        sum += e;
      }
      std::partial_sort(p.begin(), p.begin() + 5, p.end(),
                        [](const auto& x, const auto& y) { return x.first > y.first; });
      tops += i ? ",\n        [" : "\n        [";
      for (int k = 0; k < 5; ++k) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s[%d, %.9g]", k ? ", " : "", p[k].second,
                      p[k].first / sum);
        tops += buf;
      }
      tops += "]";
      completion.push_back(p[0].second);
      batch = llama_batch_get_one(&completion.back(), 1);
    }
    std::printf("%s\n    {\n      \"prompt\": %s,\n      \"prompt_tokens\": [", a > 5 ? "," : "",
                JsonString(prompt).c_str());
    for (size_t i = 0; i < toks.size(); ++i) std::printf("%s%d", i ? ", " : "", toks[i]);
    std::printf("],\n      \"completion_tokens\": [");
    for (size_t i = 0; i < completion.size(); ++i)
      std::printf("%s%d", i ? ", " : "", completion[i]);
    std::printf("],\n      \"top\": [%s\n      ]\n    }", tops.c_str());
    llama_free(ctx);
  }
  std::printf("\n  ]\n}\n");
  llama_model_free(model);
  return 0;
}
