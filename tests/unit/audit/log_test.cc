#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "audit/chain.h"
#include "audit/verify.h"
#include "core/files.h"
#include "core/json.h"
#include "tests/unit/audit/audit_test_util.h"

namespace tether::audit {
namespace {

class AuditLogTest : public AuditTest {
 protected:
  std::unique_ptr<store::SqliteDb> RawDb() {
    return std::move(*store::SqliteDb::Open(options_.db_path, {}));
  }
  VerifyReport VerifyAll(store::SqliteDb& db, VerifyOptions opts = {}) {
    opts.public_keys.push_back(keys_->checkpoint.PublicKey());
    auto r = Verify(db, opts);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return *r;
  }
  // A log of `n` events, closed, with a checkpoint at the end.
  void Write(int n) {
    auto log = OpenLog();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          log->Append(Decision("t" + std::to_string(i % 5), "allow")).ok());
    }
    ASSERT_TRUE(log->Checkpoint().ok());
  }
};

TEST_F(AuditLogTest, AppendsAreNumberedChainedAndVerify) {
  auto log = OpenLog();
  for (int i = 1; i <= 10; ++i) {
    auto seq = log->Append(Decision("t1", "allow"));
    ASSERT_TRUE(seq.ok()) << seq.error().message;
    EXPECT_EQ(*seq, static_cast<std::uint64_t>(i));
  }
  ASSERT_TRUE(log->Checkpoint().ok());
  auto db = RawDb();
  VerifyReport r = VerifyAll(*db);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 10u);
  EXPECT_EQ(r.last_checkpoint_seq, 10u);
  auto body = db->Prepare("SELECT body FROM events WHERE seq = 1");
  ASSERT_TRUE(body->Step().value());
  auto j = ParseJson(body->ColumnText(0));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->at("decision"), "allow");
  EXPECT_EQ(j->at("latency_us"), 42);
}

TEST_F(AuditLogTest, RejectsUnknownTypes) {
  auto log = OpenLog();
  Event e;
  e.type = "made.up";
  auto r = log->Append(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_event");
}

TEST_F(AuditLogTest, ConcurrentAppendersGetDistinctSequenceNumbers) {
  auto log = OpenLog();
  constexpr int kThreads = 16, kEach = 200;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto s = log->Append(Decision("t" + std::to_string(t), "deny"));
        ASSERT_TRUE(s.ok());
        seqs[t].push_back(*s);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::uint64_t> all;
  for (auto& v : seqs) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(*all.rbegin(), static_cast<std::uint64_t>(kThreads * kEach));
  log.reset();
  auto db = RawDb();
  EXPECT_TRUE(VerifyAll(*db).ok);
}

TEST_F(AuditLogTest, AsyncAndSyncAppendsShareOneChain) {
  auto log = OpenLog();
  constexpr int kAsync = 2000, kThreads = 4, kEach = 100;
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::uint64_t> seqs;
  int done = 0, failed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto s = log->Append(Decision("s" + std::to_string(t), "allow"));
        std::lock_guard lock(mu);
        ASSERT_TRUE(s.ok());
        seqs.insert(*s);
      }
    });
  }
  for (int i = 0; i < kAsync; ++i) {
    log->AppendAsync(Decision("a", "deny"), [&](Result<std::uint64_t> r) {
      std::lock_guard lock(mu);
      if (r.ok()) {
        seqs.insert(*r);
      } else {
        ++failed;
      }
      ++done;
      cv.notify_one();
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == kAsync; });
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kAsync + kThreads * kEach));
  log.reset();
  auto db = RawDb();
  VerifyReport r = VerifyAll(*db);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.records, static_cast<std::uint64_t>(kAsync + kThreads * kEach));
}

TEST_F(AuditLogTest, AsyncAppendsQueuedAtCloseAreWrittenFirst) {
  auto log = OpenLog();
  std::atomic<int> ok{0};
  for (int i = 0; i < 500; ++i) {
    log->AppendAsync(Decision("a", "deny"), [&](Result<std::uint64_t> r) {
      if (r.ok()) ++ok;
    });
  }
  log.reset();  // the final checkpoint queues behind them
  EXPECT_EQ(ok.load(), 500);
  auto db = RawDb();
  VerifyReport r = VerifyAll(*db);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.records, 500u);
  EXPECT_EQ(r.last_checkpoint_seq, 500u);
}

TEST_F(AuditLogTest, AsyncAppendAfterAFailureIsRefusedAtOnce) {
  std::filesystem::path marker = options_.failure_marker;
  { std::ofstream(marker) << "disk full (test)\n"; }
  auto log = OpenLog();
  std::optional<Error> error;
  log->AppendAsync(Decision("a", "allow"), [&](Result<std::uint64_t> r) {
    ASSERT_FALSE(r.ok());
    error = r.error();
  });
  ASSERT_TRUE(error.has_value());  // on the calling thread, before returning
  EXPECT_EQ(error->code, "audit_unavailable");
}

TEST_F(AuditLogTest, CheckpointsEveryNEvents) {
  options_.checkpoint_every = 7;
  auto log = OpenLog();
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(log->Append(Decision("t", "allow")).ok());
  log.reset();
  auto db = RawDb();
  EXPECT_GE(*db->QueryInt("SELECT count(*) FROM checkpoints"), 4);
  EXPECT_TRUE(VerifyAll(*db).ok);
}

TEST_F(AuditLogTest, CheckpointsAreExportedForAWitness) {
  options_.checkpoint_file = (dir_ / "witness.jsonl").string();
  Write(12);
  auto text = ReadFile(options_.checkpoint_file);
  ASSERT_TRUE(text.ok());
  auto cps = ParseCheckpointFile(*text);
  ASSERT_TRUE(cps.ok()) << cps.error().message;
  ASSERT_FALSE(cps->empty());
  EXPECT_EQ(cps->back().seq, 12u);
}

// --- tampering ---

TEST_F(AuditLogTest, DetectsAnEditedRecord) {
  Write(20);
  auto db = RawDb();
  ASSERT_TRUE(db->Exec("UPDATE events SET body = replace(body, 'allow', "
                       "'deny') WHERE seq = 7")
                  .ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 7u);
}

TEST_F(AuditLogTest, DetectsADeletedRecord) {
  Write(20);
  auto db = RawDb();
  ASSERT_TRUE(db->Exec("DELETE FROM events WHERE seq = 11").ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 11u);
}

TEST_F(AuditLogTest, DetectsADeletedRecordWithRenumbering) {
  Write(20);
  auto db = RawDb();
  ASSERT_TRUE(db->Exec("DELETE FROM events WHERE seq = 11; "
                       "UPDATE events SET seq = seq - 1 WHERE seq > 11")
                  .ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 11u);
}

TEST_F(AuditLogTest, DetectsAnInsertedRecord) {
  Write(20);
  auto db = RawDb();
  // Make room after 5 and copy record 3 in as a new record 6.
  ASSERT_TRUE(db->Exec("UPDATE events SET seq = seq + 1000 WHERE seq > 5; "
                       "UPDATE events SET seq = seq - 999 WHERE seq > 1000; "
                       "INSERT INTO events SELECT 6, time_ms, type, task_id, "
                       "body, hash FROM events WHERE seq = 3")
                  .ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6u);
}

TEST_F(AuditLogTest, DetectsReorderedRecords) {
  Write(20);
  auto db = RawDb();
  ASSERT_TRUE(db->Exec("UPDATE events SET seq = -1 WHERE seq = 8; "
                       "UPDATE events SET seq = 8 WHERE seq = 9; "
                       "UPDATE events SET seq = 9 WHERE seq = -1")
                  .ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 8u);
}

TEST_F(AuditLogTest, DetectsATruncatedTail) {
  options_.checkpoint_every = 10;
  Write(30);
  auto db = RawDb();
  ASSERT_TRUE(db->Exec("DELETE FROM events WHERE seq > 25").ok());
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 26u);
  EXPECT_NE(r.problem.find("truncated"), std::string::npos);
}

TEST_F(AuditLogTest, DetectsAWholesaleReplacement) {
  Write(20);
  // Rewrite every record consistently (the chain alone then verifies): only
  // the signed checkpoints can tell.
  auto db = RawDb();
  auto rows = db->Prepare("SELECT seq, body FROM events ORDER BY seq");
  std::vector<std::pair<std::int64_t, std::string>> all;
  while (rows->Step().value()) {
    std::string body(rows->ColumnText(1));
    auto at = body.find("allow");
    if (at != std::string::npos) body.replace(at, 5, "deny!");
    all.emplace_back(rows->ColumnInt(0), body);
  }
  std::string prev(kHashSize, '\0');
  for (auto& [seq, body] : all) {
    prev = RecordHash(static_cast<std::uint64_t>(seq), prev, body);
    auto up = db->Prepare("UPDATE events SET body = ?, hash = ? WHERE seq = ?");
    up->Bind(1, body).BindBlob(2, prev).Bind(3, seq);
    ASSERT_TRUE(up->Run().ok());
  }
  VerifyReport r = VerifyAll(*db);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("head differs"), std::string::npos);
}

TEST_F(AuditLogTest, ExternalCheckpointsCatchWhatDeletedCheckpointsHide) {
  options_.checkpoint_file = (dir_ / "witness.jsonl").string();
  options_.checkpoint_every = 10;
  Write(30);
  auto db = RawDb();
  // The attacker truncates and removes the checkpoints that would tell.
  ASSERT_TRUE(db->Exec("DELETE FROM events WHERE seq > 15; "
                       "DELETE FROM checkpoints WHERE seq > 15")
                  .ok());
  EXPECT_TRUE(VerifyAll(*db).ok);  // undetectable from inside
  VerifyOptions opts;
  opts.external = *ParseCheckpointFile(*ReadFile(options_.checkpoint_file));
  VerifyReport r = VerifyAll(*db, opts);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 16u);
}

TEST_F(AuditLogTest, RejectsCheckpointsFromAnotherKey) {
  Write(10);
  auto db = RawDb();
  auto other = Ed25519Key::Generate();
  VerifyOptions opts;
  opts.public_keys = {other->PublicKey()};
  auto r = Verify(*db, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->problem.find("signature"), std::string::npos);
}

TEST_F(AuditLogTest, VerifiesARange) {
  Write(40);
  auto db = RawDb();
  VerifyOptions opts;
  opts.from = 10;
  opts.to = 20;
  VerifyReport r = VerifyAll(*db, opts);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 11u);
}

// --- keyed hashes and redaction ---

TEST_F(AuditLogTest, HmacFieldsAreStoredKeyed) {
  options_.hmac_fields = {"principal"};
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Decision("t1", "allow")).ok());
  std::string expected = log->Hash("Task::\"t1\"");
  EXPECT_EQ(expected.rfind("hmac-sha256:", 0), 0u);
  log.reset();
  auto db = RawDb();
  auto body = db->Prepare("SELECT body FROM events");
  ASSERT_TRUE(body->Step().value());
  EXPECT_NE(body->ColumnText(0).find(expected), std::string::npos);
  EXPECT_EQ(body->ColumnText(0).find("Task::"), std::string::npos);
}

TEST_F(AuditLogTest, ConcurrentProcessesShareOneChain) {
  auto a = OpenLog();
  auto b = OpenLog();  // a second writer on the same database
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((i % 2 ? a : b)->Append(Decision("t", "allow")).ok());
  }
  a.reset();
  b.reset();
  auto db = RawDb();
  VerifyReport r = VerifyAll(*db);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 20u);
}

}  // namespace
}  // namespace tether::audit
