// Audit log benchmark: durable append throughput with 1, 8 and 64
// concurrent appenders (group commit), against plain SQLite inserts with one
// transaction per insert (WAL, synchronous=FULL) measured in the same run,
// and verification speed over 1 M events. Prints the pragmas and the fsyncs
// per event (counted by a VFS shim around SQLite's default VFS).
//   audit_bench [--dir DIR] [--seconds S] [--verify-events N]
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "audit/chain.h"
#include "audit/log.h"
#include "audit/verify.h"
#include "core/canonical_json.h"
#include "store/sqlite.h"

namespace {

using namespace tether;
using Clock = std::chrono::steady_clock;

// ---- a VFS shim that counts xSync calls --------------------------------
std::atomic<std::uint64_t> g_syncs{0};
sqlite3_vfs* g_real = nullptr;

struct ShimFile {
  sqlite3_file base;
  const sqlite3_io_methods* rm;  // the real file's methods
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
ShimFile* Shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }

#define FWD(x) Shim(x)->rm
const sqlite3_io_methods kShimMethods = {
    3,
    [](sqlite3_file* x) { return FWD(x)->xClose(Shim(x)->real()); },
    [](sqlite3_file* x, void* b, int n, sqlite3_int64 o) {
      return FWD(x)->xRead(Shim(x)->real(), b, n, o);
    },
    [](sqlite3_file* x, const void* b, int n, sqlite3_int64 o) {
      return FWD(x)->xWrite(Shim(x)->real(), b, n, o);
    },
    [](sqlite3_file* x, sqlite3_int64 n) {
      return FWD(x)->xTruncate(Shim(x)->real(), n);
    },
    [](sqlite3_file* x, int flags) {
      ++g_syncs;
      return FWD(x)->xSync(Shim(x)->real(), flags);
    },
    [](sqlite3_file* x, sqlite3_int64* n) {
      return FWD(x)->xFileSize(Shim(x)->real(), n);
    },
    [](sqlite3_file* x, int l) { return FWD(x)->xLock(Shim(x)->real(), l); },
    [](sqlite3_file* x, int l) { return FWD(x)->xUnlock(Shim(x)->real(), l); },
    [](sqlite3_file* x, int* r) {
      return FWD(x)->xCheckReservedLock(Shim(x)->real(), r);
    },
    [](sqlite3_file* x, int op, void* a) {
      return FWD(x)->xFileControl(Shim(x)->real(), op, a);
    },
    [](sqlite3_file* x) { return FWD(x)->xSectorSize(Shim(x)->real()); },
    [](sqlite3_file* x) {
      return FWD(x)->xDeviceCharacteristics(Shim(x)->real());
    },
    [](sqlite3_file* x, int p, int sz, int e, void volatile** out) {
      return FWD(x)->xShmMap(Shim(x)->real(), p, sz, e, out);
    },
    [](sqlite3_file* x, int o, int n, int fl) {
      return FWD(x)->xShmLock(Shim(x)->real(), o, n, fl);
    },
    [](sqlite3_file* x) { FWD(x)->xShmBarrier(Shim(x)->real()); },
    [](sqlite3_file* x, int d) {
      return FWD(x)->xShmUnmap(Shim(x)->real(), d);
    },
    [](sqlite3_file* x, sqlite3_int64 o, int n, void** p) {
      return FWD(x)->xFetch(Shim(x)->real(), o, n, p);
    },
    [](sqlite3_file* x, sqlite3_int64 o, void* p) {
      return FWD(x)->xUnfetch(Shim(x)->real(), o, p);
    },
};
#undef FWD

int ShimOpen(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags,
             int* out) {
  ShimFile* s = Shim(f);
  int rc = g_real->xOpen(g_real, name, s->real(), flags, out);
  if (rc != SQLITE_OK || !s->real()->pMethods) {
    s->base.pMethods = nullptr;
    return rc;
  }
  s->rm = s->real()->pMethods;
  s->base.pMethods = &kShimMethods;
  return SQLITE_OK;
}

void RegisterCountingVfs() {
  static sqlite3_vfs vfs;
  g_real = sqlite3_vfs_find(nullptr);
  vfs = *g_real;
  vfs.zName = "counting";
  vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real->szOsFile;
  vfs.xOpen = ShimOpen;
  vfs.pNext = nullptr;
  sqlite3_vfs_register(&vfs, 0);
}

audit::Event SampleEvent(int t, long i) {
  audit::Event e;
  e.type = "authz.decision";
  e.task_id = "task-" + std::to_string(t);
  e.principal = "Task::\"task-" + std::to_string(t) + "\"";
  e.action = "Action::\"git.push\"";
  e.resource = "Repo::\"acme/api\"";
  e.decision = i % 4 ? "allow" : "deny";
  e.determining_policies = {"push-own-namespace"};
  e.policy_set_sha256 = std::string(64, 'a');
  e.decision_id = "d-" + std::to_string(t) + "-" + std::to_string(i);
  e.edge = "proxy";
  e.latency_us = 17;
  return e;
}

struct Run {
  double events_per_sec;
  double syncs_per_event;
  std::uint64_t events;
};

Run AppendRun(const std::string& dir, int appenders, double seconds) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto keys = audit::LoadOrCreateAuditKeys(dir + "/keys");
  audit::AuditOptions o;
  o.db_path = dir + "/audit.db";
  o.sqlite.vfs = "counting";
  auto log = std::move(*audit::AuditLog::Open(o, std::move(*keys), nullptr));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  std::uint64_t syncs_before = g_syncs;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      for (long i = 0; !stop; ++i) {
        if (!log->Append(SampleEvent(t, i)).ok()) std::abort();
        ++done;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::uint64_t n = done;
  return Run{n / secs, static_cast<double>(g_syncs - syncs_before) / n, n};
}

Run PlainSqliteRun(const std::string& dir, double seconds) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  store::SqliteOptions opts;
  opts.vfs = "counting";
  auto db = std::move(*store::SqliteDb::Open(dir + "/plain.db", opts));
  (void)db->Exec("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT)");
  auto ins = std::move(*db->Prepare("INSERT INTO events (body) VALUES (?)"));
  std::string body = *CanonicalJson(audit::EventToJson(SampleEvent(0, 0)));
  std::uint64_t syncs_before = g_syncs, n = 0;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    ins.Reset();
    ins.Bind(1, body);
    if (!ins.Run()) std::abort();  // autocommit: one transaction per insert
    ++n;
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  return Run{n / secs, static_cast<double>(g_syncs - syncs_before) / n, n};
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/tether-audit-bench";
  double seconds = 3;
  long verify_events = 1'000'000;
  int only = 0;       // run just this many appenders (for profiling)
  bool keep = false;  // keep the verification data (re-used if present)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--keep")) keep = std::atoi(argv[i + 1]) != 0;
    if (!std::strcmp(argv[i], "--verify-events")) {
      verify_events = std::atol(argv[i + 1]);
    }
  }
  RegisterCountingVfs();
  if (only > 0) {
    Run r = AppendRun(dir + "/only", only, seconds);
    std::printf("%d appenders: %.0f events/s, %.3f fsyncs/event\n", only,
                r.events_per_sec, r.syncs_per_event);
    return 0;
  }
  std::printf(
      "pragmas: journal_mode=WAL synchronous=FULL (checked at open); "
      "SQLite %s\n\n",
      sqlite3_libversion());
  std::printf("| writer | appenders | events/s | fsyncs/event | events |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  Run plain = PlainSqliteRun(dir + "/plain", seconds);
  std::printf(
      "| plain SQLite, 1 insert per transaction | 1 | %.0f | %.3f | %llu |\n",
      plain.events_per_sec, plain.syncs_per_event,
      static_cast<unsigned long long>(plain.events));
  for (int appenders : {1, 8, 64}) {
    Run r = AppendRun(dir + "/log-" + std::to_string(appenders), appenders,
                      seconds);
    std::printf(
        "| tether audit log (group commit) | %d | %.0f | %.3f | %llu |"
        " %.1f× plain\n",
        appenders, r.events_per_sec, r.syncs_per_event,
        static_cast<unsigned long long>(r.events),
        r.events_per_sec / plain.events_per_sec);
  }

  // Verification over `verify_events` records: written by 64 appenders.
  std::string vdir = dir + "/verify";
  bool reuse = keep && std::filesystem::exists(vdir + "/audit.db");
  if (!reuse) {
    std::filesystem::remove_all(vdir);
    std::filesystem::create_directories(vdir);
  }
  if (!reuse) {
    auto keys = audit::LoadOrCreateAuditKeys(vdir + "/keys");
    audit::AuditOptions o;
    o.db_path = vdir + "/audit.db";
    o.checkpoint_every = 10'000;
    auto log = std::move(*audit::AuditLog::Open(o, std::move(*keys), nullptr));
    std::atomic<long> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 64; ++t) {
      threads.emplace_back([&, t] {
        while (next++ < verify_events) {
          if (!log->Append(SampleEvent(t, next)).ok()) std::abort();
        }
      });
    }
    for (auto& th : threads) th.join();
    (void)log->Checkpoint();
  }
  auto keys = audit::LoadOrCreateAuditKeys(vdir + "/keys", false);
  auto db = std::move(*store::SqliteDb::Open(vdir + "/audit.db", {}));
  audit::VerifyOptions vo;
  vo.public_keys = {keys->checkpoint.PublicKey()};
  auto t0 = Clock::now();
  auto report = audit::Verify(*db, vo);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "\nverify: %llu records, %llu checkpoints, %s, %.3f s (%.0f "
      "records/s)\n",
      static_cast<unsigned long long>(report->records),
      static_cast<unsigned long long>(report->checkpoints),
      report->ok ? "ok" : report->problem.c_str(), secs,
      report->records / secs);
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
