#pragma once
// A loaded GGUF model of the llama family (`llama`, which also covers Mistral dense models,
// `qwen2`, `qwen3`) and the Context that runs it: KV cache, batched prefill, logits, and
// prefix reuse across calls. A `bert` model (a sentence encoder such as all-MiniLM or bge) is
// loaded by the same Model and only embeds: Context::Embed runs it over the whole text at once
// with attention in both directions; Eval and EvalSeqs refuse it.
//
// A Context holds ContextOptions::n_seq sequences, each with its own KV cache of n_ctx
// positions. Eval, EvalPrompt, Truncate and cached_tokens() work on sequence 0; EvalSeqs runs
// tokens of several sequences in one forward pass (a server's slots decoding together: the
// weights are read once for all of them, and decoding is bound by reading the weights). Each
// token attends only to its own sequence, so a sequence's logits do not depend on which
// others share its batch.
//
// Model is immutable after Load and may be shared by several Contexts on different threads.
// A Context is used by one thread at a time (it owns its thread pool).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer.h"

namespace naut::engine {

enum class Arch { kLlama, kQwen2, kQwen3, kQwen2Moe, kQwen3Moe, kBert };

struct ModelParams {
  std::string arch_name;
  Arch arch = Arch::kLlama;
  int64_t n_vocab = 0, n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
  int64_t head_dim = 0, n_rot = 0, n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float layer_norm_eps = 1e-12f;  // bert: its LayerNorms' epsilon
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / the scaling factor (linear or YaRN)
  bool rope_neox = false;        // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
  // YaRN (`rope.scaling.type = yarn`), as llama.cpp applies it: rotation dimension i turns at
  // the interpolated angle (freq_scale * theta) below dimension yarn_low, at the original
  // angle above yarn_high, and at a linear mix between; rope_mscale scales the rotated q and
  // k (1 + 0.1 ln(factor), times the file's attn_factor). Off (yarn_ext_factor 0) otherwise.
  std::string rope_scaling = "none";  // none | linear | yarn
  float yarn_ext_factor = 0.0f;
  float yarn_low = 0.0f, yarn_high = 0.0f;
  float rope_mscale = 1.0f;
  int64_t n_ctx_orig = 0;  // the context the model was trained with before scaling
  // Mixture of experts (Mixtral as `llama` with expert_count, qwen2moe, qwen3moe): each token's
  // FFN is the weighted sum of n_expert_used of n_expert expert FFNs (of n_ff_exp rows), chosen
  // by a router's softmax; the chosen weights renormalized to sum 1 where the architecture does
  // (Mixtral, qwen3moe), scaled by expert_weights_scale when set; qwen2moe adds a shared
  // expert (n_ff_shexp rows) gated by a sigmoid. 0 experts: a dense FFN.
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_ff_shexp = 0;
  bool moe_norm_weights = false;
  float expert_weights_scale = 0.0f;
};

// A 2-D weight: `rows` rows of `cols` elements, each row RowBytes(type, cols) bytes.
struct Weight {
  GgmlType type = GgmlType::kF32;
  int64_t cols = 0, rows = 0;
  size_t row_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* row(int64_t r) const { return data + r * row_bytes; }
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm, q_norm, k_norm;  // q/k norms: qwen3 only
  std::vector<float> bq, bk, bv, bo;                       // biases: qwen2 (empty when absent)
  Weight wq, wk, wv, wo, gate, up, down;                   // gate/up/down: dense layers
  // Mixture of experts: the router (n_expert rows) and every expert's matrices stacked, expert
  // e's rows at e * rows-per-expert; the shared expert and its one-row gate (qwen2moe).
  Weight gate_inp, gate_exps, up_exps, down_exps;
  Weight gate_inp_shexp, gate_shexp, up_shexp, down_shexp;
  // bert: the LayerNorms after attention and after the FFN (weight and bias each), the FFN's
  // biases (its `up` and `down` weights above; no gate).
  std::vector<float> attn_out_norm, attn_out_norm_b, out_norm, out_norm_b, bup, bdown;
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Load(const std::string& path);

  const ModelParams& params() const { return params_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }
  const Weight& token_embd() const { return token_embd_; }
  const Weight& output() const { return output_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<float>& rope_freq_factors() const { return rope_freqs_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  int64_t n_params() const { return n_params_; }
  // bert: position and token-type embeddings (n_ctx_train and token_type_count rows), the
  // LayerNorm of the summed embeddings (weight, bias).
  const Weight& position_embd() const { return position_embd_; }
  const Weight& token_types() const { return token_types_; }
  const std::vector<float>& embd_norm() const { return embd_norm_; }
  const std::vector<float>& embd_norm_b() const { return embd_norm_b_; }
  // Whether the model only embeds (a bert encoder) and cannot generate.
  bool embedding_only() const { return params_.arch == Arch::kBert; }

 private:
  Model() = default;
  Status Init();
  Status InitBert();

  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ModelParams params_;
  Weight token_embd_, output_;
  std::vector<float> output_norm_, rope_freqs_;
  Weight position_embd_, token_types_;
  std::vector<float> embd_norm_, embd_norm_b_;
  std::vector<LayerWeights> layers_;
  int64_t n_params_ = 0;
};

// What the KV cache stores: F32 (exact; the tests' reference), F16 (half the memory, as
// llama.cpp's default; values rounded to nearest even), or Q8_0 (about a quarter of F32: each
// position's keys and values in blocks of 32 along the head, as llama.cpp's `-ctk q8_0 -ctv
// q8_0`; the query is quantized the same way for the key products, as llama.cpp's flash
// attention does; where the head size is a multiple of 64, queries, keys and values are first
// rotated by a Walsh-Hadamard matrix as llama.cpp does, which keeps one outlier from setting a
// block's scale: without it Qwen2.5's answers fall apart). Q8_0 needs a head size that is a
// multiple of 32.
enum class KvType { kF32, kF16, kQ8_0 };
Result<KvType> ParseKvType(std::string_view name);  // "f32", "f16" or "q8_0"
const char* KvTypeName(KvType type);

struct ContextOptions;

// What running a model takes, known before anything is allocated: the weights are mapped from
// the file (read in as they are used, shared with the page cache), the KV cache and the scratch
// buffers are the process's own memory.
struct MemoryNeed {
  uint64_t weights = 0;   // the file's tensor data
  uint64_t kv_cache = 0;  // every sequence's keys and values
  uint64_t scratch = 0;   // a batch's activations, attention scores and logits (an estimate)
  uint64_t total() const { return weights + kv_cache + scratch; }
};
MemoryNeed EstimateMemory(const Model& model, const ContextOptions& options);
// What the machine can give: total memory and what can still be allocated (MemAvailable), each
// bounded by the cgroup's memory.max where one is set. 0 where it cannot be read.
struct MemoryAvailable {
  uint64_t total = 0, available = 0;
};
MemoryAvailable SystemMemory();
std::string HumanBytes(uint64_t bytes);  // "1.5 GiB", "224 MiB"

struct ContextOptions {
  int n_ctx = 4096;  // KV cache length (capped at the model's training context)
  int n_threads = 2;
  int n_batch = 512;  // prompt tokens evaluated per forward pass
  int n_seq = 1;      // sequences, each with a KV cache of n_ctx positions (EvalSeqs)
  KvType kv_type = KvType::kF32;
  // The memory Create may assume; 0: what SystemMemory() reports. A context whose KV cache and
  // scratch do not fit in `available`, or whose weights, cache and scratch together pass
  // `total`, is refused (ResourceExhausted, saying what to lower) rather than started and
  // killed by the kernel.
  MemoryAvailable memory;
};

// How Context::Embed pools the hidden states of a text into one vector, as llama.cpp's
// `--pooling` names them (a GGUF may say which in `<arch>.pooling_type`: 1 mean, 2 cls, 3 last).
enum class Pooling { kMean, kCls, kLast };
// The pooling a GGUF names, or kMean for a file that names none (a generation model).
// InvalidArgument for a value llama.cpp does not define for causal models (0 none, 4 rank).
Result<Pooling> PoolingOf(const Model& model);
Result<Pooling> ParsePooling(std::string_view name);  // "mean", "cls" or "last"

// Tokens of one sequence for Context::EvalSeqs: they follow the sequence's cached tokens.
struct SeqTokens {
  int seq = 0;
  const TokenId* tokens = nullptr;
  int n = 0;
  bool logits = false;  // keep the logits of the last of these tokens
};

class Context {
 public:
  static Result<std::unique_ptr<Context>> Create(const Model& model, const ContextOptions& options);

  const Model& model() const { return model_; }
  int n_ctx() const { return n_ctx_; }
  int n_seq() const { return static_cast<int>(seqs_.size()); }
  // Bytes the KV cache holds (every sequence, every layer, keys and values).
  size_t kv_bytes() const {
    return (k_cache_.size() + v_cache_.size()) * sizeof(float) +
           (k_cache16_.size() + v_cache16_.size()) * sizeof(uint16_t) + k_cache8_.size() +
           v_cache8_.size();
  }
  int n_past() const { return static_cast<int>(seqs_[0].size()); }
  // Tokens whose keys and values are in the cache, in order (of sequence 0, or of `seq`).
  const std::vector<TokenId>& cached_tokens() const { return seqs_[0]; }
  const std::vector<TokenId>& cached_tokens(int seq) const {
    return seqs_[static_cast<size_t>(seq)];
  }

  // Appends `tokens` after the cached ones and evaluates them. With `all_logits` the logits of
  // every new position are kept (logits(i) for i in [0, tokens.size())); otherwise only the
  // last one's (logits(0)).
  Status Eval(const std::vector<TokenId>& tokens, bool all_logits = false);
  // Makes the cache hold exactly `prompt` and leaves the logits of its last token: the longest
  // prefix shared with the cached tokens is kept and only the rest is evaluated (at least one
  // token, for the logits), n_batch tokens at a time. Returns how many tokens were reused, or
  // kCancelled when `cancelled` (asked before each batch) says so; the cache then holds the
  // batches evaluated so far.
  Result<int> EvalPrompt(const std::vector<TokenId>& prompt,
                         const std::function<bool()>& cancelled = {});
  // Drops cached positions from `n` on (of sequence 0, or of `seq`).
  void Truncate(int n) { TruncateSeq(0, n); }
  void TruncateSeq(int seq, int n);
  // Evaluates the tokens of several sequences (each at most once) in one forward pass. The
  // logits of entry i's last token are logits(i) when entry i asked for them. InvalidArgument
  // for an unknown or repeated sequence, an empty entry or a token outside the vocabulary;
  // ResourceExhausted when a sequence would pass n_ctx (nothing is evaluated then).
  Status EvalSeqs(const std::vector<SeqTokens>& batch);
  // The embedding of `tokens` as llama.cpp's embedding mode computes it for a causal model: the
  // hidden states after the output norm, pooled (mean over the tokens, or the first's or last's)
  // and scaled to unit length (n_embd values). Runs on sequence 0 and leaves its cache empty.
  // For a bert model: its encoder's last hidden states (every token seeing every other, all
  // token type 0) pooled the same way; the tokens should be framed as the tokenizer frames them
  // ([CLS] text [SEP]). InvalidArgument for no tokens or one outside the vocabulary;
  // ResourceExhausted past n_ctx (for bert at most its training context, 512 for MiniLM).
  Result<std::vector<float>> Embed(const std::vector<TokenId>& tokens, Pooling pooling);
  // Embed of each text, in order. For a bert model, whole texts are encoded together, up to
  // max(n_batch, n_ctx) tokens a pass (the weights are read once for all of them; each text
  // attends only to itself), which is several times faster for short texts; other models embed
  // one by one. The errors of Embed, naming the text.
  Result<std::vector<std::vector<float>>> EmbedBatch(const std::vector<std::vector<TokenId>>& texts,
                                                     Pooling pooling);
  const float* logits(int i = 0) const {
    return logits_.data() + static_cast<size_t>(i) * model_.params().n_vocab;
  }

 private:
  Context(const Model& model, const ContextOptions& options);
  Status EvalBatch(const TokenId* tokens, int n, bool all_logits, float* logits_out);
  // One forward pass over `n` tokens, token t of sequence seq[t] at position pos[t] (a
  // sequence's tokens in order, after its cached ones); the logits of the tokens listed in
  // `out_rows` go to logits_out, one row each; with `hidden`, their hidden states after the
  // output norm instead (n_embd values a row, the output matrix not applied).
  void Forward(const TokenId* tokens, const int* seq, const int* pos, int n,
               const std::vector<int>& out_rows, float* logits_out, bool hidden = false);
  void MatMul(const Weight& w, const float* x, int n_tokens, float* y);
  void MatMulTiled(const GemmKernel& gk, const Weight& w, const float* x, int n_tokens, float* y);
  void MatMulBatch(const GemmKernel& gk, const Weight& w, const float* x, int n_tokens, float* y);
  // The FFN of a mixture-of-experts layer for n tokens of xn (normed), into out (n x n_embd).
  void MoeFfn(const LayerWeights& L, const float* xn, int n, float* out);
  // bert (bert.cc): the encoder over the texts tokens[starts[i], starts[i + 1]) at once, each
  // seeing only itself; the last hidden states of all starts.back() tokens into `hidden`
  // (one row of n_embd each).
  void EncodeBert(const TokenId* tokens, const std::vector<int>& starts, float* hidden);

  const Model& model_;
  ContextOptions options_;
  int n_ctx_ = 0;
  ThreadPool pool_;
  std::vector<std::vector<TokenId>> seqs_;  // cached tokens, one list a sequence
  // Per sequence: values [layer][pos][n_head_kv * head_dim]; keys transposed,
  // [layer][n_head_kv * head_dim][pos]. One pair is used, by options_.kv_type.
  std::vector<float> k_cache_, v_cache_;
  std::vector<uint16_t> k_cache16_, v_cache16_;
  // Q8_0: [seq][layer][position][kv head * head_dim / 32 blocks], keys and values alike.
  std::vector<uint8_t> k_cache8_, v_cache8_;
  std::vector<uint8_t> buf_q8_;  // the batch's queries in Q8_0, for the key products
  std::vector<float> logits_;
  std::vector<uint8_t> act_buf_;
  // Per-batch scratch (grown, never shrunk).
  std::vector<float> buf_x_, buf_xn_, buf_q_, buf_k_, buf_v_, buf_attn_, buf_proj_, buf_g_, buf_u_;
  std::vector<float> buf_cos_, buf_sin_, scores_;
  std::vector<float> moe_router_, moe_in_, moe_g_, moe_u_, moe_out_;  // MoeFfn's scratch
  std::vector<int> batch_seq_, batch_pos_, batch_rows_;
  std::vector<TokenId> batch_tokens_;
};

// RMSNorm of one row: y = x / sqrt(mean(x^2) + eps) * w.
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* y);

}  // namespace naut::engine
