// Test helper: appends audit events from several threads and prints the
// sequence number of every acknowledged append, one per line, flushed. The
// crash test kills it with SIGKILL and checks that every printed number is
// in the log afterwards.
//   audit_writer --data-dir DIR [--threads N] [--events N (0: forever)]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/log.h"

int main(int argc, char** argv) {
  std::string dir;
  int threads = 8;
  long events = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--data-dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--events")) events = std::atol(argv[i + 1]);
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: audit_writer --data-dir DIR\n");
    return 2;
  }
  using namespace tether::audit;
  auto keys = LoadOrCreateAuditKeys(dir + "/keys");
  if (!keys) {
    std::fprintf(stderr, "%s\n", keys.error().message.c_str());
    return 1;
  }
  AuditOptions options;
  options.db_path = dir + "/audit.db";
  options.failure_marker = dir + "/audit.failed";
  options.checkpoint_every = 50;
  auto log = AuditLog::Open(options, std::move(*keys), nullptr);
  if (!log) {
    std::fprintf(stderr, "%s\n", log.error().message.c_str());
    return 1;
  }
  std::mutex out;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0; events == 0 || i < events; ++i) {
        Event e;
        e.type = "authz.decision";
        e.task_id = "task-" + std::to_string(t);
        e.principal = "Task::\"task-" + std::to_string(t) + "\"";
        e.action = "Action::\"git.push\"";
        e.resource = "Repo::\"acme/api\"";
        e.decision = i % 3 ? "allow" : "deny";
        e.detail["n"] = i;
        auto seq = (*log)->Append(std::move(e));
        if (!seq) {
          std::fprintf(stderr, "append failed: %s\n",
                       seq.error().message.c_str());
          std::_Exit(1);
        }
        std::lock_guard<std::mutex> lock(out);
        std::printf("%llu\n", static_cast<unsigned long long>(*seq));
        std::fflush(stdout);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
