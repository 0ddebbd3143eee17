// Helpers for audit tests: a temporary data directory with keys and a log.
#ifndef TETHER_TESTS_UNIT_AUDIT_AUDIT_TEST_UTIL_H_
#define TETHER_TESTS_UNIT_AUDIT_AUDIT_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "audit/log.h"

namespace tether::audit {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-audit-" + std::to_string(getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto keys = LoadOrCreateAuditKeys((dir_ / "keys").string());
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    keys_.emplace(std::move(*keys));
    options_.db_path = (dir_ / "audit.db").string();
    options_.failure_marker = (dir_ / "audit.failed").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<AuditLog> OpenLog(
      std::shared_ptr<const Redactor> redactor = nullptr) {
    auto log = AuditLog::Open(options_, *keys_, std::move(redactor));
    EXPECT_TRUE(log.ok()) << log.error().message;
    return log.ok() ? std::move(*log) : nullptr;
  }

  static Event Decision(const std::string& task, const std::string& decision) {
    Event e;
    e.type = "authz.decision";
    e.task_id = task;
    e.principal = "Task::\"" + task + "\"";
    e.action = "Action::\"git.push\"";
    e.resource = "Repo::\"acme/api\"";
    e.decision = decision;
    e.determining_policies = {"push-own-namespace"};
    e.edge = "proxy";
    e.latency_us = 42;
    return e;
  }

  std::filesystem::path dir_;
  std::optional<AuditKeys> keys_;
  AuditOptions options_;
};

}  // namespace tether::audit

#endif  // TETHER_TESTS_UNIT_AUDIT_AUDIT_TEST_UTIL_H_
