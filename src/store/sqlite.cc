#include "store/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace tether::store {

Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  int primary = rc & 0xFF;
  const char* code = "store_error";
  switch (primary) {
    case SQLITE_FULL:
      code = "store_full";
      break;
    case SQLITE_IOERR:
      code = "store_io";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = "store_busy";
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = "store_corrupt";
      break;
    case SQLITE_READONLY:
      code = "store_readonly";
      break;
    default:
      break;
  }
  std::string message(what);
  message += ": ";
  message +=
      db && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return MakeError(code, message);
}

Statement::Statement(Statement&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)),
      stmt_(std::exchange(o.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(o.db_, nullptr);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(),
                      SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "sqlite step failed");
}

Status Statement::Run() {
  while (true) {
    auto more = Step();
    if (!more) return more.error();
    if (!*more) return {};
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::ColumnInt(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string_view Statement::ColumnText(int index) const {
  const auto* p = sqlite3_column_text(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  return p ? std::string_view(reinterpret_cast<const char*>(p),
                              static_cast<std::size_t>(n))
           : std::string_view();
}

std::string_view Statement::ColumnBlob(int index) const {
  const void* p = sqlite3_column_blob(stmt_, index);
  int n = sqlite3_column_bytes(stmt_, index);
  return p ? std::string_view(static_cast<const char*>(p),
                              static_cast<std::size_t>(n))
           : std::string_view();
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path,
                                                 const SqliteOptions& options) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= options.read_only ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags,
                           options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    Error e = SqliteError(raw, rc, "cannot open `" + path + "`");
    sqlite3_close_v2(raw);
    return e;
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, path, options));
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  sqlite3_extended_result_codes(raw, 1);
  if (options.exclusive) {
    if (Status s = db->Exec("PRAGMA locking_mode=EXCLUSIVE"); !s) {
      return s.error();
    }
  }
  if (!options.read_only) {
    auto mode = db->Prepare("PRAGMA journal_mode=WAL");
    if (!mode) return mode.error();
    auto row = mode->Step();
    if (!row) return row.error();
    if (!*row || mode->ColumnText(0) != "wal") {
      return MakeError("store_error",
                       "`" + path + "` cannot use write-ahead logging");
    }
  }
  if (Status s = db->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
      !s) {
    return s.error();
  }
  // A commit must be durable when it returns: check what SQLite applied.
  auto sync = db->QueryInt("PRAGMA synchronous");
  if (!sync) return sync.error();
  if (*sync != 2) {
    return MakeError("store_error",
                     "`" + path + "` did not accept synchronous=FULL");
  }
  return db;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Error e = SqliteError(db_, rc, "sqlite exec failed");
    sqlite3_free(err);
    return e;
  }
  return {};
}

Result<Statement> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "sqlite prepare failed");
  return Statement(db_, stmt);
}

Result<std::int64_t> SqliteDb::QueryInt(std::string_view sql) {
  auto stmt = Prepare(sql);
  if (!stmt) return stmt.error();
  auto row = stmt->Step();
  if (!row) return row.error();
  if (!*row) return MakeError("store_error", "query returned no row");
  return stmt->ColumnInt(0);
}

Status Migrate(SqliteDb& db, std::span<const Migration> migrations,
               std::string_view schema) {
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version) return version.error();
  int latest = migrations.empty() ? 0 : migrations.back().version;
  if (*version > latest) {
    return MakeError("store_error", std::string(schema) + " database `" +
                                        db.path() + "` has schema version " +
                                        std::to_string(*version) +
                                        ", newer than this tether knows (" +
                                        std::to_string(latest) + ")");
  }
  for (const Migration& m : migrations) {
    if (m.version <= *version) continue;
    if (Status s = db.Exec("BEGIN IMMEDIATE"); !s) return s.error();
    Status s = db.Exec(m.sql);
    if (s) {
      s = db.Exec("PRAGMA user_version=" + std::to_string(m.version));
    }
    if (s) s = db.Exec("COMMIT");
    if (!s) {
      (void)db.Exec("ROLLBACK");
      return MakeError(s.error().code, std::string(schema) + " migration " +
                                           std::to_string(m.version) + " (" +
                                           m.description +
                                           ") failed: " + s.error().message);
    }
  }
  return {};
}

std::int64_t SqliteDb::Changes() { return sqlite3_changes64(db_); }

std::int64_t SqliteDb::LastInsertRowId() {
  return sqlite3_last_insert_rowid(db_);
}

}  // namespace tether::store
