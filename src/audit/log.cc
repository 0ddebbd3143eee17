#include "audit/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "audit/chain.h"
#include "core/canonical_json.h"
#include "core/key_file.h"

namespace tether::audit {
namespace {

namespace json = boost::json;

const store::Migration kMigrations[] = {
    {1, "events, checkpoints and sink cursors", R"sql(
      CREATE TABLE events (
        seq     INTEGER PRIMARY KEY,  -- 1, 2, 3, ... without gaps
        time_ms INTEGER NOT NULL,
        type    TEXT NOT NULL,
        task_id TEXT,                 -- as stored (HMAC'd if configured);
                                      -- not indexed: a random-order index
                                      -- would halve durable append rate
        body    TEXT NOT NULL,        -- canonical JSON (RFC 8785), no seq
        hash    BLOB NOT NULL         -- chain hash (audit/chain.h)
      );
      CREATE INDEX events_by_type ON events(type, seq);
      CREATE INDEX events_by_time ON events(time_ms);
      CREATE TABLE checkpoints (
        seq       INTEGER PRIMARY KEY,  -- the last record covered
        head      BLOB NOT NULL,        -- its chain hash
        time_ms   INTEGER NOT NULL,
        key_id    TEXT NOT NULL,
        signature BLOB NOT NULL
      );
      CREATE TABLE sink_cursors (
        name TEXT PRIMARY KEY,
        seq  INTEGER NOT NULL           -- the last record delivered
      );
    )sql"},
};

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes `text` to `path` durably (best effort: the caller decides what a
// failure means).
bool WriteFileSynced(const std::string& path, const std::string& text,
                     bool append) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Status MigrateAuditSchema(store::SqliteDb& db) {
  return store::Migrate(db, kMigrations, "audit");
}

Result<AuditKeys> LoadOrCreateAuditKeys(const std::string& keys_dir,
                                        bool create) {
  auto load = [&](const std::string& path,
                  const std::function<std::string()>& make) {
    return create ? LoadOrCreateKeyFile(path, make) : ReadKeyFile(path);
  };
  auto pem = load(keys_dir + "/audit-checkpoint.pem",
                  [] { return Ed25519Key::Generate()->PrivatePem(); });
  if (!pem) return pem.error();
  auto key = Ed25519Key::FromPrivatePem(*pem);
  if (!key) return key.error();
  auto hmac_hex = load(keys_dir + "/audit-hmac.key",
                       [] { return HexEncode(RandomBytes(32)) + "\n"; });
  if (!hmac_hex) return hmac_hex.error();
  std::string hex = *hmac_hex;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) {
    hex.pop_back();
  }
  auto hmac = HexDecode(hex);
  if (!hmac || hmac->size() < 32) {
    return MakeError("invalid_key", "`" + keys_dir +
                                        "/audit-hmac.key` must hold 32 or "
                                        "more bytes in hex");
  }
  return AuditKeys{std::move(*key), std::move(*hmac)};
}

AuditLog::AuditLog(AuditOptions options, AuditKeys keys)
    : options_(std::move(options)), keys_(std::move(keys)) {
  public_key_ = keys_.checkpoint.PublicKey();
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(
    AuditOptions options, AuditKeys keys,
    std::shared_ptr<const Redactor> redactor) {
  std::unique_ptr<AuditLog> log(
      new AuditLog(std::move(options), std::move(keys)));
  auto db = store::SqliteDb::Open(log->options_.db_path, log->options_.sqlite);
  if (!db) return db.error();
  log->db_ = std::move(*db);
  if (Status s = MigrateAuditSchema(*log->db_); !s) return s.error();
  {
    auto last = log->db_->Prepare("SELECT COALESCE(MAX(seq), 0) FROM events");
    if (!last) return last.error();
    auto row = last->Step();
    if (!row) return row.error();
    if (*row)
      log->last_seq_.store(static_cast<std::uint64_t>(last->ColumnInt(0)));
  }
  log->redactor_.store(std::move(redactor));
  const std::string& marker = log->options_.failure_marker;
  if (!marker.empty() && std::filesystem::exists(marker)) {
    std::string why = "a previous write failure was not resolved";
    if (FILE* f = std::fopen(marker.c_str(), "r")) {
      char buf[512];
      std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      if (n > 0) why = std::string(buf, n);
      while (!why.empty() && why.back() == '\n') why.pop_back();
    }
    log->failure_ = MakeError("audit_unavailable", why);
    log->marker_written_ = true;
  }
  log->timer_ = std::thread([l = log.get()] { l->TimerLoop(); });
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  return log;
}

AuditLog::~AuditLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_timer_ = true;
  }
  timer_cv_.notify_one();
  if (timer_.joinable()) timer_.join();
  // A clean shutdown leaves every record under a checkpoint (queued behind
  // any asynchronous appends, which the writer still commits). Appenders
  // still running when the log is destroyed are a caller error.
  (void)Checkpoint();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    stop_writer_ = true;
  }
  writer_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  // Statements before the connection.
  begin_ = {};
  commit_ = {};
  last_record_ = {};
  insert_record_ = {};
  last_checkpoint_ = {};
  insert_checkpoint_ = {};
}

void AuditLog::SetRedactor(std::shared_ptr<const Redactor> redactor) {
  redactor_.store(std::move(redactor));
}

std::string AuditLog::Hash(std::string_view value) const {
  return "hmac-sha256:" + HexEncode(HmacSha256(keys_.hmac, value));
}

std::optional<Error> AuditLog::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

Result<std::string> AuditLog::Prepare(Event& event) const {
  if (!IsKnownEventType(event.type)) {
    return MakeError("invalid_event",
                     "unknown audit event type `" + event.type + "`");
  }
  if (event.time_ms == 0) event.time_ms = NowMs();
  std::shared_ptr<const Redactor> redactor = redactor_.load();
  // The canonical JSON (RFC 8785) of EventToJson(event), HMAC'd and
  // redacted, written directly: the members in sorted order, empty fields
  // omitted. (A test checks it equals the generic path.)
  std::string out;
  out.reserve(512);
  out += '{';
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) out += ',';
    first = false;
    AppendCanonicalString(out, k);
    out += ':';
  };
  auto text = [&](std::string_view k, const std::string& value) {
    if (value.empty()) return;
    key(k);
    std::string v = value;
    for (const std::string& f : options_.hmac_fields) {
      if (f == k) {
        v = Hash(value);
        break;
      }
    }
    if (redactor) v = redactor->Redact(v);
    AppendCanonicalString(out, v);
    if (k == "task_id") event.task_id = std::move(v);
  };
  auto list = [&](std::string_view k, const std::vector<std::string>& values) {
    if (values.empty()) return;
    key(k);
    out += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      AppendCanonicalString(out,
                            redactor ? redactor->Redact(values[i]) : values[i]);
    }
    out += ']';
  };
  text("action", event.action);
  text("approval_id", event.approval_id);
  text("decision", event.decision);
  text("decision_id", event.decision_id);
  if (!event.detail.empty()) {
    key("detail");
    json::value detail = event.detail;
    if (redactor) redactor->RedactJson(detail);
    if (!AppendCanonicalJson(out, detail)) {
      return MakeError("invalid_event",
                       "event detail holds a number with no JSON form");
    }
  }
  list("determining_policies", event.determining_policies);
  text("edge", event.edge);
  text("grant_id", event.grant_id);
  if (event.latency_us) {
    key("latency_us");
    out += std::to_string(*event.latency_us);
  }
  text("policy_set_sha256", event.policy_set_sha256);
  text("principal", event.principal);
  list("reasons", event.reasons);
  text("request_digest", event.request_digest);
  text("resource", event.resource);
  text("task_id", event.task_id);
  key("time_ms");
  out += std::to_string(event.time_ms);
  text("type", event.type);
  out += '}';
  return out;
}

Result<std::uint64_t> AuditLog::Append(Event event) {
  auto body = Prepare(event);
  if (!body) return body.error();
  Pending p;
  p.type = event.type;
  p.task_id = event.task_id;
  p.time_ms = event.time_ms;
  p.body = std::move(*body);
  return Submit(p);
}

Result<std::uint64_t> AuditLog::Resume(std::string_view reason) {
  Event e;
  e.type = "audit.resume";
  e.detail["reason"] = reason;
  if (auto f = failure()) e.detail["failure"] = f->message;
  auto body = Prepare(e);
  if (!body) return body.error();
  Pending p;
  p.type = e.type;
  p.time_ms = e.time_ms;
  p.body = std::move(*body);
  p.resume = true;
  return Submit(p);
}

void AuditLog::AppendAsync(Event event, AppendCallback done) {
  auto body = Prepare(event);
  if (!body) {
    done(body.error());
    return;
  }
  auto p = std::make_unique<Pending>();
  p->type = event.type;
  p->task_id = event.task_id;
  p->time_ms = event.time_ms;
  p->body = std::move(*body);
  p->callback = std::move(done);
  std::unique_lock<std::mutex> lock(mu_);
  if (std::optional<Error> e = Refuse(*p)) {
    lock.unlock();
    p->callback(*e);
    return;
  }
  queue_.push_back(p.release());
  if (queue_.size() == 1) writer_cv_.notify_one();
}

void AuditLog::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    writer_cv_.wait(lock, [&] { return stop_writer_ || FrontIsAsync(); });
    if (FrontIsAsync()) {
      std::vector<Pending*> finished = Lead(lock);
      lock.unlock();
      Complete(finished);
      lock.lock();
      continue;
    }
    if (stop_writer_) return;
  }
}

Status AuditLog::Checkpoint() {
  Pending p;  // no body: a request for a checkpoint
  auto r = Submit(p);
  if (!r) return r.error();
  return {};
}

std::optional<Error> AuditLog::Refuse(const Pending& p) {
  if (failure_ && !p.resume) {
    // A marker removed by `tether audit resume` (another process) lifts the
    // failure here too; one that could not be written keeps it.
    if (marker_written_ && !options_.failure_marker.empty() &&
        !std::filesystem::exists(options_.failure_marker)) {
      failure_.reset();
      marker_written_ = false;
    } else {
      return MakeError("audit_unavailable",
                       "the audit log is unavailable after a write failure (" +
                           failure_->message +
                           "); fix the cause, then run `tether audit resume`");
    }
  }
  if (closed_) return MakeError("audit_unavailable", "the audit log is closed");
  return std::nullopt;
}

Result<std::uint64_t> AuditLog::Submit(Pending& p) {
  std::unique_lock<std::mutex> lock(mu_);
  if (std::optional<Error> e = Refuse(p)) return *e;
  // Group commit, as LevelDB does it: the appender at the front of the queue
  // writes everything queued in one transaction while the others wait; when
  // it is done, the next in line leads (the writer thread, for an
  // asynchronous append). Records that queue up during a commit share the
  // next one.
  queue_.push_back(&p);
  p.done_cv.wait(lock, [&] { return p.done || queue_.front() == &p; });
  if (!p.done) {
    std::vector<Pending*> finished = Lead(lock);
    lock.unlock();
    Complete(finished);
  }
  if (p.error) return *p.error;
  return p.seq;
}

std::vector<AuditLog::Pending*> AuditLog::Lead(
    std::unique_lock<std::mutex>& lock) {
  Pending* leader = queue_.front();
  std::vector<Pending*> batch;
  for (Pending* q : queue_) {
    if (batch.size() >= options_.max_batch) break;
    batch.push_back(q);
  }
  bool force_checkpoint = false;
  std::vector<Pending*> records;
  for (Pending* q : batch) {
    if (q->body.empty()) {
      force_checkpoint = true;
    } else if (failure_ && !q->resume) {
      q->error = MakeError("audit_unavailable", failure_->message);
    } else {
      records.push_back(q);
    }
  }
  bool resuming = false;
  for (Pending* q : records) resuming |= q->resume;
  if (failure_ && !resuming) force_checkpoint = false;
  lock.unlock();
  Status s = records.empty() && !force_checkpoint
                 ? Status()
                 : WriteBatch(records, force_checkpoint);
  lock.lock();
  if (!s) {
    Fail(s.error());
    for (Pending* q : batch) {
      if (!q->error) q->error = *failure_;
    }
  } else if (resuming) {
    failure_.reset();
    if (!options_.failure_marker.empty()) {
      std::error_code ec;
      std::filesystem::remove(options_.failure_marker, ec);
    }
    marker_written_ = false;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) queue_.pop_front();
  std::vector<Pending*> async;
  for (Pending* q : batch) {
    q->done = true;
    if (q->callback) {
      async.push_back(q);
    } else if (q != leader) {
      q->done_cv.notify_one();
    }
  }
  WakeFront();
  return async;
}

void AuditLog::Complete(std::vector<Pending*>& async) {
  for (Pending* q : async) {
    std::unique_ptr<Pending> owned(q);
    if (q->error) {
      q->callback(*q->error);
    } else {
      q->callback(q->seq);
    }
  }
  async.clear();
}

void AuditLog::WakeFront() {
  if (queue_.empty()) return;
  if (queue_.front()->callback) {
    writer_cv_.notify_one();
  } else {
    queue_.front()->done_cv.notify_one();
  }
}

void AuditLog::Fail(const Error& e) {
  // Called with mu_ held.
  failure_ = MakeError("audit_unavailable", e.code + ": " + e.message);
  if (!options_.failure_marker.empty()) {
    marker_written_ = WriteFileSynced(options_.failure_marker,
                                      failure_->message + "\n", false);
  }
}

void AuditLog::TimerLoop() {
  // Every T seconds, a checkpoint of what arrived since the last one.
  auto period = std::chrono::seconds(
      std::max<std::int64_t>(1, options_.checkpoint_seconds));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_timer_) {
    timer_cv_.wait_for(lock, period, [&] { return stop_timer_; });
    if (stop_timer_) break;
    lock.unlock();
    (void)Checkpoint();  // a failure is already sticky and reported
    lock.lock();
  }
}

Status AuditLog::WriteBatch(std::vector<Pending*>& batch,
                            bool force_checkpoint) {
  store::SqliteDb& db = *db_;
  if (!begin_.valid()) {
    auto b = db.Prepare("BEGIN IMMEDIATE");
    auto c = db.Prepare("COMMIT");
    if (!b) return b.error();
    if (!c) return c.error();
    begin_ = std::move(*b);
    commit_ = std::move(*c);
  }
  begin_.Reset();
  if (Status s = begin_.Run(); !s) return s.error();
  auto rollback = [&](const Error& e) -> Status {
    (void)db.Exec("ROLLBACK");
    return e;
  };
  if (!insert_record_.valid()) {
    auto a = db.Prepare(
        "SELECT seq, hash FROM events ORDER BY seq DESC "
        "LIMIT 1");
    auto b = db.Prepare(
        "INSERT INTO events (seq, time_ms, type, task_id, body, hash) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    auto c = db.Prepare(
        "SELECT seq, time_ms FROM checkpoints ORDER BY seq DESC LIMIT 1");
    auto d = db.Prepare(
        "INSERT INTO checkpoints (seq, head, time_ms, key_id, signature) "
        "VALUES (?, ?, ?, ?, ?)");
    for (auto* r : {&a, &b, &c, &d}) {
      if (!*r) return rollback(r->error());
    }
    last_record_ = std::move(*a);
    insert_record_ = std::move(*b);
    last_checkpoint_ = std::move(*c);
    insert_checkpoint_ = std::move(*d);
  }
  // The head as the database has it: another process may have appended.
  std::uint64_t seq = 0;
  std::string head(kHashSize, '\0');
  {
    last_record_.Reset();
    auto row = last_record_.Step();
    if (!row) return rollback(row.error());
    if (*row) {
      seq = static_cast<std::uint64_t>(last_record_.ColumnInt(0));
      head = std::string(last_record_.ColumnBlob(1));
    }
    last_record_.Reset();
  }
  for (Pending* p : batch) {
    ++seq;
    head = RecordHash(seq, head, p->body);
    store::Statement& insert = insert_record_;
    insert.Reset();
    insert.Bind(1, static_cast<std::int64_t>(seq))
        .Bind(2, p->time_ms)
        .Bind(3, p->type)
        .Bind(5, p->body)
        .BindBlob(6, head);
    if (p->task_id.empty()) {
      insert.BindNull(4);
    } else {
      insert.Bind(4, p->task_id);
    }
    if (Status s = insert.Run(); !s) return rollback(s.error());
    p->seq = seq;
  }
  // Checkpoint every N records, every T seconds, or when asked.
  std::uint64_t cp_seq = 0;
  std::int64_t cp_time = 0;
  {
    last_checkpoint_.Reset();
    auto row = last_checkpoint_.Step();
    if (!row) return rollback(row.error());
    if (*row) {
      cp_seq = static_cast<std::uint64_t>(last_checkpoint_.ColumnInt(0));
      cp_time = last_checkpoint_.ColumnInt(1);
    }
    last_checkpoint_.Reset();
  }
  std::int64_t now = NowMs();
  bool due = seq > cp_seq &&
             (force_checkpoint || seq - cp_seq >= options_.checkpoint_every ||
              now - cp_time >= options_.checkpoint_seconds * 1000);
  std::string witness_line;
  if (due) {
    std::string signature =
        keys_.checkpoint.Sign(CheckpointMessage(seq, head, now));
    store::Statement& insert = insert_checkpoint_;
    insert.Reset();
    insert.Bind(1, static_cast<std::int64_t>(seq))
        .BindBlob(2, head)
        .Bind(3, now)
        .Bind(4, KeyId(public_key_))
        .BindBlob(5, signature);
    if (Status s = insert.Run(); !s) return rollback(s.error());
    if (!options_.checkpoint_file.empty()) {
      json::object line{{"seq", seq},
                        {"head", HexEncode(head)},
                        {"time_ms", now},
                        {"key_id", KeyId(public_key_)},
                        {"public_key", HexEncode(public_key_)},
                        {"signature", HexEncode(signature)}};
      witness_line = json::serialize(line) + "\n";
    }
  }
  commit_.Reset();
  if (Status s = commit_.Run(); !s) return rollback(s.error());
  last_seq_.store(seq, std::memory_order_release);
  if (!witness_line.empty()) {
    // The witness copy is a convenience for an external party; the
    // checkpoint itself is already durable in the log.
    (void)WriteFileSynced(options_.checkpoint_file, witness_line, true);
  }
  return {};
}

}  // namespace tether::audit
