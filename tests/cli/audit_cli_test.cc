// Runs the real `tether audit` commands against a log written by the test
// writer process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "store/sqlite.h"
#include "tests/support/run_command.h"

namespace tether {
namespace {

using Outcome = testing::CommandResult;

Outcome Shell(const std::string& cmd) { return testing::RunCommand(cmd); }

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("tether-audit-cli-" + std::to_string(getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Outcome w = Shell(std::string(TETHER_AUDIT_WRITER) + " --data-dir " + dir_ +
                      " --threads 4 --events 30 > /dev/null");
    ASSERT_EQ(w.status, 0) << w.output;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Outcome Tether(const std::string& args) {
    return Shell(std::string(TETHER_BIN) + " audit --data-dir " + dir_ + " " +
                 args);
  }
  std::string dir_;
};

TEST_F(AuditCliTest, VerifyPrintsASummary) {
  Outcome r = Tether("verify");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ok: 120 records"), std::string::npos) << r.output;
}

TEST_F(AuditCliTest, VerifyNamesTheFirstBadRecord) {
  {
    auto db = store::SqliteDb::Open(dir_ + "/audit.db", {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("UPDATE events SET body = replace(body, "
                           "'\"decision\":\"', '\"decision\":\"x') "
                           "WHERE seq = 42")
                    .ok());
  }
  Outcome r = Tether("verify");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("FAILED at sequence 42"), std::string::npos)
      << r.output;
}

TEST_F(AuditCliTest, QueryFiltersAndPrintsJson) {
  Outcome all = Tether("query --type authz.decision --json");
  ASSERT_EQ(all.status, 0) << all.output;
  EXPECT_EQ(std::count(all.output.begin(), all.output.end(), '\n'), 120);
  Outcome task = Tether("query --task task-2 --json");
  ASSERT_EQ(task.status, 0);
  EXPECT_EQ(std::count(task.output.begin(), task.output.end(), '\n'), 30);
  EXPECT_NE(task.output.find("\"task_id\":\"task-2\""), std::string::npos);
  Outcome table = Tether("query --since 1h --until 0m");
  EXPECT_EQ(table.status, 0);
  EXPECT_NE(table.output.find("authz.decision"), std::string::npos);
  Outcome bad = Tether("query --since yesterday");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("`yesterday` is not an RFC 3339 time"),
            std::string::npos);
}

TEST_F(AuditCliTest, TailShowsTheLatest) {
  Outcome r = Tether("tail -n 5 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 5);
  EXPECT_NE(r.output.find("\"seq\":120"), std::string::npos);
}

TEST_F(AuditCliTest, HashIsStableAndKeyed) {
  Outcome a = Tether("hash Task::\\\"t1\\\"");
  Outcome b = Tether("hash Task::\\\"t1\\\"");
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.output.rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(a.output.size(), std::string("hmac-sha256:").size() + 64 + 1);
}

TEST_F(AuditCliTest, ResumeLiftsAStickyFailure) {
  Outcome nothing = Tether("resume --reason test");
  EXPECT_EQ(nothing.status, 0);
  EXPECT_NE(nothing.output.find("not in a failed state"), std::string::npos);
  std::ofstream(dir_ + "/audit.failed")
      << "store_full: database or disk is full\n";
  Outcome r = Tether("resume --reason \"disk cleaned\"");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resumed"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/audit.failed"));
  Outcome q = Tether("query --type audit.resume --json");
  EXPECT_NE(q.output.find("disk cleaned"), std::string::npos) << q.output;
  EXPECT_EQ(Tether("verify").status, 0);
}

TEST_F(AuditCliTest, MissingLogAndBadConfigAreClearErrors) {
  Outcome r = Shell(std::string(TETHER_BIN) + " audit --data-dir " + dir_ +
                    "/nowhere verify");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no audit log"), std::string::npos) << r.output;
  std::ofstream(dir_ + "/bad.toml") << "[audit]\ncheckpoint_every = \"x\"\n";
  Outcome c = Shell(std::string(TETHER_BIN) + " audit --config " + dir_ +
                    "/bad.toml verify");
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.output.find("bad.toml:2:"), std::string::npos) << c.output;
}

}  // namespace
}  // namespace tether
