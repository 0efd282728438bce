#pragma once
// Embedders turn text into unit-length vectors so that cosine similarity is an inner product.
//
// Every embedder has an id ("hashing-v1", "openai:nomic-embed-text") and a dimension; the pair
// is recorded with every stored vector and with the index file, so that vectors of different
// embedders are never mixed (the memory store refuses and asks for `neuronaut memory reindex`).
//
// Threads: an Embedder may be called from one thread at a time.

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace naut::memory {

using Vector = std::vector<float>;

class Embedder {
 public:
  virtual ~Embedder() = default;
  // Stable name of the model that makes the vectors; two embedders with the same id and
  // dimension make comparable vectors.
  virtual std::string id() const = 0;
  // The vector size. A server embedder learns it from its first answer (one probe request).
  virtual Result<int> Dimension() = 0;
  // One normalised vector per text, in order. Errors: kUnavailable when a server cannot be
  // reached, kInvalidArgument for an answer that is not a list of vectors of one size.
  virtual Result<std::vector<Vector>> Embed(std::span<const std::string> texts) = 0;

  Result<Vector> EmbedOne(const std::string& text);

  // The HNSW search breadth (ef_search) that keeps recall@10 at or above 0.95 on this
  // embedder's vectors at 100,000 rows (bench/README.md, "Memory": measured on hashing vectors
  // and on the bench's model of sentence vectors). Sentence models make vectors near a
  // low-dimensional manifold, which HNSW searches well with a small breadth.
  virtual size_t SearchBreadth() const { return kSentenceModelBreadth; }
  static constexpr size_t kSentenceModelBreadth = 128;
};

// Needs no model: word unigrams and bigrams (identifiers also split at '_' and case changes)
// and character trigrams, hashed with a sign into `dim` buckets and L2-normalised.
// Deterministic across runs and machines.
class HashingEmbedder : public Embedder {
 public:
  explicit HashingEmbedder(int dim) : dim_(dim) {}
  std::string id() const override { return "hashing-v1"; }
  Result<int> Dimension() override { return dim_; }
  Result<std::vector<Vector>> Embed(std::span<const std::string> texts) override;
  Vector EmbedText(std::string_view text) const;
  // Hashed words and trigrams spread over every dimension (a high intrinsic dimension): the
  // true neighbours are barely nearer than the rest, so HNSW needs a broad search.
  size_t SearchBreadth() const override { return 1024; }

 private:
  int dim_;
};

// An OpenAI-compatible POST <base_url>/v1/embeddings (llama-server --embeddings, Ollama, vLLM,
// OpenAI). `base_url` may end in "/v1" or not.
class OpenAiEmbedder : public Embedder {
 public:
  struct Options {
    std::string base_url;
    std::string model;
    std::string api_key;
    double timeout_s = 60;
    size_t batch_size = 64;
  };
  explicit OpenAiEmbedder(Options options) : options_(std::move(options)) {}
  std::string id() const override { return "openai:" + options_.model; }
  Result<int> Dimension() override;
  Result<std::vector<Vector>> Embed(std::span<const std::string> texts) override;

 private:
  Result<std::vector<Vector>> EmbedBatch(std::span<const std::string> texts);
  Options options_;
  int dim_ = 0;  // 0 until the first answer
};

// The embedded engine running an embedding GGUF in this process: a bert sentence encoder such
// as all-MiniLM-L6-v2 (scripts/embed_model.sh makes it), or any model the engine runs, pooled as
// the file names it (`<arch>.pooling_type`, else mean). The id names the model file
// ("embedded:all-MiniLM-L6-v2-F32"), so vectors of another model or embedder are never mixed
// with its own. Each text is tokenized as plain text (special-token markup is not parsed),
// framed as the vocabulary asks ([CLS] ... [SEP]) and cut to the model's context (512 tokens
// for MiniLM; the end of a longer text is not seen).
class EngineEmbedder : public Embedder {
 public:
  // Errors: the file's (NotFound, DataLoss, Unimplemented from the engine's loader) with its
  // path; InvalidArgument for a pooling the file names wrongly.
  static Result<std::unique_ptr<EngineEmbedder>> Load(const std::string& path, int threads);
  ~EngineEmbedder() override;
  std::string id() const override { return id_; }
  Result<int> Dimension() override;
  Result<std::vector<Vector>> Embed(std::span<const std::string> texts) override;

 private:
  EngineEmbedder();
  struct State;
  std::unique_ptr<State> state_;
  std::string id_;
};

// The embedder [embeddings] selects ("hashing", "openai" (an empty base_url means the [llm]
// one) or "embedded" (model: a GGUF path, or a file name in [llm] models_dir)). Errors name the
// missing key.
Result<std::unique_ptr<Embedder>> MakeEmbedder(const Config& config);

// Scales `v` to unit length (a zero vector stays zero).
void Normalize(Vector& v);
float Dot(std::span<const float> a, std::span<const float> b);

}  // namespace naut::memory
