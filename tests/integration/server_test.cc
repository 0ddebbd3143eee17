// The broker server end to end: the real binary on an ephemeral port, real
// keys, real SQLite; every request through HTTP.
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "core/time.h"
#include "tests/integration/tether_server.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
  }
  TetherServer server_;
};

// --- the core loop ----------------------------------------------------------

TEST_F(ServerTest, WorkloadStartsTaskAndGetsDecisions) {
  Reply r = server_.CallJson(
      "POST", "/v1/tasks", server_.IdentityToken(),
      json::value(json::object{{"repo", "Acme/API.git"},
                               {"intent", "fix the login bug"},
                               {"labels", json::array{"untrusted_input"}}}));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Field("/task/repo"), "acme/api");  // canonical
  EXPECT_EQ(r.Field("/decision/decision"), "allow");
  std::string token = r.Field("/token");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  // Another repository, a protected branch: denied.
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/infra"), "deny");
  EXPECT_EQ(
      server_.Decide(token, "git.push", "Repo", "acme/api", {{"ref", "main"}}),
      "deny");
}

TEST_F(ServerTest, DecisionCarriesPolicyIdsAndIsAudited) {
  auto [id, token] = server_.StartTask();
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "git.fetch"},
          {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Field("/determining_policies/0"), "read-own-repo");
  std::string decision_id = r.Field("/decision_id");
  ASSERT_FALSE(decision_id.empty());
  Reply audit = server_.Call("GET", "/v1/audit?type=authz.decision&task=" + id,
                             server_.admin_token());
  ASSERT_EQ(audit.status, 200) << audit.body;
  bool found = false;
  for (const auto& e : audit.json.at("events").as_array()) {
    if (e.at("decision_id").as_string() == decision_id) {
      found = true;
      EXPECT_EQ(e.at("decision").as_string(), "allow");
      EXPECT_EQ(e.at("policy_set_sha256").as_string().size(), 64u);
    }
  }
  EXPECT_TRUE(found) << audit.body;
}

TEST_F(ServerTest, RequestDigestIsCanonical) {
  auto [id, token] = server_.StartTask();
  auto decide = [&](const std::string& context) {
    Reply r = server_.Call(
        "POST", "/v1/authorize", token,
        R"({"context":)" + context +
            R"(,"resource":{"id":"acme/api","type":"Repo"},"action":"git.fetch"})");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Field("/decision_id");
  };
  std::string a = decide(R"({"x":1,"y":"z"})");
  std::string b = decide(R"({"y":"z","x":1})");
  std::string c = decide(R"({"x":2,"y":"z"})");
  Reply audit = server_.Call("GET", "/v1/audit?type=authz.decision&task=" + id,
                             server_.admin_token());
  std::map<std::string, std::string> digest;
  for (const auto& e : audit.json.at("events").as_array()) {
    if (!e.as_object().contains("request_digest")) continue;  // task.create
    digest[std::string(e.at("decision_id").as_string())] =
        std::string(e.at("request_digest").as_string());
  }
  ASSERT_EQ(digest[a].size(), 64u);
  EXPECT_EQ(digest[a], digest[b]);  // member order does not matter
  EXPECT_NE(digest[a], digest[c]);  // the values do
}

TEST_F(ServerTest, ApprovalGatedActionAnswersApprovalRequired) {
  auto [id, token] = server_.StartTask();
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "secret.read"},
          {"resource",
           json::object{{"type", "Secret"}, {"id", "npm-publish"}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Field("/decision"), "approval_required");
  EXPECT_EQ(r.Field("/approval/requirements/0/policy"),
            "secret-read-needs-approval");
  EXPECT_EQ(r.Field("/approval/requirements/0/groups/0"), "security");
}

TEST_F(ServerTest, RefInTaskNamespaceSetsRefTask) {
  auto [id, token] = server_.StartTask();
  // Through the api edge writes are forbidden (writes-only-through-proxy), so
  // read the derived key back from the audit record instead.
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "git.push"},
          {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}},
          {"context", json::object{{"ref", "agent/" + id + "/fix"}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  Reply audit = server_.Call("GET", "/v1/audit?type=authz.decision&task=" + id,
                             server_.admin_token());
  const auto& events = audit.json.at("events").as_array();
  ASSERT_FALSE(events.empty());
  const auto& ctx = events.back().at("detail").at("context");
  EXPECT_EQ(ctx.at("ref").as_string(), "refs/heads/agent/" + id + "/fix");
  EXPECT_EQ(ctx.at("ref_task").at("__entity").at("id").as_string(), id);
  EXPECT_EQ(ctx.at("edge").as_string(), "api");
}

TEST_F(ServerTest, HookLabelIsAnEdgeNotATrustLevel) {
  auto [id, token] = server_.StartTask();
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "github.issues.comment"},
          {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}},
          {"via", "hook"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  // A write through a hook is still not a write through the proxy.
  EXPECT_EQ(r.Field("/decision"), "deny");
}

TEST_F(ServerTest, ResourceNamingTheTaskItselfKeepsItsAttributes) {
  auto [id, token] = server_.StartTask();
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "github.issues.comment"},
          {"resource", json::object{{"type", "Task"}, {"id", id}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Field("/decision"), "deny");
  // forbid-prod-writes-without-approved-ticket reads principal.environment:
  // with the task's real attributes it evaluates without error.
  EXPECT_EQ(r.Field("/errors"), "[]") << r.body;
}

TEST_F(ServerTest, UnknownActionIsDenied) {
  auto [id, token] = server_.StartTask();
  EXPECT_EQ(server_.Decide(token, "git.force_everything", "Repo", "acme/api"),
            "deny");
}

TEST_F(ServerTest, UnknownResourceTypeIsDenied) {
  auto [id, token] = server_.StartTask();
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Spaceship", "enterprise"),
            "deny");
}

TEST_F(ServerTest, TaskGetHeartbeatEndWithItsOwnToken) {
  auto [id, token] = server_.StartTask("acme/api", {{"lease_seconds", 60}});
  Reply get = server_.Call("GET", "/v1/tasks/" + id, token);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.Field("/task/state"), "active");
  Reply hb =
      server_.Call("POST", "/v1/tasks/" + id + "/heartbeat", token, "{}");
  EXPECT_EQ(hb.status, 200) << hb.body;
  Reply end = server_.Call("POST", "/v1/tasks/" + id + "/end", token,
                           R"({"reason":"done"})");
  ASSERT_EQ(end.status, 200) << end.body;
  EXPECT_EQ(end.Field("/task/state"), "ended");
  EXPECT_EQ(end.Field("/task/end_reason"), "done");
  // Ending a task revokes its token.
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
  EXPECT_EQ(server_.Call("GET", "/v1/tasks/" + id, token).status, 403);
}

TEST_F(ServerTest, TaskWithoutHeartbeatEndsWhenItsLeaseLapses) {
  auto [id, token] = server_.StartTask("acme/api", {{"lease_seconds", 1}});
  ASSERT_FALSE(token.empty());
  std::string state;
  for (int i = 0; i < 100 && state != "ended"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    state = server_.Call("GET", "/v1/tasks/" + id, server_.admin_token())
                .Field("/task/state");
  }
  EXPECT_EQ(state, "ended");
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
}

TEST_F(ServerTest, TtlDefaultsToAnHourAndIsCappedByConfig) {
  auto lifetime = [&](const json::object& extra) {
    auto [id, token] = server_.StartTask("acme/api", extra);
    Reply get = server_.Call("GET", "/v1/tasks/" + id, server_.admin_token());
    return (*ParseTimeMs(get.Field("/task/expires_at")) -
            *ParseTimeMs(get.Field("/task/created_at"))) /
           1000;
  };
  EXPECT_EQ(lifetime({}), 3600);
  EXPECT_EQ(lifetime({{"ttl_seconds", 120}}), 120);
  EXPECT_EQ(lifetime({{"ttl_seconds", 10'000'000}}), 86400);
}

TEST_F(ServerTest, WorkloadCannotStartTaskInAnotherRepo) {
  Reply r = server_.CallJson("POST", "/v1/tasks", server_.IdentityToken(),
                             json::value(json::object{{"repo", "acme/infra"}}));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.error_code(), "denied");
  EXPECT_EQ(r.Field("/decision/decision"), "deny");
}

TEST_F(ServerTest, ProductionTaskNeedsAVerifiedTicket) {
  Reply r = server_.CallJson(
      "POST", "/v1/tasks", server_.IdentityToken(),
      json::value(json::object{
          {"repo", "acme/api"},
          {"environment", "prod"},
          // The caller's word is not a verified ticket.
          {"ticket", json::object{{"id", "OPS-1"}, {"state", "approved"}}}}));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.Field("/decision/determining_policies/0"),
            "no-direct-production-tasks-without-ticket");
}

// --- revocation -------------------------------------------------------------

TEST_F(ServerTest, RevokedTaskIsDeniedOnTheNextRequest) {
  auto [id, token] = server_.StartTask();
  ASSERT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  Reply r = server_.CallJson("POST", "/v1/revocations", server_.admin_token(),
                             json::value(json::object{{"task", id}}));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
}

TEST_F(ServerTest, RevokedTokenIsDeniedOnTheNextRequest) {
  Reply start = server_.Call("POST", "/v1/tasks", server_.IdentityToken(),
                             R"({"repo":"acme/api"})");
  ASSERT_EQ(start.status, 201);
  std::string token = start.Field("/token");
  ASSERT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  // The jti, read from the audit record of the task start.
  Reply audit = server_.Call(
      "GET", "/v1/audit?type=task.start&task=" + start.Field("/task/id"),
      server_.admin_token());
  std::string jti = std::string(
      audit.json.at("events").at(0).at("detail").at("jti").as_string());
  Reply r = server_.CallJson("POST", "/v1/revocations", server_.admin_token(),
                             json::value(json::object{{"token", jti}}));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
}

TEST_F(ServerTest, RevokedIdentityCanNeitherActNorStartTasks) {
  auto [id, token] = server_.StartTask();
  Reply r = server_.CallJson(
      "POST", "/v1/revocations", server_.admin_token(),
      json::value(
          json::object{{"identity", "repo:acme/api:ref:refs/heads/main"}}));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
  Reply again = server_.Call("POST", "/v1/tasks", server_.IdentityToken(),
                             R"({"repo":"acme/api"})");
  EXPECT_EQ(again.status, 401) << again.body;
}

TEST_F(ServerTest, RevokeAllEndsEveryEarlierTask) {
  auto a = server_.StartTask();
  auto b = server_.StartTask();
  Reply r = server_.Call("POST", "/v1/revocations", server_.admin_token(),
                         R"({"all":true,"reason":"incident"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(server_.Decide(a.second, "git.fetch", "Repo", "acme/api"), "deny");
  EXPECT_EQ(server_.Decide(b.second, "git.fetch", "Repo", "acme/api"), "deny");
  auto c = server_.StartTask();
  EXPECT_EQ(server_.Decide(c.second, "git.fetch", "Repo", "acme/api"), "allow");
}

// Restarts keep the broker's URL (the tokens' issuer and audience) fixed, as
// a deployment does; the port changes.
constexpr const char* kFixedUrl = "url = \"https://tether.restart.test\"";

TEST(ServerRestartTest, RevocationSurvivesRestart) {
  TetherServer server(kFixedUrl);
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  auto [other_id, other_token] = server.StartTask();
  ASSERT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  ASSERT_EQ(server
                .CallJson("POST", "/v1/revocations", server.admin_token(),
                          json::value(json::object{{"task", id}}))
                .status,
            201);
  server.Stop();
  EXPECT_EQ(server.exit_status(), 0) << server.stderr_text();
  ASSERT_TRUE(server.Start()) << server.startup_output();
  EXPECT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
  // The other task, and its token, survive the restart too.
  EXPECT_EQ(server.Decide(other_token, "git.fetch", "Repo", "acme/api"),
            "allow");
}

TEST(ServerRestartTest, AcknowledgedRevocationSurvivesKill9) {
  TetherServer server(kFixedUrl);
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  ASSERT_EQ(
      server
          .CallJson("POST", "/v1/revocations", server.admin_token(),
                    json::value(json::object{
                        {"identity", "repo:acme/api:ref:refs/heads/main"}}))
          .status,
      201);
  server.Kill();
  ASSERT_TRUE(server.Start()) << server.startup_output();
  EXPECT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
  EXPECT_EQ(server
                .Call("POST", "/v1/tasks", server.IdentityToken(),
                      R"({"repo":"acme/api"})")
                .status,
            401);
  // And the audit chain is intact after the kill.
  Reply v = server.Call("GET", "/v1/audit/verify", server.admin_token());
  EXPECT_EQ(v.Field("/ok"), "true") << v.body;
}

TEST(ServerAuditTest, AuditFailureDeniesEveryDecision) {
  TetherServer server(kFixedUrl);
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  ASSERT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  server.Stop();
  // The audit log's sticky failure, as a failed fsync leaves it.
  WriteText(server.dir() + "/data/audit.failed", "disk full (test)\n");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  Reply r = server.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "git.fetch"},
          {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Field("/decision"), "deny");
  EXPECT_NE(r.body.find("audit log is unavailable"), std::string::npos);
  EXPECT_EQ(server.Call("GET", "/readyz").status, 503);
  Reply start = server.Call("POST", "/v1/tasks", server.IdentityToken(),
                            R"({"repo":"acme/api"})");
  EXPECT_EQ(start.status, 503) << start.body;
  EXPECT_EQ(start.error_code(), "audit_unavailable");
  Reply m = server.Call("GET", "/metrics");
  EXPECT_NE(m.body.find("tether_decisions_total{outcome=\"error\"} 2"),
            std::string::npos)
      << m.body;
  EXPECT_EQ(m.body.find("tether_audit_failures_total 0"), std::string::npos);
}

TEST(ServerRestartTest, AdminTokenIsCreatedOnceAndKeptHashed) {
  TetherServer server;
  ASSERT_TRUE(server.Start()) << server.startup_output();
  std::string first = server.admin_token();
  ASSERT_EQ(first.rfind("tto_", 0), 0u);
  server.Stop();
  ASSERT_TRUE(server.Start()) << server.startup_output();
  EXPECT_EQ(server.stderr_text().find("created the admin"),
            server.stderr_text().rfind("created the admin"));
  EXPECT_EQ(server.Call("GET", "/v1/tasks", first).status, 200);
  // The database holds no token in the clear.
  std::string db = server.dir() + "/data/tether.db";
  std::ifstream in(db, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.find(first.substr(21)), std::string::npos);
}

// --- keys -------------------------------------------------------------------

TEST_F(ServerTest, RotatedKeysKeepVerifyingOldTokens) {
  auto [id, token] = server_.StartTask();
  Reply before = server_.Call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.json.at("keys").as_array().size(), 1u);
  Reply rot = server_.Call("POST", "/v1/admin/keys/rotate",
                           server_.admin_token(), "{}");
  ASSERT_EQ(rot.status, 200) << rot.body;
  Reply after = server_.Call("GET", "/.well-known/jwks.json");
  EXPECT_EQ(after.json.at("keys").as_array().size(), 2u);
  EXPECT_EQ(server_.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  auto [id2, token2] = server_.StartTask();
  EXPECT_EQ(server_.Decide(token2, "git.fetch", "Repo", "acme/api"), "allow");
  // The new token names the new key.
  EXPECT_NE(token2.substr(0, token2.find('.')),
            token.substr(0, token.find('.')));
}

TEST_F(ServerTest, KeyFilesAreOwnerOnly) {
  for (const auto& e :
       std::filesystem::directory_iterator(server_.dir() + "/data/keys")) {
    auto perms = std::filesystem::status(e.path()).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all |
                       std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << e.path();
  }
}

TEST(ServerStartTest, RefusesAKeyFileOthersCanRead) {
  TetherServer server;
  ASSERT_TRUE(server.Start()) << server.startup_output();
  server.Stop();
  for (const auto& e :
       std::filesystem::directory_iterator(server.dir() + "/data/keys")) {
    if (e.path().filename().string().rfind("token-signing-", 0) == 0) {
      std::filesystem::permissions(e.path(),
                                   std::filesystem::perms::others_read,
                                   std::filesystem::perm_options::add);
    }
  }
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.startup_output().find("token-signing-"), std::string::npos)
      << server.startup_output();
}

// --- policies ---------------------------------------------------------------

TEST(ServerPolicyTest, PolicyWithoutIdRefusesToLoad) {
  std::string dir = MakeTempDir("tether-policies");
  std::string policies = CopyExamplePolicies(dir);
  WriteText(policies + "/99-anonymous.cedar",
            "permit (principal, action, resource);\n");
  TetherServer server("", "", policies);
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.startup_output().find("99-anonymous.cedar:1:1"),
            std::string::npos)
      << server.startup_output();
  std::filesystem::remove_all(dir);
}

TEST(ServerPolicyTest, DuplicatePolicyIdRefusesToLoad) {
  std::string dir = MakeTempDir("tether-policies");
  std::string policies = CopyExamplePolicies(dir);
  WriteText(policies + "/99-dup.cedar",
            "@id(\"read-own-repo\")\npermit (principal, action, resource);\n");
  TetherServer server("", "", policies);
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.startup_output().find("read-own-repo"), std::string::npos)
      << server.startup_output();
  std::filesystem::remove_all(dir);
}

TEST(ServerPolicyTest, ReloadSwapsValidSetsAndKeepsTheOldOnError) {
  std::string dir = MakeTempDir("tether-policies");
  std::string policies = CopyExamplePolicies(dir);
  TetherServer server("", "", policies);
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  ASSERT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  // A broken file: the reload is refused, decisions go on as before.
  WriteText(policies + "/99-broken.cedar", "@id(\"x\") permit (principal,");
  Reply bad =
      server.Call("POST", "/v1/admin/reload", server.admin_token(), "{}");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("99-broken.cedar:1:"), std::string::npos) << bad.body;
  EXPECT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  // A valid forbid: in force after the reload.
  WriteText(policies + "/99-broken.cedar",
            "@id(\"freeze\")\nforbid (principal, action, resource);\n");
  Reply good =
      server.Call("POST", "/v1/admin/reload", server.admin_token(), "{}");
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "deny");
  // SIGHUP reloads too.
  std::filesystem::remove(policies + "/99-broken.cedar");
  server.Signal(SIGHUP);
  std::string d;
  for (int i = 0; i < 100 && d != "allow"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    d = server.Decide(token, "git.fetch", "Repo", "acme/api");
  }
  EXPECT_EQ(d, "allow");
  server.Stop();
  std::filesystem::remove_all(dir);
}

// --- listening --------------------------------------------------------------

TEST(ServerStartTest, NonLoopbackWithoutTlsIsRefused) {
  TetherServer server;
  EXPECT_FALSE(server.Start({"--listen", "0.0.0.0:0"}));
  EXPECT_NE(server.startup_output().find("without TLS"), std::string::npos)
      << server.startup_output();
}

TEST(ServerStartTest, NonLoopbackWithInsecureStarts) {
  TetherServer server;
  EXPECT_TRUE(server.Start({"--listen", "0.0.0.0:0", "--insecure"}))
      << server.startup_output();
}

TEST_F(ServerTest, GracefulShutdownOnSigterm) {
  server_.Stop();
  EXPECT_EQ(server_.exit_status(), 0);
  EXPECT_NE(server_.stderr_text().find("shutting down"), std::string::npos);
}

// --- health and metrics -----------------------------------------------------

TEST_F(ServerTest, HealthReadinessJwksAndMetricsNeedNoToken) {
  EXPECT_EQ(server_.Call("GET", "/healthz").status, 200);
  EXPECT_EQ(server_.Call("GET", "/readyz").status, 200);
  Reply jwks = server_.Call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  const auto& key = jwks.json.at("keys").at(0).as_object();
  EXPECT_EQ(key.at("kty").as_string(), "OKP");
  EXPECT_FALSE(key.contains("d"));  // never the private part
  auto [id, token] = server_.StartTask();
  server_.Decide(token, "git.fetch", "Repo", "acme/api");
  server_.Decide(token, "git.fetch", "Repo", "acme/infra");
  Reply m = server_.Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("tether_decisions_total{outcome=\"allow\"} 2"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("tether_decisions_total{outcome=\"deny\"} 1"),
            std::string::npos);
  EXPECT_NE(m.body.find("tether_active_tasks 1"), std::string::npos);
  EXPECT_NE(m.body.find("tether_decision_latency_seconds_bucket"),
            std::string::npos);
  EXPECT_NE(m.body.find("tether_audit_failures_total 0"), std::string::npos);
}

}  // namespace
}  // namespace tether::testing
