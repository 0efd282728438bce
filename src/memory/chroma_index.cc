#include "memory/chroma_index.h"

#include <httplib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/base64.h"
#include "core/hash.h"

namespace naut::memory {

namespace {

constexpr const char* kApi = "/api/v2";
// A page of ids read back at once; Chroma has no limit on reads, this keeps each answer small.
constexpr size_t kIdPage = 10000;
// Chroma's answer for a collection name it refuses is clear; our own names are checked too.
constexpr size_t kMaxName = 512;

// The row id an entry's id stands for, or 0 when it is not one of ours.
int64_t ParseId(const Json& id) {
  if (!id.is_string()) return 0;
  const auto& s = id.get_ref<const std::string&>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0) return 0;
  return v;
}

std::string Shown(const std::string& body) {
  std::string s = ValidUtf8(body.substr(0, 300));
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Json FloatList(std::span<const float> v) {
  Json list = Json::array();
  for (float x : v) list.push_back(x);
  return list;
}

Json Where(const std::string& kind, const std::string& environment) {
  Json terms = Json::array();
  if (!kind.empty()) terms.push_back({{"kind", {{"$eq", kind}}}});
  if (!environment.empty()) terms.push_back({{"env", {{"$eq", environment}}}});
  if (terms.empty()) return nullptr;
  if (terms.size() == 1) return terms[0];
  return {{"$and", terms}};
}

}  // namespace

ChromaIndex::ChromaIndex(Options options) : options_(std::move(options)) {}
ChromaIndex::~ChromaIndex() = default;

std::string ChromaIndex::CollectionName(const std::string& scope, const std::string& embedder,
                                        int dim) {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(Fnv1a64(scope)));  // NOLINT(runtime/int)
  std::string tail = embedder + "-" + std::to_string(dim);
  for (char& c : tail) {
    if (!NameChar(c)) c = '-';
  }
  std::string name = std::string("naut-") + hash + "-" + tail;
  if (name.size() > kMaxName) name.resize(kMaxName);
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.back()))) name.pop_back();
  return name;
}

Result<std::unique_ptr<ChromaIndex>> ChromaIndex::Connect(Options options) {
  const std::string where = "chroma at " + options.url;
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return InvalidArgument(where + ": not an http(s) URL");
  }
  std::unique_ptr<ChromaIndex> c(new ChromaIndex(std::move(options)));
  std::string origin = c->options_.url;
  while (!origin.empty() && origin.back() == '/') origin.pop_back();
  c->client_ = std::make_unique<httplib::Client>(origin);
  if (!c->client_->is_valid()) return InvalidArgument(where + ": not a usable URL");
  const auto secs = static_cast<time_t>(std::max(1.0, c->options_.timeout_s));
  c->client_->set_connection_timeout(std::min<time_t>(secs, 5), 0);
  c->client_->set_read_timeout(secs, 0);
  c->client_->set_write_timeout(secs, 0);
  c->client_->set_keep_alive(true);
  // Requests are written as headers then body: without this, Nagle and the peer's delayed ACK
  // hold each query back about 40 ms.
  c->client_->set_tcp_nodelay(true);

  NAUT_ASSIGN_OR_RETURN(Json beat, c->Call("heartbeat", "/heartbeat", nullptr));
  if (!beat.is_object() || !beat.contains("nanosecond heartbeat")) {
    return InvalidArgument(where + ": the heartbeat answer is not {\"nanosecond heartbeat\": n}");
  }
  NAUT_ASSIGN_OR_RETURN(Json checks, c->Call("pre-flight checks", "/pre-flight-checks", nullptr));
  if (!checks.is_object()) return InvalidArgument(where + ": pre-flight checks are not an object");
  if (auto it = checks.find("max_batch_size"); it != checks.end()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() == 0) {
      return InvalidArgument(where + ": max_batch_size is not a positive integer");
    }
    c->max_batch_ = std::min<size_t>(it->get<uint64_t>(), 1000);
  }
  if (auto it = checks.find("supports_base64_encoding"); it != checks.end() && it->is_boolean()) {
    c->base64_ = it->get<bool>() && std::endian::native == std::endian::little;
  }
  NAUT_RETURN_IF_ERROR(c->OpenCollection());
  return c;
}

Result<Json> ChromaIndex::Call(const std::string& what, const std::string& path, const Json* body) {
  const std::string where = "chroma at " + options_.url + ": " + what;
  httplib::Request req;
  req.method = body != nullptr ? "POST" : "GET";
  req.path = kApi + path;
  if (body != nullptr) {
    req.body = DumpJson(*body);
    req.set_header("Content-Type", "application/json");
  }
  // An answer is read whole before it is parsed: a server that sends without end is cut off.
  std::string answer;
  req.content_receiver = [&answer](const char* data, size_t n, uint64_t, uint64_t) {
    if (answer.size() + n > kMaxJsonBytes) return false;
    answer.append(data, n);
    return true;
  };
  httplib::Result res = client_->send(req);
  if (!res && res.error() == httplib::Error::Canceled) {
    return InvalidArgument(where + ": the answer is longer than " +
                           std::to_string(kMaxJsonBytes >> 20) + " MiB");
  }
  if (!res) {
    const std::string why = res.error() == httplib::Error::Connection
                                ? "cannot connect"
                                : httplib::to_string(res.error());
    return Unavailable(where + ": " + why +
                       " (is the server running? scripts/chroma.sh run starts one)");
  }
  // cpp-httplib hands only some bodies (not those of redirects and some errors) to the receiver.
  if (answer.empty()) answer = std::move(res->body);
  if (res->status == 404) return NotFound(where + ": HTTP 404: " + Shown(answer));
  if (res->status < 200 || res->status >= 300) {
    return Unavailable(where + ": HTTP " + std::to_string(res->status) + ": " + Shown(answer));
  }
  auto parsed = ParseJson(answer, where + " answer");
  if (!parsed) return InvalidArgument(parsed.error().message() + ": " + Shown(answer));
  return std::move(*parsed);
}

std::string ChromaIndex::CollectionPath() const {
  return "/tenants/" + options_.tenant + "/databases/" + options_.database + "/collections/" +
         collection_id_;
}

Status ChromaIndex::OpenCollection() {
  const std::string where = "chroma at " + options_.url;
  const std::string tenant = "/tenants/" + options_.tenant;
  if (auto got = Call("tenant " + options_.tenant, tenant, nullptr); !got) {
    if (got.error().code() != Code::kNotFound) return got.error();
    const Json body{{"name", options_.tenant}};
    NAUT_RETURN_IF_ERROR(Call("create tenant " + options_.tenant, "/tenants", &body).status());
  }
  const std::string database = tenant + "/databases/" + options_.database;
  if (auto got = Call("database " + options_.database, database, nullptr); !got) {
    if (got.error().code() != Code::kNotFound) return got.error();
    const Json body{{"name", options_.database}};
    NAUT_RETURN_IF_ERROR(
        Call("create database " + options_.database, tenant + "/databases", &body).status());
  }
  Json hnsw{{"space", "cosine"}};
  if (options_.m > 0) hnsw["max_neighbors"] = options_.m;
  if (options_.ef_construction > 0) hnsw["ef_construction"] = options_.ef_construction;
  if (options_.ef_search > 0) hnsw["ef_search"] = options_.ef_search;
  Json body{
      {"name", options_.collection}, {"get_or_create", true}, {"configuration", {{"hnsw", hnsw}}}};
  if (!options_.metadata.empty()) body["metadata"] = options_.metadata;
  NAUT_ASSIGN_OR_RETURN(
      Json got, Call("collection " + options_.collection, database + "/collections", &body));
  if (!got.is_object() || !got.contains("id") || !got["id"].is_string() ||
      got["id"].get_ref<const std::string&>().empty()) {
    return InvalidArgument(where + ": collection " + options_.collection +
                           ": the answer has no \"id\" string");
  }
  collection_id_ = got["id"].get<std::string>();
  for (char c : collection_id_) {
    if (!NameChar(c)) {
      return InvalidArgument(where + ": collection " + options_.collection + ": id '" +
                             Shown(collection_id_) + "' is not a plain name");
    }
  }
  // An existing collection must be in cosine space, or its distances mean something else.
  const Json* config = got.contains("configuration_json") ? &got["configuration_json"] : nullptr;
  if (config != nullptr && config->is_object() && config->contains("hnsw") &&
      (*config)["hnsw"].is_object()) {
    const Json& h = (*config)["hnsw"];
    if (h.contains("space") && h["space"] != "cosine") {
      return FailedPrecondition(where + ": collection " + options_.collection + " uses space " +
                                DumpJson(h["space"]) + ", not cosine; delete it or name another");
    }
  }
  return Status::Ok();
}

Status ChromaIndex::Upsert(std::span<const Item> items) {
  for (size_t at = 0; at < items.size(); at += max_batch_) {
    auto batch = items.subspan(at, std::min(max_batch_, items.size() - at));
    Json ids = Json::array(), embeddings = Json::array(), metadatas = Json::array();
    for (const Item& item : batch) {
      ids.push_back(std::to_string(item.id));
      if (base64_) {
        embeddings.push_back(Base64Encode(std::string_view(
            reinterpret_cast<const char*>(item.vector.data()), item.vector.size_bytes())));
      } else {
        embeddings.push_back(FloatList(item.vector));
      }
      metadatas.push_back({{"kind", item.kind}, {"env", item.environment}});
    }
    const Json body{{"ids", std::move(ids)},
                    {"embeddings", std::move(embeddings)},
                    {"metadatas", std::move(metadatas)}};
    NAUT_ASSIGN_OR_RETURN(Json answer, Call("upsert of " + std::to_string(batch.size()) +
                                                " vectors into " + options_.collection,
                                            CollectionPath() + "/upsert", &body));
    (void)answer;
  }
  return Status::Ok();
}

Status ChromaIndex::Delete(std::span<const int64_t> ids) {
  for (size_t at = 0; at < ids.size(); at += max_batch_) {
    auto batch = ids.subspan(at, std::min(max_batch_, ids.size() - at));
    Json list = Json::array();
    for (int64_t id : batch) list.push_back(std::to_string(id));
    const Json body{{"ids", std::move(list)}};
    NAUT_RETURN_IF_ERROR(
        Call("delete from " + options_.collection, CollectionPath() + "/delete", &body).status());
  }
  return Status::Ok();
}

Result<std::vector<ChromaIndex::Hit>> ChromaIndex::Query(std::span<const float> query, size_t n,
                                                         const std::string& kind,
                                                         const std::string& environment) {
  std::vector<Hit> hits;
  if (n == 0) return hits;
  Json queries = Json::array();
  queries.push_back(FloatList(query));
  Json body{{"query_embeddings", std::move(queries)}, {"n_results", n}};
  body["include"] = Json::array({"distances"});
  if (Json where = Where(kind, environment); !where.is_null()) body["where"] = std::move(where);
  const std::string what = "query of " + options_.collection;
  NAUT_ASSIGN_OR_RETURN(Json answer, Call(what, CollectionPath() + "/query", &body));
  const std::string bad = "chroma at " + options_.url + ": " + what + ": ";
  if (!answer.is_object() || !answer.contains("ids") || !answer.contains("distances")) {
    return InvalidArgument(bad + "the answer has no \"ids\" and \"distances\"");
  }
  const Json& ids = answer["ids"];
  const Json& distances = answer["distances"];
  if (!ids.is_array() || ids.size() != 1 || !ids[0].is_array() || !distances.is_array() ||
      distances.size() != 1 || !distances[0].is_array()) {
    return InvalidArgument(bad + "\"ids\" and \"distances\" are not one list each");
  }
  if (ids[0].size() != distances[0].size() || ids[0].size() > n) {
    return InvalidArgument(bad + std::to_string(ids[0].size()) + " ids and " +
                           std::to_string(distances[0].size()) + " distances where at most " +
                           std::to_string(n) + " of each were asked for");
  }
  for (size_t i = 0; i < ids[0].size(); ++i) {
    const int64_t id = ParseId(ids[0][i]);
    if (id == 0) {
      return InvalidArgument(bad + "id " + Shown(DumpJson(ids[0][i])) + " is not a memory row id");
    }
    const Json& d = distances[0][i];
    if (!d.is_number() || !std::isfinite(d.get<double>())) {
      return InvalidArgument(bad + "distance " + Shown(DumpJson(d)) + " is not a number");
    }
    hits.push_back({id, static_cast<float>(1.0 - d.get<double>())});
  }
  return hits;
}

Result<int64_t> ChromaIndex::Count() {
  NAUT_ASSIGN_OR_RETURN(
      Json answer, Call("count of " + options_.collection, CollectionPath() + "/count", nullptr));
  if (!answer.is_number_unsigned()) {
    return InvalidArgument("chroma at " + options_.url + ": count of " + options_.collection +
                           ": the answer is not a count: " + Shown(DumpJson(answer)));
  }
  return static_cast<int64_t>(answer.get<uint64_t>());
}

Result<std::vector<int64_t>> ChromaIndex::Ids() {
  std::vector<int64_t> out;
  const std::string what = "ids of " + options_.collection;
  for (size_t offset = 0;; offset += kIdPage) {
    const Json body{{"limit", kIdPage}, {"offset", offset}, {"include", Json::array()}};
    NAUT_ASSIGN_OR_RETURN(Json answer, Call(what, CollectionPath() + "/get", &body));
    if (!answer.is_object() || !answer.contains("ids") || !answer["ids"].is_array() ||
        answer["ids"].size() > kIdPage) {
      return InvalidArgument("chroma at " + options_.url + ": " + what +
                             ": the answer has no \"ids\" list of at most " +
                             std::to_string(kIdPage));
    }
    for (const Json& id : answer["ids"]) {
      const int64_t v = ParseId(id);
      if (v == 0) {
        return InvalidArgument("chroma at " + options_.url + ": " + what + ": id " +
                               Shown(DumpJson(id)) + " is not a memory row id");
      }
      out.push_back(v);
    }
    if (answer["ids"].size() < kIdPage) break;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status ChromaIndex::Clear() {
  const std::string path = "/tenants/" + options_.tenant + "/databases/" + options_.database +
                           "/collections/" + options_.collection;
  auto res = client_->Delete(kApi + path);
  if (!res) {
    return Unavailable("chroma at " + options_.url + ": delete collection " + options_.collection +
                       ": " + httplib::to_string(res.error()));
  }
  if (res->status != 404 && (res->status < 200 || res->status >= 300)) {
    return Unavailable("chroma at " + options_.url + ": delete collection " + options_.collection +
                       ": HTTP " + std::to_string(res->status) + ": " + Shown(res->body));
  }
  return OpenCollection();
}

}  // namespace naut::memory
