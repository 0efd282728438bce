// Prompt-processing and generation speed of the embedded engine, in the shape of llama-bench:
//   engine_bench [--threads N] [--pp 128] [--tg 32] [--reps 3] [--fresh-tg] [--kv f32|f16|q8_0]
//                [--kernels scalar|avx2|avx512] [--make DIR TYPE...] [MODEL.gguf...]
// Generation follows the prompt in the same context unless --fresh-tg, which starts it from an
// empty cache as llama-bench's tgN does. --kernels runs a lower kernel set than the CPU's best
// (what a CPU without AVX-512, or without AVX2, would run). --kv is the KV cache's type (f32).
// --make writes a ~0.5 B-parameter llama model with random weights (embedding 1536, ffn 4096,
// 16 layers, 12 heads of 128, 4 KV heads, 32000-token vocabulary: the shape of
// ../shared/conformance/README.md section 7) for each TYPE (Q4_0, Q8_0, Q4_K, F16, BF16) into DIR
// unless the file exists, then measures it. Prints one line per model: best and median tokens/s,
// the median CPU time (user + system, all threads) per token, which is the figure to compare when
// the machine is shared, and the bytes a decode step reads times the median decode rate next
// to the best of three plain streaming reads of the same mapped file at the same moment.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "engine/model.h"
#include "engine/quant.h"
#include "engine/synthetic_model.h"

using namespace naut::engine;

namespace {

// User + system CPU seconds of the whole process (all threads) so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// Sum of the 64-bit words of [w, w + words): the streaming read. With one thread, 8-byte loads
// issue too slowly to keep enough cache-line fills in flight on this kind of core (about 12
// GB/s where 32-byte loads reach 16), so wide loads are used when the CPU has them.
#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t SumWordsAvx2(const uint64_t* w, size_t words) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  size_t k = 0;
  for (; k + 16 <= words; k += 16) {
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k + 4)));
    c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k + 8)));
    d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; k < words; ++k) s += w[k];
  return s;
}
#endif

uint64_t SumWords(const uint64_t* w, size_t words) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return SumWordsAvx2(w, words);
#endif
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t k = 0;
  for (; k + 4 <= words; k += 4) {
    a += w[k];
    b += w[k + 1];
    c += w[k + 2];
    d += w[k + 3];
  }
  return a + b + c + d;
}

// GB/s of a plain streaming read over `bytes` bytes at `p` with `threads` threads: the
// bandwidth the machine gives right now, to judge the decode figures against.
double StreamReadGBs(const uint8_t* p, size_t bytes, int threads) {
  std::vector<std::thread> ts;
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&, i] {
      const size_t words = bytes / 8 / static_cast<size_t>(threads);
      sums[static_cast<size_t>(i)] =
          SumWords(reinterpret_cast<const uint64_t*>(p) + words * static_cast<size_t>(i), words);
    });
  }
  for (auto& t : ts) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  return static_cast<double>(bytes) / s / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string MakeModel(const std::string& dir, const std::string& type_name) {
  SyntheticModelSpec s{.arch = "llama",
                       .n_vocab = 32000,
                       .n_embd = 1536,
                       .n_ff = 4096,
                       .n_layer = 16,
                       .n_head = 12,
                       .n_head_kv = 4,
                       .n_ctx = 4096,
                       .seed = 20240601};
  if (type_name == "Q4_0") {
    s.type = GgmlType::kQ4_0;
    s.output_type = GgmlType::kQ6_K;
  } else if (type_name == "Q8_0") {
    s.type = GgmlType::kQ8_0;
    s.output_type = GgmlType::kQ8_0;
  } else if (type_name == "Q4_K") {
    s.type = GgmlType::kQ4_K;
    s.output_type = GgmlType::kQ6_K;
  } else if (type_name == "F16") {
    s.type = GgmlType::kF16;
    s.output_type = GgmlType::kF16;
  } else if (type_name == "BF16") {
    s.type = GgmlType::kBF16;
    s.output_type = GgmlType::kBF16;
  } else {
    std::fprintf(stderr, "unknown type %s (Q4_0, Q8_0, Q4_K, F16, BF16)\n", type_name.c_str());
    std::exit(2);
  }
  std::string path = dir + "/bench-llama-0.5b-" + type_name + ".gguf";
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "writing %s ...\n", path.c_str());
    auto st = BuildSyntheticModel(s).WriteTo(path);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(1);
    }
  }
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, pp = 128, tg = 32, reps = 3;
  bool fresh_tg = false;
  KvType kv = KvType::kF32;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--pp")
      pp = std::stoi(next());
    else if (a == "--tg")
      tg = std::stoi(next());
    else if (a == "--reps")
      reps = std::stoi(next());
    else if (a == "--fresh-tg")
      fresh_tg = true;
    else if (a == "--kv") {
      auto t = ParseKvType(next());
      if (!t.ok()) {
        std::fprintf(stderr, "%s\n", t.error().ToString().c_str());
        return 2;
      }
      kv = *t;
    } else if (a == "--kernels") {
      const std::string k = next();
      if (k != "scalar" && k != "avx2" && k != "avx512") {
        std::fprintf(stderr, "--kernels takes scalar, avx2 or avx512, not '%s'\n", k.c_str());
        return 2;
      }
      SetKernelSet(k == "scalar" ? KernelSet::kScalar
                                 : (k == "avx2" ? KernelSet::kAvx2 : KernelSet::kAvx512));
    } else if (a == "--make") {
      std::string dir = next();
      std::filesystem::create_directories(dir);
      while (i + 1 < argc && argv[i + 1][0] != '-' && std::strstr(argv[i + 1], ".gguf") == nullptr)
        models.push_back(MakeModel(dir, argv[++i]));
    } else
      models.push_back(a);
  }
  std::printf(
      "| model | size (MiB) | threads | pp%d t/s best (median) | tg%d t/s best (median) "
      "| CPU ms/token pp (tg), median | decode GB/s (stream read GB/s) |\n"
      "|---|---:|---:|---:|---:|---:|---:|\n",
      pp, tg);
  for (const auto& path : models) {
    auto m = Model::Load(path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.error().ToString().c_str());
      return 1;
    }
    const int64_t nv = (*m)->params().n_vocab;
    std::mt19937 rng(1);
    std::vector<TokenId> prompt(static_cast<size_t>(pp));
    for (auto& t : prompt) t = static_cast<TokenId>(3 + rng() % static_cast<uint32_t>(nv - 3));
    std::vector<double> pps, tgs, pp_cpu, tg_cpu;
    for (int r = 0; r < reps + 1; ++r) {  // the first run warms the page cache and is dropped
      auto ctx = Context::Create(
          **m, {.n_ctx = pp + tg + 8, .n_threads = threads, .n_batch = 512, .kv_type = kv});
      const double c0 = CpuSeconds();
      auto t0 = std::chrono::steady_clock::now();
      if (!(*ctx)->Eval(prompt).ok()) return 1;
      const auto t1 = std::chrono::steady_clock::now();
      const double c1 = CpuSeconds();
      if (fresh_tg)
        ctx = Context::Create(
            **m, {.n_ctx = tg + 8, .n_threads = threads, .n_batch = 512, .kv_type = kv});
      const auto t1g = std::chrono::steady_clock::now();
      const double c1g = CpuSeconds();
      for (int k = 0; k < tg; ++k) {
        if (!(*ctx)->Eval({static_cast<TokenId>(3 + k)}).ok()) return 1;
      }
      auto t2 = std::chrono::steady_clock::now();
      const double c2 = CpuSeconds();
      if (r == 0) continue;
      pp_cpu.push_back(1e3 * (c1 - c0) / pp);
      tg_cpu.push_back(1e3 * (c2 - c1g) / tg);
      pps.push_back(pp / std::chrono::duration<double>(t1 - t0).count());
      tgs.push_back(tg / std::chrono::duration<double>(t2 - t1g).count());
    }
    double mib = static_cast<double>(std::filesystem::file_size(path)) / (1024.0 * 1024.0);
    // Bytes one decode step reads: every tensor but the embedding table (one row of it).
    const GgufFile& f = (*m)->file();
    size_t step_bytes = 0;
    const uint8_t *lo = nullptr, *hi = nullptr;
    for (const auto& t : f.tensors()) {
      if (t.name != "token_embd.weight" || f.FindTensor("output.weight") == nullptr)
        step_bytes += static_cast<size_t>(t.n_bytes);
      if (lo == nullptr || t.data < lo) lo = t.data;
      if (hi == nullptr || t.data + t.n_bytes > hi) hi = t.data + t.n_bytes;
    }
    double bw = 0;
    for (int r = 0; r < 3; ++r)
      bw = std::max(bw, StreamReadGBs(lo, static_cast<size_t>(hi - lo), threads));
    std::printf("| %s | %.2f | %d | %.1f (%.1f) | %.1f (%.1f) | %.3g (%.3g) | %.1f (%.1f) |\n",
                std::filesystem::path(path).filename().c_str(), mib, threads,
                *std::max_element(pps.begin(), pps.end()), Median(pps),
                *std::max_element(tgs.begin(), tgs.end()), Median(tgs), Median(pp_cpu),
                Median(tg_cpu), static_cast<double>(step_bytes) * Median(tgs) / 1e9, bw);
    std::fflush(stdout);
  }
  std::printf("kernels: %s\n", KernelSetName(ActiveKernelSet()));
  return 0;
}
