// Durability under simulated power loss and disk faults, through the
// fault-injecting VFS: only synced writes survive a crash, and a disk-full
// or I/O error makes the log fail closed, stickily, until resumed.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "audit/log.h"
#include "audit/verify.h"
#include "tests/support/fault_vfs.h"

namespace tether::audit {
namespace {

using tether::testing::FaultVfs;

class AuditFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vfs_ = &FaultVfs::Get();
    vfs_->Reset();
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-fault-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    auto keys = LoadOrCreateAuditKeys((dir_ / "keys").string());
    ASSERT_TRUE(keys.ok());
    keys_.emplace(std::move(*keys));
    options_.db_path = "/fault/audit.db";
    options_.sqlite.vfs = FaultVfs::kName;
    options_.sqlite.exclusive = true;
    options_.sqlite.busy_timeout_ms = 100;
    options_.checkpoint_every = 25;
  }
  void TearDown() override {
    vfs_->Reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<AuditLog> Open() {
    auto log = AuditLog::Open(options_, *keys_, nullptr);
    EXPECT_TRUE(log.ok()) << log.error().message;
    return log.ok() ? std::move(*log) : nullptr;
  }

  // Verifies the log as it is on "disk"; returns its last sequence number.
  std::uint64_t VerifyDurable() {
    auto db = store::SqliteDb::Open(options_.db_path, options_.sqlite);
    EXPECT_TRUE(db.ok()) << db.error().message;
    if (!db.ok()) return 0;
    VerifyOptions opts;
    opts.public_keys = {keys_->checkpoint.PublicKey()};
    auto report = Verify(**db, opts);
    EXPECT_TRUE(report.ok()) << report.error().message;
    if (!report.ok()) return 0;
    EXPECT_TRUE(report->ok)
        << "sequence " << report->first_bad_seq << ": " << report->problem;
    return report->last_seq;
  }

  static Event Sample(int i) {
    Event e;
    e.type = "proxy.request";
    e.task_id = "t" + std::to_string(i % 7);
    e.action = "Action::\"github.read\"";
    e.detail["i"] = i;
    return e;
  }

  FaultVfs* vfs_;
  std::filesystem::path dir_;
  std::optional<AuditKeys> keys_;
  AuditOptions options_;
};

TEST_F(AuditFaultTest, PowerLossKeepsEveryAcknowledgedEvent) {
  std::mt19937 rng(7);
  std::uint64_t total = 0;
  for (int round = 0; round < 50; ++round) {
    auto log = Open();
    ASSERT_TRUE(log);
    std::mutex mu;
    std::uint64_t max_acked = 0;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; !stop; ++i) {
          auto seq = log->Append(Sample(t * 100000 + i));
          if (!seq) return;  // the crash
          std::lock_guard<std::mutex> lock(mu);
          max_acked = std::max(max_acked, *seq);
          ++total;
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<>(5, 40)(rng)));
    vfs_->Crash();  // power loss: nothing more reaches the disk
    stop = true;
    for (auto& th : threads) th.join();
    log.reset();
    vfs_->Restart();  // reboot: unsynced writes are gone
    std::uint64_t last = VerifyDurable();
    ASSERT_GE(last, max_acked) << "round " << round << " lost acknowledged "
                               << "events after " << last;
  }
  EXPECT_GT(total, 500u);
}

TEST_F(AuditFaultTest, DiskFullFailsClosedAndStaysFailedUntilResumed) {
  auto log = Open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Sample(i)).ok());
  vfs_->FailWrite(1, FaultVfs::Fault::kDiskFull, /*sticky=*/true);
  auto failed = log->Append(Sample(10));
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("store_full"), std::string::npos)
      << failed.error().message;
  // The disk has room again, but the log stays failed until an operator
  // resumes it.
  vfs_->ClearFaults();
  auto still = log->Append(Sample(11));
  ASSERT_FALSE(still.ok());
  EXPECT_EQ(still.error().code, "audit_unavailable");
  ASSERT_TRUE(log->failure().has_value());
  auto resumed = log->Resume("disk cleaned up");
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_FALSE(log->failure().has_value());
  auto after = log->Append(Sample(12));
  ASSERT_TRUE(after.ok());
  log.reset();
  EXPECT_EQ(VerifyDurable(), *after);
}

TEST_F(AuditFaultTest, ResumeFailsWhileTheFaultPersists) {
  auto log = Open();
  ASSERT_TRUE(log->Append(Sample(0)).ok());
  vfs_->FailWrite(1, FaultVfs::Fault::kIoError, /*sticky=*/true);
  ASSERT_FALSE(log->Append(Sample(1)).ok());
  EXPECT_FALSE(log->Resume("too early").ok());
  EXPECT_TRUE(log->failure().has_value());
  vfs_->ClearFaults();
  EXPECT_TRUE(log->Resume("fixed").ok());
  EXPECT_TRUE(log->Append(Sample(2)).ok());
}

TEST_F(AuditFaultTest, AFailedSyncIsNotAcknowledged) {
  auto log = Open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(Sample(i)).ok());
  vfs_->FailSync(1, /*sticky=*/false);
  auto r = log->Append(Sample(5));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("store_io"), std::string::npos)
      << r.error().message;
  // A crash now must not resurrect the unacknowledged record as a gap or a
  // broken chain.
  vfs_->Crash();
  log.reset();
  vfs_->Restart();
  EXPECT_GE(VerifyDurable(), 5u);
}

TEST_F(AuditFaultTest, FailureIsStickyAcrossRestarts) {
  options_.failure_marker = (dir_ / "audit.failed").string();
  std::filesystem::create_directories(dir_);
  {
    auto log = Open();
    ASSERT_TRUE(log->Append(Sample(0)).ok());
    vfs_->FailWrite(1, FaultVfs::Fault::kDiskFull, true);
    ASSERT_FALSE(log->Append(Sample(1)).ok());
    vfs_->ClearFaults();
  }
  EXPECT_TRUE(std::filesystem::exists(options_.failure_marker));
  auto log = Open();  // a restart does not clear the failure
  auto r = log->Append(Sample(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "audit_unavailable");
  ASSERT_TRUE(log->Resume("after restart").ok());
  EXPECT_FALSE(std::filesystem::exists(options_.failure_marker));
  EXPECT_TRUE(log->Append(Sample(3)).ok());
}

TEST_F(AuditFaultTest, GroupCommitSharesSyncs) {
  auto log = Open();
  std::uint64_t before = vfs_->syncs();
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(log->Append(Sample(t * 50 + i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t syncs = vfs_->syncs() - before;
  // 1,600 events; one commit per event would be at least 1,600 syncs.
  EXPECT_LT(syncs, 1600u / 2) << syncs << " syncs";
}

}  // namespace
}  // namespace tether::audit
