#pragma once
// The memory store: episodic memories (a task, its outcome and critique, the run and step it
// came from), semantic ones (facts, reflections) and skill entries, each with its embedding
// and the embedder that made it; searchable by meaning (HNSW), by words (FTS5, BM25) and by
// both fused (reciprocal rank fusion), with filters on kind, environment and tags.
//
// SQLite is the source of truth: a record is stored when its transaction commits. The vector
// index file in `index_dir` is a cache of the embeddings column; it is caught up, or rebuilt
// from SQLite, whenever it is missing, behind, inconsistent, corrupt or of another embedder,
// so a crash at any moment loses no committed record. Several processes may write the same
// database: new rows are picked up inside each write transaction and before each search.
//
// Chroma (StoreOptions::chroma, [memory] vector_store = "chroma"): a Chroma server keeps the
// vectors too, as a second cache of SQLite beside the embedded index, and vector searches go to
// it while it answers. Its collection (one per database and embedder) is caught up when the
// store first needs it (rows added and removed since), every write and every row picked up from
// another process is sent to it, and Reindex() refills it. When it cannot be reached or answers
// wrongly, the store logs one warning naming the URL and the error, searches the embedded index
// instead (which is always kept), and tries the server again after chroma.retry_s; nothing is
// lost, because both indexes are caught up from SQLite.
//
// Embedders: every row records its embedder id and dimension. When the configured embedder
// differs from the one that made the stored vectors, Add and Search fail with
// kFailedPrecondition naming both, until Reindex() re-embeds everything.
//
// Threads: one thread at a time per MemoryStore. Open one per thread or process.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "memory/chroma_index.h"
#include "memory/embedder.h"
#include "memory/vector_index.h"
#include "store/db.h"

namespace naut::memory {

enum class Kind { kEpisode, kFact, kReflection, kSkill };
std::string_view KindName(Kind kind);  // "episode", "fact", "reflection", "skill"
Result<Kind> ParseKind(std::string_view name);

struct NewMemory {
  Kind kind = Kind::kFact;
  // What is embedded and searched. Empty for an episode: made from task, outcome, critique.
  std::string text;
  std::string environment;        // e.g. "rpg"; empty: any environment
  std::vector<std::string> tags;  // no commas
  // Episodic fields.
  std::string task, outcome, critique, run_id;
  int64_t step = -1;  // -1: none
  std::string ref;    // what the entry stands for, e.g. a skill "name@3"
  // A reflection's: how much the lesson decides success, 1 (trivial) to 10 (0: not rated),
  // and the memories (episodes) it was drawn from.
  int importance = 0;
  std::vector<int64_t> sources;
};

struct Memory : NewMemory {
  int64_t id = 0;
  std::string created;  // ISO 8601 UTC
  std::string embedder;
  int dim = 0;
};

enum class SearchMode { kHybrid, kVector, kText };

struct Query {
  std::string text;
  size_t top_k = 5;
  SearchMode mode = SearchMode::kHybrid;
  std::optional<Kind> kind;
  std::string environment;        // empty: any
  std::vector<std::string> tags;  // every one must be present
};

struct Hit {
  Memory memory;
  double score = 0;      // fused score (RRF), higher is better
  int vector_rank = 0;   // 1-based rank in the vector results, 0: not among them
  int text_rank = 0;     // 1-based rank in the BM25 results, 0: not among them
  float similarity = 0;  // cosine similarity to the query
};

struct Stats {
  int64_t items = 0;
  std::vector<std::pair<std::string, int64_t>> by_kind;
  std::string embedder;          // the configured one, "id (dim N)"
  std::string stored_embedders;  // what made the stored vectors
  size_t indexed = 0;
  bool index_rebuilt = false;  // this process rebuilt the index from SQLite
  std::string index_note;      // why it was rebuilt
  // "embedded", or "chroma at URL, collection C: N vectors", or why Chroma is not used now.
  std::string vector_store;
  bool chroma_up = false;  // searches go to Chroma now
};

struct StoreOptions {
  std::filesystem::path index_dir;  // holds memory.hnsw and memory.hnsw.json
  // index.ef_search 0 (the default): the embedder's SearchBreadth().
  VectorIndex::Options index;
  // Save the index after this many changes (0: only at Flush and when the store closes).
  size_t save_every = 0;
  // Below this many rows passing the filters, vector search compares them all exactly; it also
  // does when that costs less than walking the graph past the others
  // (VectorIndex::ExactIsCheaper: broad searches with few rows passing).
  size_t exact_below = 2000;
  size_t rrf_k = 60;
  struct Chroma {
    std::string url;  // empty: no Chroma, the embedded index alone
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    double timeout_s = 10;
    // After a failure, how long until the server is tried again (at the next write or search).
    double retry_s = 30;
  } chroma;
};

class MemoryStore;

namespace internal {

// The kind and environment of each indexed row, kept in memory beside the vector index so that
// filtered searches need no SQLite lookup per candidate. Both never change once a row is
// stored, so a row it knows is known right; a row it does not know (committed by another
// process since, or not loaded) is kUnknown and left to SQLite, which stays the authority
// (deletions by other processes, tags). Threads: as the MemoryStore that owns it.
class RowAttributes {
 public:
  enum class Match { kNo, kYes, kUnknown };
  void Set(int64_t id, Kind kind, const std::string& environment);
  void Erase(int64_t id);
  void Clear();
  // Whether row `id` has `kind` (any when empty) and `environment` (any when empty).
  Match Matches(int64_t id, std::optional<Kind> kind, const std::string& environment) const;
  // How many known rows match.
  int64_t Count(std::optional<Kind> kind, const std::string& environment) const;
  // The known rows that match, ascending.
  std::vector<int64_t> Matching(std::optional<Kind> kind, const std::string& environment) const;
  size_t size() const { return size_; }

 private:
  // By row id (ids grow from 1 and are never reused, so the table is dense; ids above 2^24 are
  // not kept): 0 for a row not known, else 1 + (environment index << 2 | kind); one load per
  // check on the search path.
  std::vector<uint32_t> rows_;
  size_t size_ = 0;
  std::vector<std::string> environments_;
  std::unordered_map<std::string, uint32_t> environment_ids_;
  std::map<std::pair<Kind, uint32_t>, int64_t> counts_;
};

}  // namespace internal

// Writes of one transaction (see MemoryStore::Write).
class MemoryWriter {
 public:
  // Inserts a row with a vector made by the store's embedder; returns its id.
  Result<int64_t> Insert(const NewMemory& memory, const Vector& embedding);
  // Marks row `id` deleted (kept as a tombstone so ids are never reused).
  Status Remove(int64_t id);
  store::Db& db();

 private:
  friend class MemoryStore;
  explicit MemoryWriter(MemoryStore& store) : store_(store) {}
  MemoryStore& store_;
  std::optional<store::Statement> insert_;  // prepared once per transaction
  struct Added {
    int64_t id;
    Vector vector;
    Kind kind;
    std::string environment;
  };
  std::vector<Added> added_;
  std::vector<int64_t> removed_;
};

class MemoryStore {
 public:
  // Opens (creating and migrating) the database at `db_path`. The embedder is not contacted
  // until the first Add, Search or Reindex.
  static Result<std::unique_ptr<MemoryStore>> Open(const std::filesystem::path& db_path,
                                                   std::unique_ptr<Embedder> embedder,
                                                   StoreOptions options);
  ~MemoryStore();  // saves the index when it changed
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  Result<int64_t> Add(const NewMemory& memory);
  // Adds many in one transaction (import, benchmarks); embeds them in one batch.
  Result<std::vector<int64_t>> AddBatch(std::span<const NewMemory> memories);
  Status Remove(int64_t id);
  Result<Memory> Get(int64_t id);
  // The newest `n` memories of `kind` (in `environment` when given), oldest first.
  Result<std::vector<Memory>> Recent(Kind kind, const std::string& environment, size_t n);
  Result<std::vector<Hit>> Search(const Query& query);

  // Runs `body` in one write transaction, then applies its inserts and removals to the index.
  // For modules that keep their own rows beside memories (skills). Nothing is applied to the
  // index when `body` or the commit fails.
  Status Write(const std::function<Status(MemoryWriter&)>& body);

  // Re-embeds every row with the configured embedder and rebuilds the index.
  // `progress(done, total)` is called after each batch.
  Status Reindex(const std::function<void(int64_t, int64_t)>& progress = {});
  // Saves the index now.
  Status Flush();
  Result<Stats> GetStats();

  // Empty when the stored vectors match the configured embedder, else why they do not.
  Result<std::string> EmbedderMismatch();
  Embedder& embedder() { return *embedder_; }
  store::Db& db() { return *db_; }
  // The loaded index (after Ready()); for benchmarks and checks.
  Result<VectorIndex*> Index();
  std::filesystem::path index_path() const { return options_.index_dir / "memory.hnsw"; }
  // The Chroma collection searches go to now; null when none is configured or it is down.
  ChromaIndex* chroma() { return chroma_.get(); }

 private:
  friend class MemoryWriter;
  MemoryStore(std::unique_ptr<store::Db> db, std::unique_ptr<Embedder> embedder,
              StoreOptions options);
  // Learns the embedder's dimension, refuses mixed vectors, loads or rebuilds the index.
  Status Ready();
  Status Rebuild(const std::string& reason);
  // Adds rows committed (by any process) after the index's max_id.
  Status CatchUp();
  Status AfterWrite(size_t changes);
  Result<std::vector<std::pair<int64_t, float>>> VectorCandidates(const Query& q, const Vector& qv,
                                                                  size_t n);
  Result<std::vector<int64_t>> TextCandidates(const Query& q, size_t n);
  // The vector candidates from Chroma; nullopt when Chroma failed (ChromaFailed has run).
  Result<std::optional<std::vector<std::pair<int64_t, float>>>> ChromaCandidates(
      ChromaIndex& chroma, const Query& q, const Vector& qv, size_t n);
  // Connects to Chroma when it is configured, not connected and due for a try, and catches its
  // collection up with SQLite; then sends it the rows waiting in chroma_pending_.
  void ChromaReady();
  // Brings the collection to the live rows of SQLite (cleared first after a Reindex).
  Status SyncChroma(ChromaIndex& chroma);
  // Drops the connection, warns once per outage, schedules the next try.
  void ChromaFailed(const Status& why);
  // Fills attributes_ for the rows the loaded index holds.
  Status LoadAttributes();
  // Marks attributes_ as matching the database as of now.
  Status Synced();
  // Notices commits of other connections since the last look (PRAGMA data_version): they may
  // have removed rows that attributes_ still knows.
  Status NoteForeignWrites();
  // Whether row `id` passes `q`'s filters and is live without asking SQLite: known in memory,
  // no tags to check, and no other connection has written since attributes_ were synced.
  bool Known(int64_t id, const Query& q) const;
  // Whether row `id` passes `q`'s filters and is live: no when its kind or environment is known
  // not to match, yes when Known(), else asked of SQLite with `check` ("SELECT 1 ... WHERE m.id =
  // ?" and the filter's clauses, bound to `args`).
  Result<bool> Passes(int64_t id, const Query& q, store::Statement& check,
                      const std::vector<std::string>& args);
  // A statement prepared once and reused (searches run often); the caller resets it when done
  // (see StatementLease in the .cc) so that no read transaction stays open between calls.
  Result<store::Statement*> Cached(const std::string& sql);
  std::string embedder_key() const;

  std::unique_ptr<store::Db> db_;
  std::unique_ptr<Embedder> embedder_;
  StoreOptions options_;
  int dim_ = 0;
  std::unique_ptr<VectorIndex> index_;
  internal::RowAttributes attributes_;
  int64_t data_version_ = -1;
  bool foreign_writes_ = true;  // until attributes_ are synced
  // Declared after db_ so that they are finalised before it closes.
  std::unordered_map<std::string, store::Statement> statements_;
  size_t unsaved_ = 0;
  // Chroma: null when not configured or down; rows written or picked up since the last send.
  std::unique_ptr<ChromaIndex> chroma_;
  struct PendingRow {
    int64_t id;
    Vector vector;
    Kind kind;
    std::string environment;
  };
  std::vector<PendingRow> chroma_pending_;
  std::vector<int64_t> chroma_removed_;
  bool chroma_refill_ = false;  // Reindex: clear the collection before the next sync
  bool chroma_warned_ = false;  // this outage was reported
  std::string chroma_problem_;
  double chroma_retry_at_ = 0;  // steady clock seconds
  bool rebuilt_ = false;
  std::string rebuild_reason_;
};

// The store at the data home's database and index directory, with [embeddings] from `config`.
Result<std::unique_ptr<MemoryStore>> OpenMemoryStore(const Config& config,
                                                     StoreOptions options = {});

}  // namespace naut::memory
