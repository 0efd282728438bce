// Embedding speed of the embedded engine, texts per second as the memory's embedder runs them
// (all the texts in one EmbedBatch call, each tokenized with [CLS] ... [SEP]; --one-by-one: an
// Embed call each):
//   embed_bench [--threads N] [--reps 5] [--one-by-one] TEXTS.txt MODEL.gguf
// TEXTS.txt holds one text a line. Each repetition embeds every text once (after one untimed
// pass that reads the weights in); prints the best and median texts/s and tokens/s.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "engine/model.h"

using naut::engine::Context;
using naut::engine::Model;
using naut::engine::TokenId;

int main(int argc, char** argv) {
  int threads = 1, reps = 5;
  bool one_by_one = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::stoi(argv[++i]);
    } else if (a == "--one-by-one") {
      one_by_one = true;
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::stoi(argv[++i]));
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 2) {
    std::fprintf(stderr, "usage: embed_bench [--threads N] [--reps R] TEXTS.txt MODEL.gguf\n");
    return 2;
  }
  std::ifstream in(files[0]);
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) texts.push_back(line);
  auto model = Model::Load(files[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.error().ToString().c_str());
    return 1;
  }
  auto ctx = Context::Create(**model, {.n_ctx = 512, .n_threads = threads, .n_batch = 512});
  auto pooling = naut::engine::PoolingOf(**model);
  if (!ctx.ok() || !pooling.ok() || texts.empty()) {
    std::fprintf(stderr, "cannot make a context, read the pooling or read texts\n");
    return 1;
  }
  std::vector<std::vector<TokenId>> ids;
  size_t tokens = 0;
  for (const std::string& t : texts) {
    ids.push_back((*model)->tokenizer().Tokenize(t, true));
    tokens += ids.back().size();
  }
  std::vector<double> rates;
  for (int r = -1; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (one_by_one) {
      for (const auto& x : ids)
        if (!(*ctx)->Embed(x, *pooling).ok()) return 1;
    } else if (!(*ctx)->EmbedBatch(ids, *pooling).ok()) {
      return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 0) rates.push_back(static_cast<double>(texts.size()) / s);
  }
  std::sort(rates.begin(), rates.end());
  const double best = rates.back(), median = rates[rates.size() / 2];
  const double per_text = static_cast<double>(tokens) / static_cast<double>(texts.size());
  std::printf("| %s | %d | %zu texts, %.1f tokens each%s | %.1f (%.1f) | %.0f (%.0f) |\n",
              files[1].substr(files[1].find_last_of('/') + 1).c_str(), threads, texts.size(),
              per_text, one_by_one ? ", one by one" : "", best, median, best * per_text,
              median * per_text);
  return 0;
}
