#include "cli/audit_command.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "audit/log.h"
#include "audit/query.h"
#include "audit/setup.h"
#include "audit/verify.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/json.h"
#include "core/time.h"
#include "store/sqlite.h"

namespace tether::cli {
namespace {

namespace json = boost::json;

struct Paths {
  std::string config;    // --config
  std::string data_dir;  // --data-dir, overrides the config's
  // Resolves the data directory: --data-dir, else the config's, else the
  // default. Exits through Fail() on a bad config.
  bool Resolve() {
    if (!config.empty()) {
      auto c = LoadConfig(config);
      if (!c) {
        std::fprintf(stderr, "tether audit: %s\n", c.error().message.c_str());
        return false;
      }
      loaded = std::move(*c);
    }
    if (!data_dir.empty()) loaded.data_dir = data_dir;
    data_dir = loaded.data_dir;
    return true;
  }
  Config loaded;
  std::string db() const { return data_dir + "/audit.db"; }
  std::string keys() const { return data_dir + "/keys"; }
  std::string marker() const { return data_dir + "/audit.failed"; }
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "tether audit: %s\n", message.c_str());
  return 1;
}

// Opens the audit database for reading (it must exist).
Result<std::unique_ptr<store::SqliteDb>> OpenForReading(const Paths& p) {
  if (::access(p.db().c_str(), F_OK) != 0) {
    return MakeError("io_error", "no audit log at `" + p.db() +
                                     "` (use --data-dir to point at it)");
  }
  auto db = store::SqliteDb::Open(p.db(), {});
  if (!db) return db.error();
  if (Status s = audit::MigrateAuditSchema(**db); !s) return s.error();
  return db;
}

std::string FormatTime(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

// Unix seconds, RFC 3339 (`2026-11-26T10:00:00Z`, `...+02:00`), or a
// duration before now (`90s`, `15m`, `2h`, `7d`). Returns Unix milliseconds.
struct Row {
  std::int64_t seq;
  std::int64_t time_ms;
  std::string type;
  json::value body;
};

void PrintRow(const Row& r, bool as_json) {
  if (as_json) {
    json::object o = r.body.is_object() ? r.body.get_object() : json::object{};
    o["seq"] = r.seq;
    std::cout << json::serialize(o) << "\n";
    return;
  }
  auto field = [&](const char* key) -> std::string {
    if (!r.body.is_object()) return "";
    const json::value* v = r.body.get_object().if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : "";
  };
  std::string what = field("decision");
  std::string subject = field("action");
  if (!field("resource").empty()) subject += " " + field("resource");
  std::printf("%8lld  %s  %-18s %-12s %-18s %s\n",
              static_cast<long long>(r.seq), FormatTime(r.time_ms).c_str(),
              r.type.c_str(), field("task_id").substr(0, 12).c_str(),
              what.c_str(), subject.c_str());
}

void PrintHeader() {
  std::printf("%8s  %-24s  %-18s %-12s %-18s %s\n", "SEQ", "TIME", "TYPE",
              "TASK", "DECISION", "ACTION RESOURCE");
}

struct QueryOptions {
  std::string task, type, since, until;
  bool json = false;
  std::int64_t limit = 1000;
};

int RunQuery(const Paths& p, const QueryOptions& q) {
  auto db = OpenForReading(p);
  if (!db) return Fail(db.error().message);
  std::int64_t since = 0, until = INT64_MAX;
  if (!q.since.empty()) {
    auto t = ParseTimeMs(q.since);
    if (!t) return Fail(t.error().message);
    since = *t;
  }
  if (!q.until.empty()) {
    auto t = ParseTimeMs(q.until);
    if (!t) return Fail(t.error().message);
    until = *t;
  }
  audit::EventFilter f;
  f.task = q.task;
  f.type = q.type;
  f.since_ms = since;
  f.until_ms = until;
  f.limit = q.limit;
  // A task id stored as a keyed hash matches its hash too.
  if (!f.task.empty()) {
    auto keys = audit::LoadOrCreateAuditKeys(p.keys(), false);
    if (keys) f.hmac_key = keys->hmac;
  }
  auto rows = audit::QueryEvents(**db, f);
  if (!rows) return Fail(rows.error().message);
  if (!q.json) PrintHeader();
  for (const audit::EventRow& r : *rows) {
    auto body = ParseJson(r.body);
    PrintRow(
        Row{r.seq, r.time_ms, r.type, body ? std::move(*body) : json::value()},
        q.json);
  }
  return 0;
}

int RunTail(const Paths& p, bool follow, std::int64_t lines, bool as_json) {
  auto db = OpenForReading(p);
  if (!db) return Fail(db.error().message);
  auto last = (*db)->QueryInt("SELECT coalesce(max(seq), 0) FROM events");
  if (!last) return Fail(last.error().message);
  std::int64_t after = std::max<std::int64_t>(0, *last - lines);
  auto stmt = (*db)->Prepare(
      "SELECT seq, time_ms, type, body FROM events WHERE seq > ? ORDER BY seq "
      "LIMIT 10000");
  if (!stmt) return Fail(stmt.error().message);
  if (!as_json) PrintHeader();
  while (true) {
    stmt->Reset();
    stmt->Bind(1, after);
    while (true) {
      auto row = stmt->Step();
      if (!row) return Fail(row.error().message);
      if (!*row) break;
      auto body = ParseJson(stmt->ColumnText(3));
      after = stmt->ColumnInt(0);
      PrintRow(Row{after, stmt->ColumnInt(1), std::string(stmt->ColumnText(2)),
                   body ? std::move(*body) : json::value()},
               as_json);
    }
    std::cout.flush();
    std::fflush(stdout);
    if (!follow) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

struct VerifyArgs {
  std::uint64_t from = 1;
  std::uint64_t to = 0;
  std::string checkpoints;
  std::vector<std::string> public_keys;
};

int RunVerify(const Paths& p, const VerifyArgs& a) {
  auto db = OpenForReading(p);
  if (!db) return Fail(db.error().message);
  audit::VerifyOptions opts;
  opts.from = a.from;
  if (a.to) opts.to = a.to;
  for (const std::string& hex : a.public_keys) {
    auto pk = HexDecode(hex);
    if (!pk || pk->size() != 32) {
      return Fail("--public-key needs 64 hex characters (an ed25519 key)");
    }
    opts.public_keys.push_back(*pk);
  }
  if (opts.public_keys.empty()) {
    auto keys = audit::LoadOrCreateAuditKeys(p.keys(), false);
    if (!keys) return Fail(keys.error().message);
    opts.public_keys.push_back(keys->checkpoint.PublicKey());
  }
  if (!a.checkpoints.empty()) {
    auto text = ReadFile(a.checkpoints);
    if (!text) return Fail(text.error().message);
    auto cps = audit::ParseCheckpointFile(*text);
    if (!cps) return Fail(a.checkpoints + ": " + cps.error().message);
    opts.external = std::move(*cps);
  }
  auto started = std::chrono::steady_clock::now();
  auto report = audit::Verify(**db, opts);
  if (!report) return Fail(report.error().message);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  if (!report->ok) {
    std::printf("FAILED at sequence %llu: %s\n",
                static_cast<unsigned long long>(report->first_bad_seq),
                report->problem.c_str());
    std::printf("(%llu records before it verified)\n",
                static_cast<unsigned long long>(report->records));
    return 1;
  }
  std::printf(
      "ok: %llu records (sequence %llu to %llu) chain intact; %llu "
      "checkpoints verified, the last at %llu; %.2f s\n",
      static_cast<unsigned long long>(report->records),
      static_cast<unsigned long long>(report->records ? opts.from : 0),
      static_cast<unsigned long long>(report->last_seq),
      static_cast<unsigned long long>(report->checkpoints),
      static_cast<unsigned long long>(report->last_checkpoint_seq), secs);
  if (report->last_seq > report->last_checkpoint_seq) {
    std::printf(
        "note: %llu records after the last checkpoint are covered by "
        "the chain only\n",
        static_cast<unsigned long long>(report->last_seq -
                                        report->last_checkpoint_seq));
  }
  return 0;
}

int RunHash(const Paths& p, const std::string& value) {
  auto keys = audit::LoadOrCreateAuditKeys(p.keys(), false);
  if (!keys) return Fail(keys.error().message);
  std::printf("hmac-sha256:%s\n",
              HexEncode(HmacSha256(keys->hmac, value)).c_str());
  return 0;
}

int RunResume(const Paths& p, const std::string& reason) {
  auto keys = audit::LoadOrCreateAuditKeys(p.keys(), false);
  if (!keys) return Fail(keys.error().message);
  audit::AuditOptions opts = audit::MakeAuditOptions(p.loaded);
  auto log = audit::AuditLog::Open(opts, std::move(*keys), nullptr);
  if (!log) return Fail(log.error().message);
  auto failure = (*log)->failure();
  if (!failure) {
    std::printf("the audit log is not in a failed state; nothing to resume\n");
    return 0;
  }
  auto seq = (*log)->Resume(reason);
  if (!seq) {
    return Fail("cannot resume, writing still fails: " + seq.error().message);
  }
  std::printf(
      "resumed: the audit log accepts events again (audit.resume "
      "recorded as %llu); it had failed with: %s\n",
      static_cast<unsigned long long>(*seq), failure->message.c_str());
  return 0;
}

}  // namespace

void AddAuditCommands(CLI::App& app, std::function<int()>& run) {
  CLI::App* audit =
      app.add_subcommand("audit", "verify, query and administer the audit log");
  audit->require_subcommand(1);
  auto paths = std::make_shared<Paths>();
  audit->add_option("--config", paths->config, "tether.toml");
  audit->add_option("--data-dir", paths->data_dir,
                    "tether's data directory (default: the config's, or "
                    "tether-data)");

  auto v = std::make_shared<VerifyArgs>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "check the hash chain and signed checkpoints");
  verify->add_option("--from", v->from, "first sequence number");
  verify->add_option("--to", v->to, "last sequence number");
  verify->add_option("--checkpoints", v->checkpoints,
                     "checkpoints held by a witness (json lines)");
  verify->add_option("--public-key", v->public_keys,
                     "trusted checkpoint key in hex (default: the data "
                     "directory's)");
  verify->callback([&run, paths, v] {
    run = [paths, v] { return paths->Resolve() ? RunVerify(*paths, *v) : 1; };
  });

  auto value = std::make_shared<std::string>();
  CLI::App* hash = audit->add_subcommand(
      "hash", "print the keyed hash a hashed field stores for VALUE");
  hash->add_option("value", *value, "the value to hash")->required();
  hash->callback([&run, paths, value] {
    run = [paths, value] {
      return paths->Resolve() ? RunHash(*paths, *value) : 1;
    };
  });

  auto reason = std::make_shared<std::string>();
  CLI::App* resume = audit->add_subcommand(
      "resume", "accept events again after a write failure was fixed");
  resume->add_option("--reason", *reason, "why it is safe to resume")
      ->required();
  resume->callback([&run, paths, reason] {
    run = [paths, reason] {
      return paths->Resolve() ? RunResume(*paths, *reason) : 1;
    };
  });

  auto q = std::make_shared<QueryOptions>();
  CLI::App* query = audit->add_subcommand("query", "list matching events");
  query->add_option("--task", q->task, "task id");
  query->add_option("--type", q->type, "event type, e.g. authz.decision");
  query->add_option("--since", q->since,
                    "Unix seconds, RFC 3339, or a duration ago (15m, 2h)");
  query->add_option("--until", q->until, "same forms as --since");
  query->add_option("--limit", q->limit, "at most this many (default 1000)");
  query->add_flag("--json", q->json, "one json object per line");
  query->callback([&run, paths, q] {
    run = [paths, q] { return paths->Resolve() ? RunQuery(*paths, *q) : 1; };
  });

  auto follow = std::make_shared<bool>(false);
  auto lines = std::make_shared<std::int64_t>(20);
  auto tail_json = std::make_shared<bool>(false);
  CLI::App* tail = audit->add_subcommand("tail", "show the latest events");
  tail->add_flag("-f,--follow", *follow, "keep printing new events");
  tail->add_option("-n,--lines", *lines, "how many to start with (20)");
  tail->add_flag("--json", *tail_json, "one json object per line");
  tail->callback([&run, paths, follow, lines, tail_json] {
    run = [paths, follow, lines, tail_json] {
      return paths->Resolve() ? RunTail(*paths, *follow, *lines, *tail_json)
                              : 1;
    };
  });
}

}  // namespace tether::cli
