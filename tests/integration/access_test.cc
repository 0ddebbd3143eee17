// Who may call what: DESIGN.md's table, one named test per row and per
// refusal that matters.
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    std::tie(task_id_, task_token_) = server_.StartTask();
    std::tie(other_id_, other_token_) = server_.StartTask();
    ASSERT_FALSE(task_token_.empty());
    ASSERT_FALSE(other_token_.empty());
  }
  int Status(const std::string& method, const std::string& path,
             const std::string& token, const std::string& body = "{}") {
    return server_.Call(method, path, token, method == "GET" ? "" : body)
        .status;
  }
  TetherServer server_;
  std::string task_id_, task_token_, other_id_, other_token_;
};

// Task tokens.

TEST_F(AccessTest, TaskTokenMayAuthorize) {
  EXPECT_EQ(server_.Decide(task_token_, "git.fetch", "Repo", "acme/api"),
            "allow");
}

TEST_F(AccessTest, TaskTokenMayReadItsOwnTask) {
  EXPECT_EQ(Status("GET", "/v1/tasks/" + task_id_, task_token_), 200);
}

TEST_F(AccessTest, TaskTokenCannotReadAnotherTask) {
  EXPECT_EQ(Status("GET", "/v1/tasks/" + other_id_, task_token_), 403);
}

TEST_F(AccessTest, TaskTokenCannotEndAnotherTask) {
  EXPECT_EQ(Status("POST", "/v1/tasks/" + other_id_ + "/end", task_token_),
            403);
  EXPECT_EQ(server_.Decide(other_token_, "git.fetch", "Repo", "acme/api"),
            "allow");
}

TEST_F(AccessTest, TaskTokenCannotHeartbeatAnotherTask) {
  EXPECT_EQ(
      Status("POST", "/v1/tasks/" + other_id_ + "/heartbeat", task_token_),
      403);
}

TEST_F(AccessTest, TaskTokenCannotListTasks) {
  EXPECT_EQ(Status("GET", "/v1/tasks", task_token_), 403);
}

TEST_F(AccessTest, TaskTokenCannotStartTasks) {
  EXPECT_EQ(Status("POST", "/v1/tasks", task_token_, R"({"repo":"acme/api"})"),
            403);
}

TEST_F(AccessTest, TaskTokenCannotRevoke) {
  EXPECT_EQ(Status("POST", "/v1/revocations", task_token_,
                   R"({"task":")" + other_id_ + R"("})"),
            403);
  EXPECT_EQ(server_.Decide(other_token_, "git.fetch", "Repo", "acme/api"),
            "allow");
}

TEST_F(AccessTest, TaskTokenCannotReload) {
  EXPECT_EQ(Status("POST", "/v1/admin/reload", task_token_), 403);
}

TEST_F(AccessTest, TaskTokenCannotRotateKeys) {
  EXPECT_EQ(Status("POST", "/v1/admin/keys/rotate", task_token_), 403);
}

TEST_F(AccessTest, TaskTokenCannotCreateOperatorTokens) {
  EXPECT_EQ(Status("POST", "/v1/admin/tokens", task_token_,
                   R"({"name":"mallory","role":"admin"})"),
            403);
}

TEST_F(AccessTest, TaskTokenCannotReadTheAudit) {
  EXPECT_EQ(Status("GET", "/v1/audit", task_token_), 403);
  EXPECT_EQ(Status("GET", "/v1/audit/verify", task_token_), 403);
}

// Workload identities.

TEST_F(AccessTest, WorkloadMayStartTasks) {
  EXPECT_EQ(Status("POST", "/v1/tasks", server_.IdentityToken(),
                   R"({"repo":"acme/api"})"),
            201);
}

TEST_F(AccessTest, WorkloadCannotAuthorizeWithoutATask) {
  json::value body = json::object{
      {"action", "git.fetch"},
      {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}};
  EXPECT_EQ(
      server_.CallJson("POST", "/v1/authorize", server_.IdentityToken(), body)
          .status,
      403);
}

TEST_F(AccessTest, WorkloadCannotReadListOrEndTasks) {
  std::string id = server_.IdentityToken();
  EXPECT_EQ(Status("GET", "/v1/tasks", id), 403);
  EXPECT_EQ(Status("GET", "/v1/tasks/" + task_id_, id), 403);
  EXPECT_EQ(Status("POST", "/v1/tasks/" + task_id_ + "/end", id), 403);
}

TEST_F(AccessTest, WorkloadCannotRevokeReloadOrReadAudit) {
  std::string id = server_.IdentityToken();
  EXPECT_EQ(Status("POST", "/v1/revocations", id, R"({"all":true})"), 403);
  EXPECT_EQ(Status("POST", "/v1/admin/reload", id), 403);
  EXPECT_EQ(Status("GET", "/v1/audit", id), 403);
}

// Operators by role.

TEST_F(AccessTest, ApproverMayReadTasksOnly) {
  std::string t =
      server_.OperatorToken("ada", "approver", {"release-managers"});
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(Status("GET", "/v1/tasks", t), 200);
  EXPECT_EQ(Status("GET", "/v1/tasks/" + task_id_, t), 200);
  EXPECT_EQ(Status("GET", "/v1/audit", t), 403);
  EXPECT_EQ(
      Status("POST", "/v1/revocations", t, R"({"task":")" + task_id_ + R"("})"),
      403);
  EXPECT_EQ(Status("POST", "/v1/tasks/" + task_id_ + "/end", t), 403);
  EXPECT_EQ(Status("POST", "/v1/admin/reload", t), 403);
  EXPECT_EQ(Status("POST", "/v1/tasks", t, R"({"repo":"acme/api"})"), 403);
}

TEST_F(AccessTest, AuditorMayReadAuditAndTasksOnly) {
  std::string t = server_.OperatorToken("grace", "auditor");
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(Status("GET", "/v1/audit", t), 200);
  EXPECT_EQ(Status("GET", "/v1/audit/verify", t), 200);
  EXPECT_EQ(Status("GET", "/v1/tasks", t), 200);
  EXPECT_EQ(Status("POST", "/v1/revocations", t, R"({"all":true})"), 403);
  EXPECT_EQ(Status("POST", "/v1/admin/keys/rotate", t), 403);
  EXPECT_EQ(
      Status("POST", "/v1/admin/tokens", t, R"({"name":"x","role":"admin"})"),
      403);
}

TEST_F(AccessTest, AdminMayDoEverything) {
  const std::string& t = server_.admin_token();
  EXPECT_EQ(Status("GET", "/v1/tasks", t), 200);
  EXPECT_EQ(Status("GET", "/v1/tasks/" + task_id_, t), 200);
  EXPECT_EQ(Status("GET", "/v1/audit", t), 200);
  EXPECT_EQ(Status("POST", "/v1/admin/reload", t), 200);
  EXPECT_EQ(Status("POST", "/v1/admin/keys/rotate", t), 200);
  EXPECT_EQ(Status("POST", "/v1/tasks", t, R"({"repo":"acme/infra"})"), 201);
  EXPECT_EQ(Status("POST", "/v1/tasks/" + task_id_ + "/heartbeat", t), 200);
  EXPECT_EQ(Status("POST", "/v1/tasks/" + task_id_ + "/end", t), 200);
  EXPECT_EQ(Status("POST", "/v1/revocations", t,
                   R"({"task":")" + other_id_ + R"("})"),
            201);
}

TEST_F(AccessTest, OperatorCannotAuthorize) {
  json::value body = json::object{
      {"action", "git.fetch"},
      {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}};
  EXPECT_EQ(
      server_.CallJson("POST", "/v1/authorize", server_.admin_token(), body)
          .status,
      403);
}

// Anyone.

TEST_F(AccessTest, AnonymousMayReadHealthReadinessAndJwksOnly) {
  EXPECT_EQ(Status("GET", "/healthz", ""), 200);
  EXPECT_EQ(Status("GET", "/readyz", ""), 200);
  EXPECT_EQ(Status("GET", "/.well-known/jwks.json", ""), 200);
  EXPECT_EQ(Status("GET", "/metrics", ""), 200);  // from loopback
  Reply r = server_.Call("GET", "/v1/tasks");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_code(), "unauthenticated");
  EXPECT_EQ(Status("POST", "/v1/authorize", ""), 401);
  EXPECT_EQ(Status("POST", "/v1/revocations", ""), 401);
}

TEST_F(AccessTest, ForgedOperatorTokenIsRejected) {
  std::string forged = server_.admin_token();
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Status("GET", "/v1/tasks", forged), 401);
  EXPECT_EQ(Status("GET", "/v1/tasks",
                   "tto_0000000000000000_" + std::string(43, 'A')),
            401);
}

TEST_F(AccessTest, OperatorTokenIsShownOnceAndNamesAreUnique) {
  std::string t = server_.OperatorToken("lin", "auditor");
  ASSERT_FALSE(t.empty());
  Reply again = server_.Call("POST", "/v1/admin/tokens", server_.admin_token(),
                             R"({"name":"lin","role":"auditor"})");
  EXPECT_EQ(again.status, 409) << again.body;
  Reply bad_role =
      server_.Call("POST", "/v1/admin/tokens", server_.admin_token(),
                   R"({"name":"kim","role":"root"})");
  EXPECT_EQ(bad_role.status, 400) << bad_role.body;
}

}  // namespace
}  // namespace tether::testing
