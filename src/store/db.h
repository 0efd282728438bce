#pragma once
// SQLite behind RAII: a Db owns one connection, a Statement one prepared statement, a
// Transaction rolls back unless committed. Databases open in WAL mode with a busy timeout,
// are checked for corruption on open, and carry numbered schema migrations per component.
//
// Threads: a Db and its Statements are used by one thread at a time. Several Db objects
// (in several threads or processes) may open the same file; WAL lets readers run beside
// one writer, and writers wait up to the busy timeout for each other.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace naut::store {

class Db;

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Parameters are 1-based, as in SQLite. Bound text and blobs are copied.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& BindBlob(int index, const void* data, size_t size);
  Statement& BindNull(int index);

  // Advances; true when a row is available, false when done.
  Result<bool> Step();
  // Steps until done (for statements that return no rows).
  Status Run();
  // Clears the result so the statement can run again with new bindings.
  void Reset();

  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Db;
  Statement(Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Db* db_;
  sqlite3_stmt* stmt_;
  Status bind_error_;
};

class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();  // rolls back if neither committed nor rolled back
  Status Commit();
  Status Rollback();

 private:
  friend class Db;
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

// One numbered schema step. Versions of a component start at 1 and have no gaps.
struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

struct OpenOptions {
  bool read_only = false;
  bool check_integrity = true;  // PRAGMA quick_check on open
  int busy_timeout_ms = 10000;
};

class Db {
 public:
  // Opens (creating when missing and not read-only) the database at `path`. Errors:
  // kDataLoss for a corrupt or foreign file, kPermissionDenied / kUnavailable otherwise.
  static Result<std::unique_ptr<Db>> Open(const std::filesystem::path& path,
                                          OpenOptions options = {});
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  // BEGIN IMMEDIATE: takes the write lock now, so the transaction cannot fail later for it.
  Result<Transaction> Begin();

  // Applies the migrations of `component` that the database lacks, each in its own
  // transaction, in order. A database that already holds a version of `component` newer
  // than the newest in `migrations` is refused (kFailedPrecondition): it was written by a
  // newer NeuroNaut.
  Status Migrate(std::string_view component, std::span<const Migration> migrations);
  // The highest applied version of `component`, 0 when none.
  Result<int> SchemaVersion(std::string_view component);

  // Copies the whole database to `dest` (online backup).
  Status Backup(const std::filesystem::path& dest);

  int64_t LastInsertRowId() const;
  int Changes() const;
  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() { return db_; }

  // The last SQLite error as a Status naming the database file and `what` was being done.
  Status Error(int rc, std::string_view what) const;

 private:
  Db(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::filesystem::path path_;
};

}  // namespace naut::store
