#pragma once
// A collection in a Chroma server, through Chroma's HTTP API (v2), holding the memory's vectors:
// the optional vector store of the memory ([memory] vector_store = "chroma").
//
// Each entry is a memory row: its id (the SQLite row id, as a decimal string), its unit vector
// (sent by us: the collection has no embedding function, so Chroma never fetches a model) and
// two metadata fields, "kind" and "env" (the environment, "" for none), which searches filter
// on with Chroma's `where`. The collection is made in cosine space, so a hit's similarity is
// 1 - Chroma's distance. Like the embedded index it is a cache of SQLite (see MemoryStore).
//
// Every answer of the server is untrusted: a refused connection, an HTTP error, or a body that
// is not what the API promises (not JSON, missing fields, ids that are not ours, distances that
// are not finite numbers, more hits than asked) is a Status, never a crash. Errors start with
// "chroma at <url>" and say what was asked; kUnavailable for a server that cannot be reached
// or answers with an HTTP error, kInvalidArgument for an answer of the wrong shape.
//
// Threads: one thread at a time (it keeps one HTTP connection open).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace naut::memory {

class ChromaIndex {
 public:
  struct Options {
    std::string url;  // http://host:port, no path
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    // 3-512 characters of [a-zA-Z0-9._-], starting and ending with a letter or digit
    // (CollectionName makes one).
    std::string collection;
    Json metadata = Json::object();  // stored on the collection when it is made
    // The collection's HNSW parameters (Chroma's own index); 0: Chroma's defaults.
    size_t m = 0, ef_construction = 0, ef_search = 0;
    double timeout_s = 10;
  };
  struct Item {
    int64_t id = 0;
    std::span<const float> vector;
    std::string kind;
    std::string environment;
  };
  struct Hit {
    int64_t id = 0;
    float similarity = 0;  // cosine, 1 = same direction
  };

  // Checks the server (heartbeat, its batch limit), then gets or creates the tenant, the
  // database and the collection.
  static Result<std::unique_ptr<ChromaIndex>> Connect(Options options);
  ~ChromaIndex();
  ChromaIndex(const ChromaIndex&) = delete;
  ChromaIndex& operator=(const ChromaIndex&) = delete;

  // Adds or replaces entries, in as many requests as the server's batch limit needs.
  Status Upsert(std::span<const Item> items);
  Status Delete(std::span<const int64_t> ids);
  // The `n` nearest entries to `query`, nearest first, among those whose kind is `kind` and
  // whose environment is `environment` (each: any when empty).
  Result<std::vector<Hit>> Query(std::span<const float> query, size_t n, const std::string& kind,
                                 const std::string& environment);
  Result<int64_t> Count();
  // Every id in the collection (read in pages).
  Result<std::vector<int64_t>> Ids();
  // Deletes the collection and makes it anew, empty.
  Status Clear();

  const std::string& url() const { return options_.url; }
  const std::string& collection() const { return options_.collection; }

  // A collection name for the vectors of one database and embedder: "naut-" + a hash of
  // `scope` (e.g. the database's path) + the embedder id and dimension made safe, cut to fit.
  static std::string CollectionName(const std::string& scope, const std::string& embedder, int dim);

 private:
  explicit ChromaIndex(Options options);
  // POST (or GET when `body` is null) `path` under the API root; the parsed JSON answer.
  Result<Json> Call(const std::string& what, const std::string& path, const Json* body);
  Status OpenCollection();
  std::string CollectionPath() const;

  Options options_;
  std::unique_ptr<httplib::Client> client_;
  std::string collection_id_;
  size_t max_batch_ = 1000;
  bool base64_ = false;  // the server takes vectors as base64 of little-endian float32
};

}  // namespace naut::memory
