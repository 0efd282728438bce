#include "memory/memory_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "core/data_home.h"
#include "core/ids.h"
#include "core/log.h"

namespace naut::memory {

namespace fs = std::filesystem;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, "memory items with embeddings, full-text index",
     R"sql(
CREATE TABLE memory_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL CHECK (kind IN ('episode', 'fact', 'reflection', 'skill')),
  text TEXT NOT NULL,
  environment TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  task TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '',
  critique TEXT NOT NULL DEFAULT '',
  run_id TEXT NOT NULL DEFAULT '',
  step INTEGER NOT NULL DEFAULT -1,
  ref TEXT NOT NULL DEFAULT '',
  created TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  embedder TEXT NOT NULL,
  dim INTEGER NOT NULL,
  embedding BLOB NOT NULL
);
CREATE INDEX memory_items_filter ON memory_items (kind, environment);
CREATE INDEX memory_items_ref ON memory_items (ref);
CREATE VIRTUAL TABLE memory_fts USING fts5 (
  text, content = 'memory_items', content_rowid = 'id', tokenize = 'porter unicode61');
CREATE TRIGGER memory_items_ai AFTER INSERT ON memory_items BEGIN
  INSERT INTO memory_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER memory_items_ad AFTER DELETE ON memory_items BEGIN
  INSERT INTO memory_fts (memory_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER memory_items_au AFTER UPDATE OF text ON memory_items BEGIN
  INSERT INTO memory_fts (memory_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO memory_fts (rowid, text) VALUES (new.id, new.text);
END;
)sql"},
    {2, "reflections: importance and the memories they came from",
     R"sql(
ALTER TABLE memory_items ADD COLUMN importance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memory_items ADD COLUMN sources TEXT NOT NULL DEFAULT '';
)sql"},
};

constexpr const char* kNoIndexYet = "no index file yet";

constexpr const char* kColumns =
    "m.id, m.kind, m.text, m.environment, m.tags, m.task, m.outcome, m.critique, m.run_id, "
    "m.step, m.ref, m.created, m.embedder, m.dim, m.importance, m.sources";

std::string JoinTags(const std::vector<std::string>& tags) {
  if (tags.empty()) return "";
  std::string s = ",";
  for (const auto& t : tags) s += t + ",";
  return s;
}

std::vector<std::string> SplitTags(const std::string& s) {
  std::vector<std::string> tags;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) tags.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) tags.push_back(cur);
  return tags;
}

Status CheckTags(const std::vector<std::string>& tags) {
  for (const auto& t : tags) {
    if (t.empty() || t.find(',') != std::string::npos) {
      return InvalidArgument("memory: tag '" + t + "' must be non-empty and have no comma");
    }
  }
  return Status::Ok();
}

Memory ReadRow(const store::Statement& s, int first = 0) {
  Memory m;
  m.id = s.ColumnInt(first + 0);
  m.kind = ParseKind(s.ColumnText(first + 1)).value_or(Kind::kFact);
  m.text = s.ColumnText(first + 2);
  m.environment = s.ColumnText(first + 3);
  m.tags = SplitTags(s.ColumnText(first + 4));
  m.task = s.ColumnText(first + 5);
  m.outcome = s.ColumnText(first + 6);
  m.critique = s.ColumnText(first + 7);
  m.run_id = s.ColumnText(first + 8);
  m.step = s.ColumnInt(first + 9);
  m.ref = s.ColumnText(first + 10);
  m.created = s.ColumnText(first + 11);
  m.embedder = s.ColumnText(first + 12);
  m.dim = static_cast<int>(s.ColumnInt(first + 13));
  m.importance = static_cast<int>(s.ColumnInt(first + 14));
  for (const auto& id : SplitTags(s.ColumnText(first + 15))) {
    char* end = nullptr;
    const long long v = std::strtoll(id.c_str(), &end, 10);
    if (end != id.c_str() && *end == '\0') m.sources.push_back(v);
  }
  return m;
}

Vector BlobToVector(const std::string& blob) {
  Vector v(blob.size() / sizeof(float));
  std::memcpy(v.data(), blob.data(), v.size() * sizeof(float));
  return v;
}

// The filter clauses of a query, with their bindings in order.
struct Filter {
  std::string sql;
  std::vector<std::string> args;
};

std::string LikeEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Filter MakeFilter(const Query& q) {
  Filter f;
  f.sql = " AND m.deleted = 0";
  if (q.kind) {
    f.sql += " AND m.kind = ?";
    f.args.emplace_back(KindName(*q.kind));
  }
  if (!q.environment.empty()) {
    f.sql += " AND m.environment = ?";
    f.args.push_back(q.environment);
  }
  for (const auto& t : q.tags) {
    f.sql += " AND m.tags LIKE ? ESCAPE '\\'";
    f.args.push_back("%," + LikeEscape(t) + ",%");
  }
  return f;
}

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool Filtered(const Query& q) { return q.kind || !q.environment.empty() || !q.tags.empty(); }

// Resets a cached statement when its user is done, so that it holds no read transaction.
class StatementLease {
 public:
  explicit StatementLease(store::Statement& s) : s_(s) {}
  ~StatementLease() { s_.Reset(); }
  StatementLease(const StatementLease&) = delete;
  StatementLease& operator=(const StatementLease&) = delete;
  store::Statement& operator*() const { return s_; }
  store::Statement* operator->() const { return &s_; }

 private:
  store::Statement& s_;
};

// One read transaction around the statements of a search: they share one snapshot and take
// the database's locks once instead of once each. Nothing when a transaction is already open.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(store::Db& db) : db_(db) {
    if (sqlite3_get_autocommit(db_.handle()) != 0) open_ = db_.Exec("BEGIN").ok();
  }
  ~ReadSnapshot() {
    if (open_) (void)db_.Exec("COMMIT");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  store::Db& db_;
  bool open_ = false;
};

// Lets a vector search through the rows whose kind and environment may match the query.
class AttributeFilter : public IdFilter {
 public:
  AttributeFilter(const internal::RowAttributes& rows, const Query& q) : rows_(rows), q_(q) {}
  bool Allows(int64_t id) const override {
    return rows_.Matches(id, q_.kind, q_.environment) != internal::RowAttributes::Match::kNo;
  }

 private:
  const internal::RowAttributes& rows_;
  const Query& q_;
};

// Words of the query as an FTS5 expression that matches any of them ("a" OR "b").
std::string FtsExpression(const std::string& text) {
  std::string expr, word;
  std::set<std::string> seen;
  auto flush = [&] {
    if (!word.empty() && seen.insert(word).second) {
      if (!expr.empty()) expr += " OR ";
      expr += "\"" + word + "\"";
    }
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return expr;
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kEpisode:
      return "episode";
    case Kind::kFact:
      return "fact";
    case Kind::kReflection:
      return "reflection";
    case Kind::kSkill:
      return "skill";
  }
  return "fact";
}

Result<Kind> ParseKind(std::string_view name) {
  for (Kind k : {Kind::kEpisode, Kind::kFact, Kind::kReflection, Kind::kSkill}) {
    if (KindName(k) == name) return k;
  }
  return InvalidArgument("memory kind '" + std::string(name) +
                         "' is not one of episode, fact, reflection, skill");
}

// ---- RowAttributes ----

void internal::RowAttributes::Set(int64_t id, Kind kind, const std::string& environment) {
  // Ids outside the table's range (never made by AUTOINCREMENT in practice) stay unknown and are
  // left to SQLite.
  constexpr int64_t kMaxId = int64_t{1} << 24;
  if (id <= 0 || id > kMaxId) return;
  auto [env, fresh] =
      environment_ids_.emplace(environment, static_cast<uint32_t>(environments_.size()));
  if (fresh) environments_.push_back(environment);
  const auto at = static_cast<size_t>(id);
  if (at >= rows_.size()) rows_.resize(std::max(at + 1, rows_.size() * 2), 0);
  Erase(id);
  rows_[at] = 1 + (env->second << 2 | static_cast<uint32_t>(kind));
  ++counts_[{kind, env->second}];
  ++size_;
}

void internal::RowAttributes::Erase(int64_t id) {
  if (id <= 0 || static_cast<size_t>(id) >= rows_.size()) return;
  uint32_t& row = rows_[static_cast<size_t>(id)];
  if (row == 0) return;
  --counts_[{static_cast<Kind>((row - 1) & 3), (row - 1) >> 2}];
  --size_;
  row = 0;
}

void internal::RowAttributes::Clear() {
  rows_.clear();
  counts_.clear();
  size_ = 0;
}

internal::RowAttributes::Match internal::RowAttributes::Matches(
    int64_t id, std::optional<Kind> kind, const std::string& environment) const {
  if (id <= 0 || static_cast<size_t>(id) >= rows_.size() || rows_[static_cast<size_t>(id)] == 0) {
    return Match::kUnknown;
  }
  const uint32_t row = rows_[static_cast<size_t>(id)] - 1;
  if (kind && static_cast<Kind>(row & 3) != *kind) return Match::kNo;
  if (!environment.empty() && environments_[row >> 2] != environment) return Match::kNo;
  return Match::kYes;
}

std::vector<int64_t> internal::RowAttributes::Matching(std::optional<Kind> kind,
                                                       const std::string& environment) const {
  std::vector<int64_t> ids;
  for (size_t id = 1; id < rows_.size(); ++id) {
    if (rows_[id] != 0 && Matches(static_cast<int64_t>(id), kind, environment) == Match::kYes) {
      ids.push_back(static_cast<int64_t>(id));
    }
  }
  return ids;
}

int64_t internal::RowAttributes::Count(std::optional<Kind> kind,
                                       const std::string& environment) const {
  int64_t n = 0;
  for (const auto& [key, count] : counts_) {
    if (kind && key.first != *kind) continue;
    if (!environment.empty() && environments_[key.second] != environment) continue;
    n += count;
  }
  return n;
}

// ---- MemoryWriter ----

store::Db& MemoryWriter::db() { return *store_.db_; }

Result<int64_t> MemoryWriter::Insert(const NewMemory& m, const Vector& embedding) {
  NAUT_RETURN_IF_ERROR(CheckTags(m.tags));
  if (m.text.empty()) return InvalidArgument("memory: the text to remember is empty");
  if (static_cast<int>(embedding.size()) != store_.dim_) {
    return Internal("memory: a vector of size " + std::to_string(embedding.size()) +
                    " where the embedder makes " + std::to_string(store_.dim_));
  }
  if (!insert_) {
    NAUT_ASSIGN_OR_RETURN(
        insert_,
        db().Prepare("INSERT INTO memory_items (kind, text, environment, tags, task, outcome, "
                     "critique, run_id, step, ref, created, embedder, dim, embedding, "
                     "importance, sources) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  } else {
    insert_->Reset();
  }
  store::Statement& ins = *insert_;
  ins.Bind(1, KindName(m.kind))
      .Bind(2, m.text)
      .Bind(3, m.environment)
      .Bind(4, JoinTags(m.tags))
      .Bind(5, m.task)
      .Bind(6, m.outcome)
      .Bind(7, m.critique)
      .Bind(8, m.run_id)
      .Bind(9, m.step)
      .Bind(10, m.ref)
      .Bind(11, NowIso8601())
      .Bind(12, store_.embedder_->id())
      .Bind(13, store_.dim_)
      .BindBlob(14, embedding.data(), embedding.size() * sizeof(float));
  std::vector<std::string> sources;
  for (int64_t id : m.sources) sources.push_back(std::to_string(id));
  ins.Bind(15, static_cast<int64_t>(std::clamp(m.importance, 0, 10))).Bind(16, JoinTags(sources));
  NAUT_RETURN_IF_ERROR(ins.Run());
  int64_t id = db().LastInsertRowId();
  added_.push_back({id, embedding, m.kind, m.environment});
  return id;
}

Status MemoryWriter::Remove(int64_t id) {
  NAUT_ASSIGN_OR_RETURN(
      auto up, db().Prepare("UPDATE memory_items SET deleted = 1 WHERE id = ? AND deleted = 0"));
  up.Bind(1, id);
  NAUT_RETURN_IF_ERROR(up.Run());
  if (db().Changes() == 0) return NotFound("memory " + std::to_string(id) + " does not exist");
  removed_.push_back(id);
  return Status::Ok();
}

// ---- MemoryStore ----

MemoryStore::MemoryStore(std::unique_ptr<store::Db> db, std::unique_ptr<Embedder> embedder,
                         StoreOptions options)
    : db_(std::move(db)), embedder_(std::move(embedder)), options_(std::move(options)) {
  if (options_.index.ef_search == 0) options_.index.ef_search = embedder_->SearchBreadth();
}

Result<store::Statement*> MemoryStore::Cached(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    NAUT_ASSIGN_OR_RETURN(auto s, db_->Prepare(sql));
    it = statements_.emplace(sql, std::move(s)).first;
  }
  return &it->second;
}

bool MemoryStore::Known(int64_t id, const Query& q) const {
  return !foreign_writes_ && q.tags.empty() &&
         attributes_.Matches(id, q.kind, q.environment) == internal::RowAttributes::Match::kYes;
}

Result<bool> MemoryStore::Passes(int64_t id, const Query& q, store::Statement& check,
                                 const std::vector<std::string>& args) {
  if (attributes_.Matches(id, q.kind, q.environment) == internal::RowAttributes::Match::kNo)
    return false;
  if (Known(id, q)) return true;
  StatementLease s(check);
  s->Bind(1, id);
  for (size_t i = 0; i < args.size(); ++i) s->Bind(static_cast<int>(i + 2), args[i]);
  return s->Step();
}

Status MemoryStore::NoteForeignWrites() {
  NAUT_ASSIGN_OR_RETURN(store::Statement * cached, Cached("PRAGMA data_version"));
  StatementLease q(*cached);
  NAUT_RETURN_IF_ERROR(q->Step());
  const int64_t version = q->ColumnInt(0);
  if (version != data_version_) foreign_writes_ = true;
  data_version_ = version;
  return Status::Ok();
}

Status MemoryStore::LoadAttributes() {
  attributes_.Clear();
  // Read through the (kind, environment) index, not the rows with their vectors; rows removed
  // are skipped by asking the index, which holds exactly the live rows it covers.
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT id, kind, environment FROM memory_items "
                                             "INDEXED BY memory_items_filter"));
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const int64_t id = q.ColumnInt(0);
    if (!index_->Contains(id)) continue;
    auto kind = ParseKind(q.ColumnText(1));
    if (kind) attributes_.Set(id, *kind, q.ColumnText(2));
  }
  return Synced();
}

Status MemoryStore::Synced() {
  data_version_ = -1;
  NAUT_RETURN_IF_ERROR(NoteForeignWrites());
  foreign_writes_ = false;
  return Status::Ok();
}

MemoryStore::~MemoryStore() {
  if (index_ && unsaved_ > 0) {
    Status s = Flush();
    if (!s.ok()) spdlog::warn("memory: {} (it will be rebuilt from the database)", s.ToString());
  }
}

Result<std::unique_ptr<MemoryStore>> MemoryStore::Open(const fs::path& db_path,
                                                       std::unique_ptr<Embedder> embedder,
                                                       StoreOptions options) {
  NAUT_ASSIGN_OR_RETURN(auto db, store::Db::Open(db_path));
  NAUT_RETURN_IF_ERROR(db->Migrate("memory", kMigrations));
  if (options.index_dir.empty()) options.index_dir = db_path.parent_path() / "index";
  return std::unique_ptr<MemoryStore>(
      new MemoryStore(std::move(db), std::move(embedder), std::move(options)));
}

std::string MemoryStore::embedder_key() const {
  return embedder_->id() + " (dim " + std::to_string(dim_) + ")";
}

Result<std::string> MemoryStore::EmbedderMismatch() {
  if (dim_ == 0) {
    NAUT_ASSIGN_OR_RETURN(dim_, embedder_->Dimension());
  }
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT embedder, dim, count(*) FROM memory_items "
                                             "WHERE deleted = 0 GROUP BY embedder, dim"));
  std::string other;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    if (q.ColumnText(0) == embedder_->id() && q.ColumnInt(1) == dim_) continue;
    if (!other.empty()) other += ", ";
    other += std::to_string(q.ColumnInt(2)) + " by " + q.ColumnText(0) + " (dim " +
             std::to_string(q.ColumnInt(1)) + ")";
  }
  if (other.empty()) return std::string();
  return "memory: the stored vectors were made by another embedder (" + other +
         ") than the configured " + embedder_key() +
         "; run `neuronaut memory reindex` to re-embed them";
}

Status MemoryStore::Ready() {
  if (index_) {
    NAUT_RETURN_IF_ERROR(CatchUp());
    ChromaReady();
    return Status::Ok();
  }
  NAUT_ASSIGN_OR_RETURN(std::string mismatch, EmbedderMismatch());
  if (!mismatch.empty()) return FailedPrecondition(mismatch);
  auto loaded = VectorIndex::Load(index_path(), embedder_->id(), dim_, options_.index);
  if (!loaded) {
    NAUT_RETURN_IF_ERROR(
        Rebuild(loaded.error().code() == Code::kNotFound ? kNoIndexYet : loaded.error().message()));
    ChromaReady();
    return Status::Ok();
  }
  // The index must hold exactly the live rows up to the id it covers.
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT count(*) FROM memory_items WHERE deleted = 0 "
                                             "AND id <= ?"));
  q.Bind(1, (*loaded)->max_id());
  NAUT_RETURN_IF_ERROR(q.Step());
  int64_t rows = q.ColumnInt(0);
  if (rows != static_cast<int64_t>((*loaded)->size())) {
    NAUT_RETURN_IF_ERROR(Rebuild("the index holds " + std::to_string((*loaded)->size()) +
                                 " vectors where the database has " + std::to_string(rows)));
    ChromaReady();
    return Status::Ok();
  }
  index_ = std::move(*loaded);
  NAUT_RETURN_IF_ERROR(LoadAttributes());
  NAUT_RETURN_IF_ERROR(CatchUp());
  ChromaReady();
  return Status::Ok();
}

Status MemoryStore::Rebuild(const std::string& reason) {
  // A first build is routine; any other rebuild means something was wrong and is worth a line.
  if (reason == kNoIndexYet) {
    spdlog::debug("memory: building the vector index from the database");
  } else {
    spdlog::info("memory: rebuilding the vector index from the database: {}", reason);
  }
  auto index = std::make_unique<VectorIndex>(dim_, options_.index);
  attributes_.Clear();
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT id, embedding, dim, embedder, kind, "
                                             "environment FROM memory_items "
                                             "WHERE deleted = 0 ORDER BY id"));
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    if (q.ColumnInt(2) != dim_ || q.ColumnText(3) != embedder_->id()) {
      return FailedPrecondition(
          "memory: row " + std::to_string(q.ColumnInt(0)) +
          " has a vector of another embedder; run `neuronaut memory reindex`");
    }
    Vector v = BlobToVector(q.ColumnBlob(1));
    if (static_cast<int>(v.size()) != dim_) {
      return DataLoss("memory: row " + std::to_string(q.ColumnInt(0)) + " has a truncated vector");
    }
    index->Add(q.ColumnInt(0), v);
    if (auto kind = ParseKind(q.ColumnText(4))) {
      attributes_.Set(q.ColumnInt(0), *kind, q.ColumnText(5));
    }
  }
  NAUT_ASSIGN_OR_RETURN(auto mx, db_->Prepare("SELECT coalesce(max(id), 0) FROM memory_items"));
  NAUT_RETURN_IF_ERROR(mx.Step());
  index->set_max_id(mx.ColumnInt(0));
  index_ = std::move(index);
  NAUT_RETURN_IF_ERROR(Synced());
  rebuilt_ = true;
  rebuild_reason_ = reason;
  unsaved_ = 0;
  return Flush();
}

Status MemoryStore::CatchUp() {
  // Runs before every search: prepared once.
  NAUT_ASSIGN_OR_RETURN(store::Statement * cached,
                        Cached("SELECT id, embedding, deleted, kind, environment "
                               "FROM memory_items WHERE id > ? ORDER BY id"));
  StatementLease lease(*cached);
  store::Statement& q = *lease;
  q.Bind(1, index_->max_id());
  size_t added = 0;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    int64_t id = q.ColumnInt(0);
    if (q.ColumnInt(2) == 0) {
      Vector v = BlobToVector(q.ColumnBlob(1));
      if (static_cast<int>(v.size()) != dim_) {
        return FailedPrecondition("memory: row " + std::to_string(id) +
                                  " was written with another embedder; run `neuronaut memory "
                                  "reindex`");
      }
      index_->Add(id, v);
      if (auto kind = ParseKind(q.ColumnText(3))) {
        attributes_.Set(id, *kind, q.ColumnText(4));
        if (chroma_) chroma_pending_.push_back({id, std::move(v), *kind, q.ColumnText(4)});
      }
      ++added;
    }
    index_->set_max_id(std::max(index_->max_id(), id));
  }
  if (added > 0) unsaved_ += added;
  return Status::Ok();
}

void MemoryStore::ChromaFailed(const Status& why) {
  chroma_.reset();
  chroma_pending_.clear();
  chroma_removed_.clear();
  chroma_problem_ = why.message();
  chroma_retry_at_ = SteadySeconds() + options_.chroma.retry_s;
  if (chroma_warned_) {
    spdlog::debug("memory: {}", why.ToString());
    return;
  }
  chroma_warned_ = true;
  spdlog::warn(
      "memory: the Chroma vector store at {} failed ({}); searching the embedded index instead "
      "until it answers again (nothing is lost: every memory is in SQLite, and Chroma is caught "
      "up when it is back)",
      options_.chroma.url, why.ToString());
}

void MemoryStore::ChromaReady() {
  if (options_.chroma.url.empty() || !index_) return;
  if (!chroma_) {
    if (SteadySeconds() < chroma_retry_at_) return;
    ChromaIndex::Options o;
    o.url = options_.chroma.url;
    o.tenant = options_.chroma.tenant;
    o.database = options_.chroma.database;
    o.timeout_s = options_.chroma.timeout_s;
    std::error_code ec;
    fs::path scope = fs::weakly_canonical(db_->path(), ec);
    if (ec) scope = db_->path();
    o.collection = ChromaIndex::CollectionName(scope.string(), embedder_->id(), dim_);
    o.metadata = {{"database", scope.string()}, {"embedder", embedder_->id()}, {"dim", dim_}};
    o.m = options_.index.m;
    o.ef_construction = options_.index.ef_construction;
    o.ef_search = options_.index.ef_search;
    auto connected = ChromaIndex::Connect(std::move(o));
    if (!connected) return ChromaFailed(connected.error());
    Status synced = SyncChroma(**connected);
    if (!synced.ok()) return ChromaFailed(synced);
    chroma_ = std::move(*connected);
    chroma_pending_.clear();
    chroma_removed_.clear();
    if (chroma_warned_) {
      spdlog::warn("memory: the Chroma vector store at {} answers again and is caught up",
                   options_.chroma.url);
    }
    chroma_warned_ = false;
    chroma_problem_.clear();
    return;
  }
  if (!chroma_removed_.empty()) {
    Status s = chroma_->Delete(chroma_removed_);
    if (!s.ok()) return ChromaFailed(s);
    chroma_removed_.clear();
  }
  if (!chroma_pending_.empty()) {
    std::vector<ChromaIndex::Item> items;
    items.reserve(chroma_pending_.size());
    for (const auto& p : chroma_pending_) {
      items.push_back({p.id, p.vector, std::string(KindName(p.kind)), p.environment});
    }
    Status s = chroma_->Upsert(items);
    if (!s.ok()) return ChromaFailed(s);
    chroma_pending_.clear();
  }
}

Status MemoryStore::SyncChroma(ChromaIndex& chroma) {
  if (chroma_refill_) {
    NAUT_RETURN_IF_ERROR(chroma.Clear());
    chroma_refill_ = false;
  }
  NAUT_ASSIGN_OR_RETURN(std::vector<int64_t> held, chroma.Ids());
  std::vector<int64_t> live;
  {
    NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT id FROM memory_items INDEXED BY "
                                               "memory_items_filter WHERE deleted = 0"));
    while (true) {
      NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      live.push_back(q.ColumnInt(0));
    }
  }
  std::sort(live.begin(), live.end());
  std::vector<int64_t> extra, missing;
  std::set_difference(held.begin(), held.end(), live.begin(), live.end(),
                      std::back_inserter(extra));
  std::set_difference(live.begin(), live.end(), held.begin(), held.end(),
                      std::back_inserter(missing));
  if (!extra.empty()) NAUT_RETURN_IF_ERROR(chroma.Delete(extra));
  if (missing.empty()) return Status::Ok();
  spdlog::info("memory: catching up the Chroma collection {} with {} rows ({} removed)",
               chroma.collection(), missing.size(), extra.size());
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT id, embedding, kind, environment FROM "
                                             "memory_items WHERE deleted = 0 ORDER BY id"));
  std::vector<Vector> vectors;
  std::vector<ChromaIndex::Item> batch;
  constexpr size_t kBatch = 1000;
  auto send = [&]() -> Status {
    for (size_t i = 0; i < batch.size(); ++i) batch[i].vector = vectors[i];
    NAUT_RETURN_IF_ERROR(chroma.Upsert(batch));
    batch.clear();
    vectors.clear();
    return Status::Ok();
  };
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const int64_t id = q.ColumnInt(0);
    if (!std::binary_search(missing.begin(), missing.end(), id)) continue;
    Vector v = BlobToVector(q.ColumnBlob(1));
    if (static_cast<int>(v.size()) != dim_) continue;  // another embedder's: Ready() refused
    vectors.push_back(std::move(v));
    batch.push_back({id, {}, q.ColumnText(2), q.ColumnText(3)});
    if (batch.size() >= kBatch) NAUT_RETURN_IF_ERROR(send());
  }
  if (!batch.empty()) NAUT_RETURN_IF_ERROR(send());
  return Status::Ok();
}

Result<std::optional<std::vector<std::pair<int64_t, float>>>> MemoryStore::ChromaCandidates(
    ChromaIndex& chroma, const Query& q, const Vector& qv, size_t n) {
  std::vector<std::pair<int64_t, float>> out;
  Filter f = MakeFilter(q);
  NAUT_ASSIGN_OR_RETURN(store::Statement * check,
                        Cached("SELECT 1 FROM memory_items m WHERE m.id = ?" + f.sql));
  std::string kind = q.kind ? std::string(KindName(*q.kind)) : std::string();
  std::string environment = q.environment;
  size_t fetch = q.tags.empty() ? n : n * 4;
  // Chroma answers a `where` query far slower than a plain one (bench/README.md, "Chroma": 150
  // against 6 ms at 100,000 rows with 1 row in 6 passing). When the filter passes a fair share
  // of the rows, plain hits are asked for, enough that the share passing fills n, and filtered
  // here by the rows' attributes; `where` is used for narrow filters, and when that falls short.
  bool wide = false;
  if ((q.kind || !q.environment.empty()) && attributes_.size() > 0) {
    const double share =
        std::max(static_cast<double>(attributes_.Count(q.kind, q.environment)), 1.0) /
        static_cast<double>(attributes_.size());
    constexpr double kWideShare = 1.0 / 32;
    constexpr size_t kMaxWide = 2000;
    if (share >= kWideShare) {
      wide = true;
      fetch = std::min(kMaxWide, static_cast<size_t>(static_cast<double>(fetch) / share * 2));
      kind.clear();
      environment.clear();
    }
  }
  // SQLite checks each candidate it does not know (removed by another process since, tags), and
  // only tags make it over-fetch.
  while (true) {
    auto hits = chroma.Query(qv, fetch, kind, environment);
    if (!hits) {
      ChromaFailed(hits.error());
      return std::nullopt;
    }
    out.clear();
    for (const auto& h : *hits) {
      NAUT_ASSIGN_OR_RETURN(bool passes, Passes(h.id, q, *check, f.args));
      if (passes) out.emplace_back(h.id, h.similarity);
      if (out.size() >= n) break;
    }
    if (out.size() >= n || hits->size() < fetch) break;
    if (wide) {
      wide = false;
      kind = q.kind ? std::string(KindName(*q.kind)) : std::string();
      environment = q.environment;
      fetch = q.tags.empty() ? n : n * 4;
    } else {
      fetch *= 4;
    }
  }
  return out;
}

Status MemoryStore::Write(const std::function<Status(MemoryWriter&)>& body) {
  NAUT_RETURN_IF_ERROR(Ready());
  MemoryWriter writer(*this);
  {
    NAUT_ASSIGN_OR_RETURN(auto tx, db_->Begin());
    // Rows other processes committed since our last look come first, so that the index
    // covers every id up to ours without gaps.
    NAUT_RETURN_IF_ERROR(CatchUp());
    NAUT_RETURN_IF_ERROR(body(writer));
    NAUT_RETURN_IF_ERROR(tx.Commit());
  }
  for (const auto& a : writer.added_) {
    index_->Add(a.id, a.vector);
    attributes_.Set(a.id, a.kind, a.environment);
  }
  for (int64_t id : writer.removed_) {
    index_->Remove(id);
    attributes_.Erase(id);
  }
  if (chroma_) {
    for (auto& a : writer.added_) {
      chroma_pending_.push_back({a.id, std::move(a.vector), a.kind, std::move(a.environment)});
    }
    chroma_removed_.insert(chroma_removed_.end(), writer.removed_.begin(), writer.removed_.end());
    ChromaReady();
  }
  return AfterWrite(writer.added_.size() + writer.removed_.size());
}

Status MemoryStore::AfterWrite(size_t changes) {
  unsaved_ += changes;
  if (options_.save_every > 0 && unsaved_ >= options_.save_every) return Flush();
  return Status::Ok();
}

Result<int64_t> MemoryStore::Add(const NewMemory& memory) {
  NAUT_ASSIGN_OR_RETURN(auto ids, AddBatch(std::span<const NewMemory>(&memory, 1)));
  return ids.at(0);
}

Result<std::vector<int64_t>> MemoryStore::AddBatch(std::span<const NewMemory> memories) {
  NAUT_RETURN_IF_ERROR(Ready());
  std::vector<NewMemory> items(memories.begin(), memories.end());
  std::vector<std::string> texts;
  for (auto& m : items) {
    if (m.text.empty() && m.kind == Kind::kEpisode) {
      m.text = "task: " + m.task + "\noutcome: " + m.outcome;
      if (!m.critique.empty()) m.text += "\ncritique: " + m.critique;
    }
    NAUT_RETURN_IF_ERROR(CheckTags(m.tags));
    if (m.text.empty()) return InvalidArgument("memory: the text to remember is empty");
    texts.push_back(m.text);
  }
  NAUT_ASSIGN_OR_RETURN(auto vectors, embedder_->Embed(texts));
  std::vector<int64_t> ids;
  NAUT_RETURN_IF_ERROR(Write([&](MemoryWriter& w) -> Status {
    for (size_t i = 0; i < items.size(); ++i) {
      NAUT_ASSIGN_OR_RETURN(int64_t id, w.Insert(items[i], vectors[i]));
      ids.push_back(id);
    }
    return Status::Ok();
  }));
  return ids;
}

Status MemoryStore::Remove(int64_t id) {
  return Write([id](MemoryWriter& w) { return w.Remove(id); });
}

Result<Memory> MemoryStore::Get(int64_t id) {
  NAUT_ASSIGN_OR_RETURN(store::Statement * cached,
                        Cached(std::string("SELECT ") + kColumns +
                               " FROM memory_items m WHERE m.id = ? AND m.deleted = 0"));
  StatementLease q(*cached);
  q->Bind(1, id);
  NAUT_ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return NotFound("memory " + std::to_string(id) + " does not exist");
  return ReadRow(*q);
}

Result<std::vector<Memory>> MemoryStore::Recent(Kind kind, const std::string& environment,
                                                size_t n) {
  NAUT_ASSIGN_OR_RETURN(
      auto q, db_->Prepare(std::string("SELECT ") + kColumns +
                           " FROM memory_items m WHERE m.deleted = 0 AND m.kind = ?1 AND "
                           "(?2 = '' OR m.environment = ?2) ORDER BY m.id DESC LIMIT ?3"));
  q.Bind(1, KindName(kind)).Bind(2, environment).Bind(3, static_cast<int64_t>(n));
  std::vector<Memory> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadRow(q));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<std::pair<int64_t, float>>> MemoryStore::VectorCandidates(const Query& q,
                                                                             const Vector& qv,
                                                                             size_t n) {
  if (chroma_) {
    NAUT_ASSIGN_OR_RETURN(auto from_chroma, ChromaCandidates(*chroma_, q, qv, n));
    if (from_chroma) return std::move(*from_chroma);
  }
  std::vector<std::pair<int64_t, float>> out;
  Filter f = MakeFilter(q);
  if (Filtered(q)) {
    // A small filtered set is compared exactly: HNSW would have to walk much of the graph.
    // The rows known in memory bound the count; tags are counted in SQLite only when needed.
    auto matching = static_cast<size_t>(attributes_.Count(q.kind, q.environment));
    if (matching > options_.exact_below && !q.tags.empty()) {
      NAUT_ASSIGN_OR_RETURN(auto c,
                            db_->Prepare("SELECT count(*) FROM memory_items m WHERE 1" + f.sql));
      for (size_t i = 0; i < f.args.size(); ++i) c.Bind(static_cast<int>(i + 1), f.args[i]);
      NAUT_RETURN_IF_ERROR(c.Step());
      matching = static_cast<size_t>(c.ColumnInt(0));
    }
    if (q.tags.empty() && !foreign_writes_ &&
        (matching <= options_.exact_below || index_->ExactIsCheaper(matching))) {
      // Every matching row is known in memory and its vector is in the index. A broad search
      // (hashing vectors) through a filter passing few rows walks most of the graph: comparing
      // just the matching rows costs less.
      for (const auto& h :
           index_->SearchAmong(qv, n, attributes_.Matching(q.kind, q.environment))) {
        out.emplace_back(h.id, h.similarity);
      }
      return out;
    }
    if (matching <= options_.exact_below) {
      NAUT_ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT m.id, m.embedding FROM memory_items m "
                                                 "WHERE 1" +
                                                 f.sql));
      for (size_t i = 0; i < f.args.size(); ++i) s.Bind(static_cast<int>(i + 1), f.args[i]);
      while (true) {
        NAUT_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        Vector v = BlobToVector(s.ColumnBlob(1));
        if (v.size() != qv.size()) continue;
        out.emplace_back(s.ColumnInt(0), Dot(v, qv));
      }
      std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second > b.second; });
      if (out.size() > n) out.resize(n);
      return out;
    }
  }
  // HNSW walks past the rows whose kind or environment is known not to match; SQLite checks
  // each candidate (removed by another process, tags), and only tags make it over-fetch.
  AttributeFilter by_attributes(attributes_, q);
  const IdFilter* filter = (q.kind || !q.environment.empty()) ? &by_attributes : nullptr;
  NAUT_ASSIGN_OR_RETURN(store::Statement * check,
                        Cached("SELECT 1 FROM memory_items m WHERE m.id = ?" + f.sql));
  for (size_t fetch = q.tags.empty() ? n : n * 4;; fetch *= 4) {
    auto hits = index_->Search(qv, fetch, filter);
    out.clear();
    for (const auto& h : hits) {
      NAUT_ASSIGN_OR_RETURN(bool passes, Passes(h.id, q, *check, f.args));
      if (passes) out.emplace_back(h.id, h.similarity);
      if (out.size() >= n) break;
    }
    if (out.size() >= n || hits.size() < fetch) break;
  }
  return out;
}

Result<std::vector<int64_t>> MemoryStore::TextCandidates(const Query& q, size_t n) {
  std::vector<int64_t> out;
  std::string expr = FtsExpression(q.text);
  if (expr.empty()) return out;
  Filter f = MakeFilter(q);
  // FTS5 ranks its matches by BM25 without reading the rows (whose vectors make them large);
  // the best ones are then checked against the filters, in memory where the row is known, then
  // in SQLite. Enough are asked for that the expected share passing the filters fills n.
  size_t limit = n;
  const auto known = static_cast<double>(attributes_.size());
  const auto matching = static_cast<double>(attributes_.Count(q.kind, q.environment));
  if (Filtered(q) && known > 0) {
    const double share = std::max(matching, 1.0) / known;
    limit = static_cast<size_t>(static_cast<double>(n) / share * 1.25) + n;
  }
  NAUT_ASSIGN_OR_RETURN(store::Statement * ranked,
                        Cached("SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? ORDER BY "
                               "bm25(memory_fts) LIMIT ?"));
  NAUT_ASSIGN_OR_RETURN(store::Statement * check,
                        Cached("SELECT 1 FROM memory_items m WHERE m.id = ?" + f.sql));
  while (true) {
    out.clear();
    std::vector<int64_t> best;
    {
      StatementLease s(*ranked);
      s->Bind(1, expr).Bind(2, static_cast<int64_t>(limit));
      while (true) {
        NAUT_ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        best.push_back(s->ColumnInt(0));
      }
    }
    for (int64_t id : best) {
      NAUT_ASSIGN_OR_RETURN(bool passes, Passes(id, q, *check, f.args));
      if (passes) out.push_back(id);
      if (out.size() >= n) break;
    }
    if (out.size() >= n || best.size() < limit) break;
    limit *= 4;
  }
  return out;
}

Result<std::vector<Hit>> MemoryStore::Search(const Query& q) {
  NAUT_RETURN_IF_ERROR(CheckTags(q.tags));
  std::vector<Hit> hits;
  if (q.top_k == 0) return hits;
  const size_t n = std::max<size_t>(q.top_k * 4, 40);
  std::unordered_map<int64_t, Hit> fused;
  Vector qv;
  ReadSnapshot snapshot(*db_);
  NAUT_RETURN_IF_ERROR(NoteForeignWrites());
  if (q.mode != SearchMode::kText) {
    NAUT_RETURN_IF_ERROR(Ready());
    NAUT_ASSIGN_OR_RETURN(qv, embedder_->EmbedOne(q.text));
    NAUT_ASSIGN_OR_RETURN(auto vec, VectorCandidates(q, qv, n));
    for (size_t r = 0; r < vec.size(); ++r) {
      Hit& h = fused[vec[r].first];
      h.vector_rank = static_cast<int>(r + 1);
      h.similarity = vec[r].second;
      h.score += 1.0 / static_cast<double>(options_.rrf_k + r + 1);
    }
  }
  if (q.mode != SearchMode::kVector) {
    NAUT_ASSIGN_OR_RETURN(auto text, TextCandidates(q, n));
    for (size_t r = 0; r < text.size(); ++r) {
      Hit& h = fused[text[r]];
      h.text_rank = static_cast<int>(r + 1);
      h.score += 1.0 / static_cast<double>(options_.rrf_k + r + 1);
    }
  }
  std::vector<std::pair<int64_t, Hit>> ranked(fused.begin(), fused.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    if (a.second.score != b.second.score) return a.second.score > b.second.score;
    return a.first > b.first;  // newer first on ties
  });
  for (auto& [id, h] : ranked) {
    if (hits.size() >= q.top_k) break;
    auto m = Get(id);
    if (!m) continue;  // removed meanwhile
    h.memory = std::move(*m);
    if (h.vector_rank == 0 && !qv.empty()) {
      if (auto v = index_->VectorOf(id); !v.empty()) {
        h.similarity = Dot(v, qv);
      } else {
        NAUT_ASSIGN_OR_RETURN(store::Statement * cached,
                              Cached("SELECT embedding FROM memory_items WHERE id = ?"));
        StatementLease e(*cached);
        e->Bind(1, id);
        NAUT_ASSIGN_OR_RETURN(bool row, e->Step());
        if (row) h.similarity = Dot(BlobToVector(e->ColumnBlob(0)), qv);
      }
    }
    hits.push_back(std::move(h));
  }
  return hits;
}

Status MemoryStore::Reindex(const std::function<void(int64_t, int64_t)>& progress) {
  NAUT_ASSIGN_OR_RETURN(dim_, embedder_->Dimension());
  NAUT_ASSIGN_OR_RETURN(auto c, db_->Prepare("SELECT count(*) FROM memory_items"));
  NAUT_RETURN_IF_ERROR(c.Step());
  const int64_t total = c.ColumnInt(0);
  int64_t done = 0, last = 0;
  constexpr int64_t kBatch = 256;
  while (true) {
    std::vector<int64_t> ids;
    std::vector<std::string> texts;
    {
      NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT id, text FROM memory_items WHERE id > ? "
                                                 "ORDER BY id LIMIT ?"));
      q.Bind(1, last).Bind(2, kBatch);
      while (true) {
        NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        ids.push_back(q.ColumnInt(0));
        texts.push_back(q.ColumnText(1));
      }
    }
    if (ids.empty()) break;
    NAUT_ASSIGN_OR_RETURN(auto vectors, embedder_->Embed(texts));
    NAUT_ASSIGN_OR_RETURN(auto tx, db_->Begin());
    NAUT_ASSIGN_OR_RETURN(auto up, db_->Prepare("UPDATE memory_items SET embedder = ?, dim = ?, "
                                                "embedding = ? WHERE id = ?"));
    for (size_t i = 0; i < ids.size(); ++i) {
      up.Reset();
      up.Bind(1, embedder_->id()).Bind(2, dim_);
      up.BindBlob(3, vectors[i].data(), vectors[i].size() * sizeof(float)).Bind(4, ids[i]);
      NAUT_RETURN_IF_ERROR(up.Run());
    }
    NAUT_RETURN_IF_ERROR(tx.Commit());
    done += static_cast<int64_t>(ids.size());
    last = ids.back();
    if (progress) progress(done, total);
  }
  index_.reset();
  NAUT_RETURN_IF_ERROR(Rebuild("reindex with " + embedder_key()));
  // The vectors changed under the same ids: Chroma's collection is refilled from scratch.
  if (!options_.chroma.url.empty()) {
    chroma_.reset();
    chroma_refill_ = true;
    chroma_retry_at_ = 0;
    ChromaReady();
  }
  return Status::Ok();
}

Status MemoryStore::Flush() {
  if (!index_) return Status::Ok();
  NAUT_RETURN_IF_ERROR(index_->Save(index_path(), embedder_->id()));
  unsaved_ = 0;
  return Status::Ok();
}

Result<VectorIndex*> MemoryStore::Index() {
  NAUT_RETURN_IF_ERROR(Ready());
  return index_.get();
}

Result<Stats> MemoryStore::GetStats() {
  Stats st;
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT kind, count(*) FROM memory_items WHERE "
                                             "deleted = 0 GROUP BY kind ORDER BY kind"));
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    st.by_kind.emplace_back(q.ColumnText(0), q.ColumnInt(1));
    st.items += q.ColumnInt(1);
  }
  NAUT_ASSIGN_OR_RETURN(auto e, db_->Prepare("SELECT embedder, dim, count(*) FROM memory_items "
                                             "WHERE deleted = 0 GROUP BY embedder, dim"));
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, e.Step());
    if (!row) break;
    if (!st.stored_embedders.empty()) st.stored_embedders += ", ";
    st.stored_embedders += e.ColumnText(0) + " (dim " + std::to_string(e.ColumnInt(1)) +
                           "): " + std::to_string(e.ColumnInt(2));
  }
  auto dim = embedder_->Dimension();
  st.embedder = embedder_->id() + (dim ? " (dim " + std::to_string(*dim) + ")" : " (unreachable)");
  if (index_) st.indexed = index_->size();
  st.index_rebuilt = rebuilt_;
  st.index_note = rebuild_reason_;
  if (options_.chroma.url.empty()) {
    st.vector_store = "embedded";
  } else if (chroma_) {
    auto count = chroma_->Count();
    if (count) {
      st.chroma_up = true;
      st.vector_store = "chroma at " + chroma_->url() + ", collection " + chroma_->collection() +
                        ": " + std::to_string(*count) + " vectors";
    } else {
      ChromaFailed(count.error());
    }
  }
  if (!options_.chroma.url.empty() && !st.chroma_up) {
    st.vector_store =
        "embedded, because chroma at " + options_.chroma.url +
        (chroma_problem_.empty() ? " is not contacted yet" : " failed: " + chroma_problem_);
  }
  return st;
}

Result<std::unique_ptr<MemoryStore>> OpenMemoryStore(const Config& config, StoreOptions options) {
  NAUT_ASSIGN_OR_RETURN(DataHome home, OpenDataHome(config.home));
  NAUT_ASSIGN_OR_RETURN(auto embedder, MakeEmbedder(config));
  if (options.index_dir.empty()) options.index_dir = home.root / "index";
  if (config.memory.vector_store == "chroma" && options.chroma.url.empty()) {
    options.chroma.url = config.memory.chroma_url;
  }
  return MemoryStore::Open(home.database(), std::move(embedder), std::move(options));
}

}  // namespace naut::memory
