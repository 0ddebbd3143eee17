// Crash test: a writer process appends under concurrency and prints every
// acknowledged sequence number; we kill it with SIGKILL at random points,
// many times, and after every kill require that the chain verifies and every
// acknowledged event is present. (SIGKILL keeps the page cache; the fault
// VFS test covers lost unsynced writes.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>

#include "audit/log.h"
#include "audit/verify.h"

namespace tether::audit {
namespace {

struct Round {
  std::uint64_t max_acked = 0;
  std::size_t acked = 0;
};

// Runs the writer until `ms` milliseconds pass, then SIGKILLs it.
Round RunAndKill(const std::string& dir, int ms) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(TETHER_AUDIT_WRITER, TETHER_AUDIT_WRITER, "--data-dir", dir.c_str(),
          "--threads", "8", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  Round round;
  std::string buffer;
  // Counts the complete lines in `buffer` (each an acknowledged number).
  auto consume = [&] {
    std::size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::uint64_t seq = std::stoull(buffer.substr(0, nl));
      round.max_acked = std::max(round.max_acked, seq);
      ++round.acked;
      buffer.erase(0, nl + 1);
    }
  };
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[4096];
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    consume();
  }
  kill(pid, SIGKILL);
  // Lines written before the kill are acknowledged too: drain them.
  while (true) {
    char chunk[4096];
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  consume();
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself";
  return round;
}

TEST(AuditCrash, SigkillNeverLosesAnAcknowledgedEvent) {
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("tether-crash-" + std::to_string(getpid())))
                        .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay(20, 150);
  std::uint64_t total_acked = 0;
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    Round r = RunAndKill(dir, delay(rng));
    total_acked += r.acked;
    auto db = store::SqliteDb::Open(dir + "/audit.db", {});
    ASSERT_TRUE(db.ok()) << db.error().message;
    auto keys = LoadOrCreateAuditKeys(dir + "/keys", false);
    ASSERT_TRUE(keys.ok());
    VerifyOptions opts;
    opts.public_keys = {keys->checkpoint.PublicKey()};
    auto report = Verify(**db, opts);
    ASSERT_TRUE(report.ok()) << report.error().message;
    ASSERT_TRUE(report->ok) << "round " << round << ": sequence "
                            << report->first_bad_seq << ": " << report->problem;
    // The chain has no gaps, so every acknowledged number up to the last
    // record is present.
    ASSERT_GE(report->last_seq, r.max_acked)
        << "round " << round << ": acknowledged " << r.max_acked
        << " but the log ends at " << report->last_seq;
    ASSERT_FALSE(std::filesystem::exists(dir + "/audit.failed"));
  }
  EXPECT_GT(total_acked, 1000u) << "the writer barely ran";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tether::audit
