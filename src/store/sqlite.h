// SQLite connection layer: the embedded default store.
//
// Every database is opened in WAL mode with synchronous=FULL (checked by
// reading the pragmas back: a commit that returns is on disk), a busy
// timeout, and foreign keys on. A SqliteDb is one connection: use it from one
// thread at a time. Errors carry stable codes so callers can tell a full disk
// (store_full) or an I/O error (store_io) from contention (store_busy).
#ifndef TETHER_STORE_SQLITE_H_
#define TETHER_STORE_SQLITE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tether::store {

struct SqliteOptions {
  std::string vfs;             // empty: SQLite's default VFS
  int busy_timeout_ms = 5000;  // how long to wait for another writer
  // PRAGMA locking_mode=EXCLUSIVE: one process owns the file. Needed by VFSes
  // without shared memory (WAL then keeps its index in heap memory).
  bool exclusive = false;
  bool read_only = false;
};

// An error from SQLite with a stable code: store_full (disk full),
// store_io (I/O error), store_busy (locked beyond the timeout),
// store_corrupt, store_readonly or store_error.
Error SqliteError(sqlite3* db, int rc, std::string_view what);

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  ~Statement();

  // Parameters are 1-based. Text and blobs are copied by SQLite.
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // True while a row is available; false when done.
  [[nodiscard]] Result<bool> Step();
  // Steps to completion (for statements without rows).
  [[nodiscard]] Status Run();
  void Reset();
  bool valid() const { return stmt_ != nullptr; }

  std::int64_t ColumnInt(int index) const;
  // Views valid until the next Step/Reset.
  std::string_view ColumnText(int index) const;
  std::string_view ColumnBlob(int index) const;
  bool ColumnIsNull(int index) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  // Opens (creating if needed, unless read-only) the database at `path`.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path,
                                                const SqliteOptions& options);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  [[nodiscard]] Status Exec(std::string_view sql);
  [[nodiscard]] Result<Statement> Prepare(std::string_view sql);
  // The single integer a query returns (e.g. a pragma).
  [[nodiscard]] Result<std::int64_t> QueryInt(std::string_view sql);

  // Rows changed by the last statement, and the last inserted rowid.
  std::int64_t Changes();
  std::int64_t LastInsertRowId();

  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }
  const SqliteOptions& options() const { return options_; }

 private:
  SqliteDb(sqlite3* db, std::string path, SqliteOptions options)
      : db_(db), path_(std::move(path)), options_(std::move(options)) {}
  sqlite3* db_;
  std::string path_;
  SqliteOptions options_;
};

// A schema change; `version` counts up from 1 without gaps.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Applies the migrations newer than the database's PRAGMA user_version, each
// in its own transaction. Refuses a database whose version is newer than the
// last migration known (it was written by a newer tether).
[[nodiscard]] Status Migrate(SqliteDb& db,
                             std::span<const Migration> migrations,
                             std::string_view schema);

}  // namespace tether::store

#endif  // TETHER_STORE_SQLITE_H_
