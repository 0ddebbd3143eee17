// The durable, tamper-evident audit log.
//
// Append() returns only once the event is committed to SQLite (WAL,
// synchronous=FULL), chained to its predecessor and, every N events or T
// seconds, covered by a signed checkpoint. Concurrent appenders are batched
// into one transaction (group commit: the appender at the head of the queue
// writes for everyone queued behind it), so a commit and its fsync are
// shared by everyone waiting.
//
// Failure is sticky: once a batch cannot be committed (disk full, I/O error,
// locked beyond the busy timeout) every later Append fails with code
// "audit_unavailable" — callers must deny what they were about to allow —
// until Resume() (the `tether audit resume` command) succeeds. The failure is
// also recorded in a marker file so it survives restarts.
//
// Several processes may append to the same database (the server and the CLI):
// each batch reads the chain head inside its write transaction.
#ifndef TETHER_AUDIT_LOG_H_
#define TETHER_AUDIT_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/event.h"
#include "audit/redactor.h"
#include "core/crypto.h"
#include "core/result.h"
#include "store/sqlite.h"

namespace tether::audit {

struct AuditKeys {
  Ed25519Key checkpoint;  // signs checkpoints
  std::string hmac;       // 32 bytes: keyed hashes of sensitive identifiers
};

// Reads <keys_dir>/audit-checkpoint.pem and <keys_dir>/audit-hmac.key,
// creating them (mode 0600) if absent and `create` is set. Distinct from the
// token signing key.
Result<AuditKeys> LoadOrCreateAuditKeys(const std::string& keys_dir,
                                        bool create = true);

struct AuditOptions {
  std::string db_path;         // e.g. tether-data/audit.db
  std::string failure_marker;  // e.g. tether-data/audit.failed; empty: none
  store::SqliteOptions sqlite;
  std::uint64_t checkpoint_every = 1000;  // events
  std::int64_t checkpoint_seconds = 60;   // when events arrived since
  std::size_t max_batch = 4096;
  // Top-level fields stored as "hmac-sha256:<hex>" instead of plain text.
  std::vector<std::string> hmac_fields;
  // Each checkpoint is also appended here as a JSON line (for a witness).
  std::string checkpoint_file;
};

// The audit database's schema, for the migration runner and readers.
Status MigrateAuditSchema(store::SqliteDb& db);

class AuditLog {
 public:
  // `redactor` may be null (no secrets, no patterns).
  static Result<std::unique_ptr<AuditLog>> Open(
      AuditOptions options, AuditKeys keys,
      std::shared_ptr<const Redactor> redactor);
  // Writes a final checkpoint. No Append may be running or start.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Durably appends `event`; returns its sequence number. Thread-safe. Errors:
  // "invalid_event" (unknown type), "audit_unavailable" (sticky failure).
  Result<std::uint64_t> Append(Event event);

  using AppendCallback = std::function<void(Result<std::uint64_t>)>;
  // Append without waiting: the event joins the same group commit, and
  // `done` runs exactly once when it is durable (or has failed) — on the
  // calling thread if it is refused at once, otherwise on whichever thread
  // committed it (the log's writer thread or a synchronous appender). `done`
  // must be quick and must not call back into the log. Thread-safe.
  void AppendAsync(Event event, AppendCallback done);

  // Swaps in a new redactor (e.g. after a secret was registered).
  void SetRedactor(std::shared_ptr<const Redactor> redactor);
  // The redactor in force (may be null), for other records that must not
  // keep what the audit log would not.
  std::shared_ptr<const Redactor> redactor() const { return redactor_.load(); }

  // "hmac-sha256:<hex>" of `value` under the audit HMAC key: what a field in
  // hmac_fields holds, so an operator can search for a known value.
  std::string Hash(std::string_view value) const;

  // The sticky failure, if any.
  std::optional<Error> failure() const;

  // Clears a sticky failure: writes an `audit.resume` event (with `reason`)
  // as the proof that writing works again, then removes the marker.
  Result<std::uint64_t> Resume(std::string_view reason);

  // Writes a checkpoint now if events arrived since the last one.
  Status Checkpoint();

  const std::string& public_key() const { return public_key_; }
  // The sequence number of the last event this log committed (0 before the
  // first): lets a reader poll cheaply for new events.
  std::uint64_t last_seq() const {
    return last_seq_.load(std::memory_order_acquire);
  }

 private:
  struct Pending {
    std::string type, task_id, body;
    std::int64_t time_ms = 0;
    bool resume = false;  // an audit.resume record, allowed while failed
    std::uint64_t seq = 0;
    bool done = false;
    std::optional<Error> error;
    std::condition_variable done_cv;  // wakes exactly this appender
    AppendCallback callback;          // set: an AppendAsync, owned by the queue
  };

  AuditLog(AuditOptions options, AuditKeys keys);
  Result<std::string> Prepare(Event& event) const;
  Result<std::uint64_t> Submit(Pending& p);
  // Why `p` cannot be queued now, if it cannot. Called with mu_ held.
  std::optional<Error> Refuse(const Pending& p);
  // Writes the batch at the front of the queue; the caller leads (mu_ held
  // through `lock`). Returns the asynchronous appends it completed, whose
  // callbacks Complete() runs once mu_ is released.
  std::vector<Pending*> Lead(std::unique_lock<std::mutex>& lock);
  static void Complete(std::vector<Pending*>& async);
  // Hands leadership to the new front of the queue. Called with mu_ held.
  void WakeFront();
  bool FrontIsAsync() const {
    return !queue_.empty() && queue_.front()->callback != nullptr;
  }
  void WriterLoop();
  void TimerLoop();
  Status WriteBatch(std::vector<Pending*>& batch, bool force_checkpoint);
  Status WriteCheckpoint(std::uint64_t seq, const std::string& head);
  void Fail(const Error& e);

  AuditOptions options_;
  AuditKeys keys_;
  std::string public_key_;
  // The connection and its prepared statements, used by one leader at a
  // time (see Submit).
  std::unique_ptr<store::SqliteDb> db_;
  store::Statement begin_, commit_, last_record_, insert_record_,
      last_checkpoint_, insert_checkpoint_;

  mutable std::mutex mu_;
  std::condition_variable timer_cv_;
  std::condition_variable writer_cv_;  // an async append leads the queue
  std::deque<Pending*> queue_;         // guarded by mu_
  std::optional<Error> failure_;       // guarded by mu_
  bool marker_written_ = false;        // guarded by mu_
  bool stop_timer_ = false;            // guarded by mu_
  bool stop_writer_ = false;           // guarded by mu_
  bool closed_ = false;                // guarded by mu_
  // Read on every append without mu_.
  std::atomic<std::shared_ptr<const Redactor>> redactor_;
  std::atomic<std::uint64_t> last_seq_{0};
  std::thread timer_;   // time-based checkpoints
  std::thread writer_;  // leads group commits for asynchronous appends
};

}  // namespace tether::audit

#endif  // TETHER_AUDIT_LOG_H_
