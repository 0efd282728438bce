#include "store/db.h"

#include <sqlite3.h>

#include <algorithm>

#include "core/ids.h"

namespace naut::store {

namespace {

bool IsCorruption(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

}  // namespace

Status Db::Error(int rc, std::string_view what) const {
  std::string msg = "database " + path_.string() + ": " + std::string(what) + ": " +
                    (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  if (IsCorruption(rc)) {
    return DataLoss(msg +
                    " (the file is corrupt or not a NeuroNaut database; move it aside to "
                    "start a new one, or restore a backup)");
  }
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Unavailable(msg);
  if (primary == SQLITE_PERM || primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN ||
      primary == SQLITE_AUTH) {
    return PermissionDenied(msg);
  }
  if (primary == SQLITE_CONSTRAINT) return AlreadyExists(msg);
  if (primary == SQLITE_FULL) return ResourceExhausted(msg);
  return Internal(msg);
}

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

#define NAUT_BIND(call)                                                            \
  do {                                                                             \
    int rc_ = (call);                                                              \
    if (rc_ != SQLITE_OK && bind_error_.ok()) {                                    \
      bind_error_ = db_->Error(rc_, "binding parameter " + std::to_string(index)); \
    }                                                                              \
  } while (0)

Statement& Statement::Bind(int index, int64_t value) {
  NAUT_BIND(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}
Statement& Statement::Bind(int index, double value) {
  NAUT_BIND(sqlite3_bind_double(stmt_, index, value));
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  NAUT_BIND(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}
Statement& Statement::BindBlob(int index, const void* data, size_t size) {
  NAUT_BIND(sqlite3_bind_blob64(stmt_, index, size ? data : "", size, SQLITE_TRANSIENT));
  return *this;
}
Statement& Statement::BindNull(int index) {
  NAUT_BIND(sqlite3_bind_null(stmt_, index));
  return *this;
}
#undef NAUT_BIND

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = db_->Error(rc, std::string("running '") + sqlite3_sql(stmt_) + "'");
  sqlite3_reset(stmt_);
  return s;
}

Status Statement::Run() {
  while (true) {
    auto r = Step();
    if (!r) return r.error();
    if (!*r) return Status::Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = Status::Ok();
}

int64_t Statement::ColumnInt(int c) const { return sqlite3_column_int64(stmt_, c); }
double Statement::ColumnDouble(int c) const { return sqlite3_column_double(stmt_, c); }
std::string Statement::ColumnText(int c) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, c))) : std::string();
}
std::string Statement::ColumnBlob(int c) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, c));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, c))) : std::string();
}
bool Statement::ColumnIsNull(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }

// ---- Transaction ----

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  if (db_) (void)Rollback();
}

Status Transaction::Commit() {
  if (!db_) return FailedPrecondition("transaction already finished");
  Status s = db_->Exec("COMMIT");
  if (s.ok()) db_ = nullptr;
  return s;
}

Status Transaction::Rollback() {
  if (!db_) return Status::Ok();
  Db* db = std::exchange(db_, nullptr);
  return db->Exec("ROLLBACK");
}

// ---- Db ----

Result<std::unique_ptr<Db>> Db::Open(const std::filesystem::path& path, OpenOptions options) {
  sqlite3* raw = nullptr;
  int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  std::unique_ptr<Db> db(new Db(raw, path));
  if (rc != SQLITE_OK) return db->Error(rc, "cannot open");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // The first read of the header tells a foreign or truncated file apart early.
  if (!options.read_only) {
    NAUT_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
    NAUT_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  }
  NAUT_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  if (options.check_integrity) {
    NAUT_ASSIGN_OR_RETURN(Statement check, db->Prepare("PRAGMA quick_check"));
    NAUT_ASSIGN_OR_RETURN(bool row, check.Step());
    std::string verdict = row ? check.ColumnText(0) : "no answer";
    if (verdict != "ok") {
      return DataLoss("database " + path.string() + " failed its integrity check (" + verdict +
                      "); move it aside to start a new one, or restore a backup");
    }
  }
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) {
    std::string shown = text.size() > 80 ? text.substr(0, 77) + "..." : text;
    return Error(rc, "running '" + shown + "'");
  }
  return Status::Ok();
}

Result<Statement> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "preparing '" + std::string(sql) + "'");
  return Statement(this, stmt);
}

Result<Transaction> Db::Begin() {
  NAUT_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  return Transaction(this);
}

Result<int> Db::SchemaVersion(std::string_view component) {
  NAUT_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
           " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
           " applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"));
  NAUT_ASSIGN_OR_RETURN(
      Statement q,
      Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?"));
  q.Bind(1, component);
  NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? static_cast<int>(q.ColumnInt(0)) : 0;
}

Status Db::Migrate(std::string_view component, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Internal("migrations of '" + std::string(component) +
                      "' must be numbered 1, 2, 3, ...");
    }
  }
  const int known = static_cast<int>(migrations.size());
  NAUT_ASSIGN_OR_RETURN(int current, SchemaVersion(component));
  if (current > known) {
    return FailedPrecondition("database " + path_.string() + ": '" + std::string(component) +
                              "' is at schema version " + std::to_string(current) +
                              ", but this neuronaut knows versions up to " + std::to_string(known) +
                              "; the database was written by a newer NeuroNaut — upgrade neuronaut "
                              "or use another data home");
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    NAUT_ASSIGN_OR_RETURN(Transaction tx, Begin());
    // Another process may have applied it while we waited for the write lock.
    NAUT_ASSIGN_OR_RETURN(int now, SchemaVersion(component));
    if (now >= m.version) continue;
    Status s = Exec(m.sql);
    if (!s.ok()) {
      return s.WithContext("migration " + std::string(component) + " #" +
                           std::to_string(m.version) + " (" + std::string(m.description) + ")");
    }
    NAUT_ASSIGN_OR_RETURN(Statement ins,
                          Prepare("INSERT INTO schema_migrations VALUES (?, ?, ?, ?)"));
    ins.Bind(1, component).Bind(2, m.version).Bind(3, m.description).Bind(4, NowIso8601());
    NAUT_RETURN_IF_ERROR(ins.Run());
    NAUT_RETURN_IF_ERROR(tx.Commit());
  }
  return Status::Ok();
}

Status Db::Backup(const std::filesystem::path& dest) {
  sqlite3* out = nullptr;
  int rc = sqlite3_open_v2(dest.c_str(), &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(out);
    return PermissionDenied("backup to " + dest.string() + ": " + sqlite3_errstr(rc));
  }
  sqlite3_backup* b = sqlite3_backup_init(out, "main", db_, "main");
  if (b == nullptr) {
    Status s = Unavailable("backup to " + dest.string() + ": " + sqlite3_errmsg(out));
    sqlite3_close_v2(out);
    return s;
  }
  rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  sqlite3_close_v2(out);
  if (rc != SQLITE_DONE)
    return Unavailable("backup to " + dest.string() + ": " + sqlite3_errstr(rc));
  return Status::Ok();
}

int64_t Db::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }

}  // namespace naut::store
