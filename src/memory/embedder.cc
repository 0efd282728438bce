#include "memory/embedder.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <thread>

#include "core/hash.h"
#include "core/json.h"
#include "engine/model.h"
#include "llm/llama_server.h"

namespace naut::memory {

namespace {

uint64_t Fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = Fnv1a64(s, kFnv1aStoredSeed ^ seed);
  // Final mix so that nearby strings spread over all buckets and the sign bit.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// Words: lower-cased runs of letters and digits; an identifier such as "press_inline_button"
// or "pressInlineButton" yields its parts as words too, so code and prose meet.
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string token;
  auto flush = [&] {
    if (!token.empty()) words.push_back(std::move(token));
    token.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isalnum(c) || c >= 0x80) {
      bool case_break = std::isupper(c) && !token.empty() &&
                        std::islower(static_cast<unsigned char>(text[i - 1]));
      if (case_break) flush();
      token.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

void AddFeature(Vector& v, std::string_view feature, uint64_t kind, float weight) {
  uint64_t h = Fnv1a(feature, kind);
  size_t bucket = h % v.size();
  v[bucket] += (h >> 63) ? -weight : weight;
}

}  // namespace

void Normalize(Vector& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

float Dot(std::span<const float> a, std::span<const float> b) {
  float s = 0;
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

Result<Vector> Embedder::EmbedOne(const std::string& text) {
  NAUT_ASSIGN_OR_RETURN(auto vs, Embed(std::span<const std::string>(&text, 1)));
  if (vs.size() != 1) return Internal("embedder " + id() + " returned no vector");
  return std::move(vs[0]);
}

Vector HashingEmbedder::EmbedText(std::string_view text) const {
  Vector v(static_cast<size_t>(dim_), 0.0f);
  std::vector<std::string> words = Words(text);
  for (size_t i = 0; i < words.size(); ++i) {
    AddFeature(v, words[i], 1, 1.0f);
    if (i + 1 < words.size()) AddFeature(v, words[i] + " " + words[i + 1], 2, 0.7f);
    // Character trigrams of the padded word catch inflections and typos ("hunt"/"hunting").
    std::string padded = "#" + words[i] + "#";
    for (size_t j = 0; j + 3 <= padded.size(); ++j) {
      AddFeature(v, std::string_view(padded).substr(j, 3), 3, 0.35f);
    }
  }
  Normalize(v);
  return v;
}

Result<std::vector<Vector>> HashingEmbedder::Embed(std::span<const std::string> texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(EmbedText(t));
  return out;
}

// ---- OpenAI-compatible server ----

namespace {

struct SplitUrl {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "/v1/embeddings" with any prefix of the base URL
};

Result<SplitUrl> EmbeddingsUrl(const std::string& base_url) {
  auto scheme_end = base_url.find("://");
  if (scheme_end == std::string::npos) {
    return InvalidArgument("[embeddings] base_url '" + base_url + "' is not an http(s) URL");
  }
  auto path_start = base_url.find('/', scheme_end + 3);
  SplitUrl u;
  u.origin = base_url.substr(0, path_start);
  std::string prefix = path_start == std::string::npos ? "" : base_url.substr(path_start);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.size() < 3 || prefix.substr(prefix.size() - 3) != "/v1") prefix += "/v1";
  u.path = prefix + "/embeddings";
  return u;
}

}  // namespace

Result<int> OpenAiEmbedder::Dimension() {
  if (dim_ == 0) {
    NAUT_ASSIGN_OR_RETURN(auto v, EmbedOne("dimension probe"));
    (void)v;
  }
  return dim_;
}

Result<std::vector<Vector>> OpenAiEmbedder::Embed(std::span<const std::string> texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); i += options_.batch_size) {
    auto batch = texts.subspan(i, std::min(options_.batch_size, texts.size() - i));
    NAUT_ASSIGN_OR_RETURN(auto vs, EmbedBatch(batch));
    for (auto& v : vs) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<Vector>> OpenAiEmbedder::EmbedBatch(std::span<const std::string> texts) {
  NAUT_ASSIGN_OR_RETURN(SplitUrl url, EmbeddingsUrl(options_.base_url));
  const std::string where = "embeddings server " + url.origin + url.path;
  httplib::Client client(url.origin);
  if (!client.is_valid()) return InvalidArgument(where + ": not a usable URL");
  auto secs = static_cast<time_t>(options_.timeout_s);
  client.set_connection_timeout(std::min<time_t>(secs, 10), 0);
  client.set_read_timeout(secs, 0);
  client.set_write_timeout(secs, 0);
  httplib::Headers headers;
  if (!options_.api_key.empty()) {
    headers.emplace("Authorization", "Bearer " + options_.api_key);
  }
  Json body{{"input", Json::array()}};
  if (!options_.model.empty()) body["model"] = options_.model;
  for (const auto& t : texts) body["input"].push_back(t);
  auto res = client.Post(url.path, headers, DumpJson(body), "application/json");
  if (!res) {
    return Unavailable(where + ": " + httplib::to_string(res.error()) +
                       " (is the server running with embeddings enabled?)");
  }
  if (res->status != 200) {
    return Unavailable(where + ": HTTP " + std::to_string(res->status) + ": " +
                       res->body.substr(0, 300));
  }
  NAUT_ASSIGN_OR_RETURN(Json answer, ParseJson(res->body, where + " answer"));
  if (!answer.is_object() || !answer.contains("data") || !answer["data"].is_array()) {
    return InvalidArgument(where + ": the answer has no \"data\" array");
  }
  const Json& data = answer["data"];
  if (data.size() != texts.size()) {
    return InvalidArgument(where + ": asked for " + std::to_string(texts.size()) +
                           " vectors, got " + std::to_string(data.size()));
  }
  std::vector<Vector> out(texts.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& item = data[i];
    size_t index = i;
    if (item.is_object() && item.contains("index") && item["index"].is_number_unsigned()) {
      index = item["index"].get<size_t>();
    }
    if (!item.is_object() || !item.contains("embedding") || !item["embedding"].is_array() ||
        index >= out.size() || !out[index].empty()) {
      return InvalidArgument(where + ": data[" + std::to_string(i) +
                             "] is not {\"index\", \"embedding\": [numbers]} with a fresh index");
    }
    Vector v;
    v.reserve(item["embedding"].size());
    for (const Json& x : item["embedding"]) {
      if (!x.is_number()) {
        return InvalidArgument(where + ": data[" + std::to_string(i) + "].embedding holds a " +
                               std::string(JsonTypeName(x)) + ", expected numbers");
      }
      v.push_back(x.get<float>());
    }
    if (v.empty()) return InvalidArgument(where + ": data[" + std::to_string(i) + "] is empty");
    if (dim_ == 0) dim_ = static_cast<int>(v.size());
    if (static_cast<int>(v.size()) != dim_) {
      return InvalidArgument(where + ": vector of size " + std::to_string(v.size()) +
                             " where earlier ones had " + std::to_string(dim_));
    }
    Normalize(v);
    out[index] = std::move(v);
  }
  return out;
}

struct EngineEmbedder::State {
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<engine::Context> ctx;
  engine::Pooling pooling = engine::Pooling::kMean;
};

EngineEmbedder::EngineEmbedder() : state_(std::make_unique<State>()) {}
EngineEmbedder::~EngineEmbedder() = default;

Result<std::unique_ptr<EngineEmbedder>> EngineEmbedder::Load(const std::string& path, int threads) {
  std::unique_ptr<EngineEmbedder> e(new EngineEmbedder());
  NAUT_ASSIGN_OR_RETURN(e->state_->model, engine::Model::Load(path));
  auto pooling = engine::PoolingOf(*e->state_->model);
  if (!pooling.ok()) return pooling.error().WithContext(path);
  e->state_->pooling = *pooling;
  // A text's tokens at once; an encoder's context is its training context (capped there).
  NAUT_ASSIGN_OR_RETURN(
      e->state_->ctx,
      engine::Context::Create(*e->state_->model,
                              {.n_ctx = 512, .n_threads = threads, .n_batch = 512, .n_seq = 1}));
  e->id_ = "embedded:" + std::filesystem::path(path).stem().string();
  return e;
}

Result<int> EngineEmbedder::Dimension() { return static_cast<int>(state_->model->params().n_embd); }

Result<std::vector<Vector>> EngineEmbedder::Embed(std::span<const std::string> texts) {
  const engine::Tokenizer& tok = state_->model->tokenizer();
  const size_t n_ctx = static_cast<size_t>(state_->ctx->n_ctx());
  std::vector<std::vector<engine::TokenId>> ids;
  std::vector<size_t> at;  // the text each entry of `ids` is
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<engine::TokenId> t =
        tok.Tokenize(texts[i], /*add_special=*/true, /*parse_special=*/false);
    if (t.empty()) continue;  // a decoder without BOS and an empty text: the zero vector
    if (t.size() > n_ctx) {
      // The text's start, still closed by the separator an encoder was trained to see.
      const engine::TokenId last = t.back();
      t.resize(n_ctx);
      if (last == tok.eos()) t.back() = last;
    }
    ids.push_back(std::move(t));
    at.push_back(i);
  }
  NAUT_ASSIGN_OR_RETURN(auto vectors, state_->ctx->EmbedBatch(ids, state_->pooling));
  std::vector<Vector> out(texts.size(),
                          Vector(static_cast<size_t>(state_->model->params().n_embd), 0.0f));
  for (size_t j = 0; j < vectors.size(); ++j) out[at[j]] = std::move(vectors[j]);
  return out;
}

Result<std::unique_ptr<Embedder>> MakeEmbedder(const Config& config) {
  const auto& e = config.embeddings;
  if (e.backend == "hashing") return std::unique_ptr<Embedder>(new HashingEmbedder(e.dim));
  if (e.backend == "openai") {
    OpenAiEmbedder::Options o;
    o.base_url = e.base_url.empty() ? config.llm.base_url : e.base_url;
    o.model = e.model;
    o.api_key = config.llm.api_key;
    if (o.model.empty()) {
      return InvalidArgument(
          "config: [embeddings] backend = \"openai\" needs [embeddings] model (the embedding "
          "model's name on the server)");
    }
    return std::unique_ptr<Embedder>(new OpenAiEmbedder(std::move(o)));
  }
  if (e.backend == "embedded") {
    if (e.model.empty()) {
      return InvalidArgument(
          "config: [embeddings] backend = \"embedded\" needs [embeddings] model (a GGUF "
          "embedding model; scripts/embed_model.sh makes models/all-MiniLM-L6-v2-F32.gguf)");
    }
    auto path = llm::FindGguf(e.model, config.llm.models_dir);
    if (!path.ok()) {
      return NotFound("config: [embeddings] model '" + e.model +
                      "' is neither a GGUF file nor a file in [llm] models_dir (" +
                      std::filesystem::absolute(config.llm.models_dir).string() +
                      "); scripts/embed_model.sh makes models/all-MiniLM-L6-v2-F32.gguf");
    }
    const int threads = config.llm.threads > 0
                            ? config.llm.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    NAUT_ASSIGN_OR_RETURN(auto embedder, EngineEmbedder::Load(path->string(), threads));
    return std::unique_ptr<Embedder>(std::move(embedder));
  }
  return InvalidArgument("config: [embeddings] backend '" + e.backend +
                         "' is not one of hashing, openai, embedded");
}

}  // namespace naut::memory
