// Approval semantics against the real server (docs/approvals.md): an
// approval covers exactly the request it was raised for, the number of
// times granted, while it lives, for a task that is still active, decided
// by the right people.
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"
#include "tests/support/http_test_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kPolicies = R"cedar(
@id("workloads-start-tasks-in-their-repo")
permit (principal is Agent, action == Action::"task.create", resource is Repo)
when { principal has repo && resource == principal.repo };

@id("admins-start-tasks")
permit (principal is Operator, action == Action::"task.create", resource is Repo)
when { principal.role == "admin" };

@id("read-own-repo")
permit (principal is Task, action == Action::"github.read", resource is Repo);

@id("secret-read-needs-approval")
@approval("security")
permit (principal is Task, action == Action::"secret.read", resource is Secret);

@id("publish-needs-two-approvers")
@approval("release-managers, security")
@approvals_required("2")
permit (principal is Task, action == Action::"registry.publish", resource is Repo);
)cedar";

constexpr const char* kForbidSecrets = R"cedar(
@id("secrets-frozen")
forbid (principal, action == Action::"secret.read", resource);
)cedar";

class ApprovalsTest : public ::testing::Test {
 protected:
  // A fixed public URL: task tokens name it, and must outlive a restart.
  explicit ApprovalsTest(std::string approvals = "")
      : policies_(MakeTempDir("tether-approval-policies")),
        server_("url = \"https://tether.approvals.test\"",
                "[approvals]\n" + approvals + "\n", policies_) {
    WriteText(policies_ + "/policies.cedar", kPolicies);
  }
  ~ApprovalsTest() override {
    std::error_code ec;
    std::filesystem::remove_all(policies_, ec);
  }
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    std::tie(task_id_, task_token_) = server_.StartTask();
    ASSERT_FALSE(task_token_.empty());
    security_ = server_.OperatorToken("sam", "approver", {"security"});
    security2_ = server_.OperatorToken("sue", "approver", {"security"});
    release_ = server_.OperatorToken("rita", "approver", {"release-managers"});
    auditor_ = server_.OperatorToken("audrey", "auditor", {"security"});
  }

  // POST /v1/authorize for secret.read on `secret`, with `extra` members.
  Reply Ask(const std::string& token, const std::string& action = "secret.read",
            const std::string& type = "Secret",
            const std::string& id = "npm-publish",
            json::object context = {{"purpose", "publish 1.4.0"}},
            json::object extra = {}) {
    json::object b = std::move(extra);
    b["action"] = action;
    b["resource"] = json::object{{"type", type}, {"id", id}};
    b["context"] = std::move(context);
    return server_.CallJson("POST", "/v1/authorize", token, json::value(b));
  }
  Reply AskSecret(json::object extra = {}) {
    return Ask(task_token_, "secret.read", "Secret", "npm-publish",
               {{"purpose", "publish 1.4.0"}}, std::move(extra));
  }
  Reply Approve(const std::string& id, const std::string& token,
                json::object body = {{"reason", "checked the release"}}) {
    return server_.CallJson("POST", "/v1/approvals/" + id + "/approve", token,
                            json::value(body));
  }
  Reply Deny(const std::string& id, const std::string& token,
             const std::string& reason = "not during the freeze") {
    return server_.CallJson("POST", "/v1/approvals/" + id + "/deny", token,
                            json::value(json::object{{"reason", reason}}));
  }
  std::string State(const std::string& id) {
    return server_.Call("GET", "/v1/approvals/" + id, auditor_).Field("/state");
  }
  // The task's newest pending approval, once one appears (up to 5 s).
  std::string AwaitPending() {
    for (int i = 0; i < 100; ++i) {
      Reply list = server_.Call(
          "GET", "/v1/approvals?state=pending&task=" + task_id_, security_);
      if (!list.json.at("approvals").as_array().empty()) {
        return list.Field("/approvals/0/id");
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return "";
  }
  std::vector<std::string> AuditTypes(const std::string& approval_id) {
    Reply r = server_.Call("GET", "/v1/audit?task=" + task_id_,
                           server_.admin_token());
    std::vector<std::string> types;
    for (const json::value& e : r.json.at("events").as_array()) {
      const json::object& o = e.as_object();
      if (const json::value* a = o.if_contains("approval_id");
          a && a->as_string() == approval_id) {
        types.emplace_back(o.at("type").as_string());
      }
    }
    return types;
  }

  std::string policies_;
  TetherServer server_;
  std::string task_id_, task_token_;
  std::string security_, security2_, release_, auditor_;
};

TEST_F(ApprovalsTest, ApproveThenAllowOnce) {
  Reply first = AskSecret();
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Field("/decision"), "approval_required");
  std::string id = first.Field("/approval/id");
  ASSERT_FALSE(id.empty()) << first.body;
  EXPECT_FALSE(first.Field("/approval/expires_at").empty());
  EXPECT_EQ(first.Field("/approval/requirements/0/policy"),
            "secret-read-needs-approval");

  Reply shown = server_.Call("GET", "/v1/approvals/" + id, security_);
  EXPECT_EQ(shown.Field("/state"), "pending");
  EXPECT_EQ(shown.Field("/task/id"), task_id_);
  EXPECT_EQ(shown.Field("/action"), "secret.read");
  EXPECT_EQ(shown.Field("/context/purpose"), "publish 1.4.0");
  EXPECT_NE(shown.Field("/requirements/0/text").find("@approval(\"security\")"),
            std::string::npos)
      << shown.body;

  Reply approved = Approve(id, security_);
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.Field("/state"), "approved");
  EXPECT_EQ(approved.Field("/approvals/0/name"), "sam");

  Reply allowed = AskSecret();
  EXPECT_EQ(allowed.Field("/decision"), "allow") << allowed.body;
  EXPECT_EQ(allowed.Field("/approval/id"), id);
  EXPECT_NE(allowed.body.find("approved by sam"), std::string::npos);

  Reply again = AskSecret();
  EXPECT_EQ(again.Field("/decision"), "approval_required") << again.body;
  EXPECT_NE(again.Field("/approval/id"), id);

  std::vector<std::string> types = AuditTypes(id);
  for (const char* t :
       {"approval.request", "approval.decision", "approval.use"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  }
}

TEST_F(ApprovalsTest, ReuseDenied) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  ASSERT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "allow");
  Reply reused = AskSecret({{"approval_id", id}});
  EXPECT_EQ(reused.Field("/decision"), "deny");
  EXPECT_NE(reused.body.find("has been used"), std::string::npos)
      << reused.body;
}

TEST_F(ApprovalsTest, GrantedUsesAreCounted) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_, {{"reason", "twice"}, {"uses", 2}}).status,
            200);
  EXPECT_EQ(AskSecret().Field("/decision"), "allow");
  EXPECT_EQ(AskSecret().Field("/decision"), "allow");
  EXPECT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "deny");
  EXPECT_EQ(
      server_.Call("GET", "/v1/approvals/" + id, security_).Field("/uses"),
      "2");
}

TEST_F(ApprovalsTest, ReplayForDifferentRequestDenied) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  // Another context, another resource: the approval names neither.
  Reply other_context =
      Ask(task_token_, "secret.read", "Secret", "npm-publish",
          {{"purpose", "publish 9.9.9"}}, {{"approval_id", id}});
  EXPECT_EQ(other_context.Field("/decision"), "deny");
  EXPECT_NE(other_context.body.find("different request"), std::string::npos);
  Reply other_secret = Ask(task_token_, "secret.read", "Secret", "aws-prod",
                           {{"purpose", "publish 1.4.0"}});
  EXPECT_EQ(other_secret.Field("/decision"), "approval_required");
  EXPECT_NE(other_secret.Field("/approval/id"), id);
  // Another task presenting the approval gets nothing either.
  auto [other_task, other_token] = server_.StartTask();
  Reply other_task_reply =
      Ask(other_token, "secret.read", "Secret", "npm-publish",
          {{"purpose", "publish 1.4.0"}}, {{"approval_id", id}});
  EXPECT_EQ(other_task_reply.Field("/decision"), "deny");
  // The approved request itself is still allowed, once.
  EXPECT_EQ(AskSecret().Field("/decision"), "allow");
}

TEST_F(ApprovalsTest, IdenticalPendingRequestsMerge) {
  std::string a = AskSecret().Field("/approval/id");
  std::string b = AskSecret().Field("/approval/id");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  Reply list = server_.Call(
      "GET", "/v1/approvals?state=pending&task=" + task_id_, security_);
  EXPECT_EQ(list.json.at("approvals").as_array().size(), 1u) << list.body;
}

TEST_F(ApprovalsTest, SelfApprovalDenied) {
  // An admin in the right group starts a task and tries to approve it.
  std::string ops = server_.OperatorToken("olga", "admin", {"security"});
  Reply task =
      server_.CallJson("POST", "/v1/tasks", ops,
                       json::value(json::object{{"repo", "acme/api"}}));
  ASSERT_EQ(task.status, 201) << task.body;
  std::string token = task.Field("/token");
  std::string id = Ask(token).Field("/approval/id");
  ASSERT_FALSE(id.empty());
  Reply self = Approve(id, ops);
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_NE(self.body.find("owner or agent"), std::string::npos);
  EXPECT_EQ(State(id), "pending");
  EXPECT_EQ(Approve(id, security_).status, 200);
}

TEST_F(ApprovalsTest, WrongGroupDenied) {
  std::string id = AskSecret().Field("/approval/id");
  Reply wrong = Approve(id, release_);
  EXPECT_EQ(wrong.status, 403) << wrong.body;
  EXPECT_NE(wrong.body.find("security"), std::string::npos);
  EXPECT_EQ(Approve(id, auditor_).status, 403);  // auditors never decide
  EXPECT_EQ(Deny(id, release_).status, 403);
  EXPECT_EQ(State(id), "pending");
  EXPECT_EQ(AskSecret().Field("/decision"), "approval_required");
}

TEST_F(ApprovalsTest, TwoPersonRule) {
  Reply first = Ask(task_token_, "registry.publish", "Repo", "acme/api", {});
  ASSERT_EQ(first.Field("/decision"), "approval_required") << first.body;
  EXPECT_EQ(first.Field("/approval/requirements/0/approvers"), "2");
  std::string id = first.Field("/approval/id");
  ASSERT_EQ(Approve(id, release_).status, 200);
  EXPECT_EQ(State(id), "pending");
  EXPECT_EQ(Approve(id, release_).status, 409);  // not twice by one person
  Reply still = Ask(task_token_, "registry.publish", "Repo", "acme/api", {});
  EXPECT_EQ(still.Field("/decision"), "approval_required");
  EXPECT_EQ(still.Field("/approval/id"), id);
  Reply second = Approve(id, security_);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Field("/state"), "approved");
  EXPECT_EQ(Ask(task_token_, "registry.publish", "Repo", "acme/api", {})
                .Field("/decision"),
            "allow");
}

TEST_F(ApprovalsTest, RevokedTaskApprovalUseless) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  Reply revoked = server_.CallJson(
      "POST", "/v1/revocations", server_.admin_token(),
      json::value(json::object{{"task", task_id_}, {"reason", "incident"}}));
  ASSERT_EQ(revoked.status, 201) << revoked.body;
  EXPECT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "deny");
  EXPECT_EQ(State(id), "expired");
}

TEST_F(ApprovalsTest, PendingApprovalOfEndedTaskCannotBeApproved) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(server_.Call("POST", "/v1/tasks/" + task_id_ + "/end", task_token_)
                .status,
            200);
  EXPECT_EQ(Approve(id, security_).status, 409);
  EXPECT_EQ(State(id), "expired");
}

TEST_F(ApprovalsTest, DeniedApprovalStaysDenied) {
  std::string id = AskSecret().Field("/approval/id");
  Reply denied = Deny(id, security_);
  ASSERT_EQ(denied.status, 200) << denied.body;
  EXPECT_EQ(denied.Field("/state"), "denied");
  EXPECT_EQ(denied.Field("/denial/reason"), "not during the freeze");
  Reply again = AskSecret();
  EXPECT_EQ(again.Field("/decision"), "deny");
  EXPECT_NE(again.body.find("denied by sam: not during the freeze"),
            std::string::npos)
      << again.body;
  EXPECT_EQ(Approve(id, security2_).status, 409);
}

TEST_F(ApprovalsTest, ForbidStillWinsOverAnApproval) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  WriteText(policies_ + "/zz-freeze.cedar", kForbidSecrets);
  ASSERT_EQ(
      server_.Call("POST", "/v1/admin/reload", server_.admin_token()).status,
      200);
  Reply r = AskSecret({{"approval_id", id}});
  EXPECT_EQ(r.Field("/decision"), "deny") << r.body;
  EXPECT_EQ(r.Field("/determining_policies/0"), "secrets-frozen");
}

TEST_F(ApprovalsTest, WaitSecondsReturnsOnDecision) {
  auto started = steady_clock::now();
  auto waiting = std::async(std::launch::async, [&] {
    return AskSecret({{"wait_seconds", 30}});
  });
  std::string id = AwaitPending();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(waiting.wait_for(milliseconds(300)), std::future_status::timeout)
      << "the request should be held while the approval is pending";
  ASSERT_EQ(Approve(id, security_).status, 200);
  Reply r = waiting.get();
  EXPECT_EQ(r.Field("/decision"), "allow") << r.body;
  EXPECT_LT(steady_clock::now() - started, std::chrono::seconds(10));

  // A denial releases a waiting request too.
  auto denied = std::async(std::launch::async, [&] {
    return Ask(task_token_, "secret.read", "Secret", "aws-prod", {},
               {{"wait_seconds", 30}});
  });
  std::string id2 = AwaitPending();
  ASSERT_FALSE(id2.empty());
  ASSERT_EQ(Deny(id2, security_).status, 200);
  EXPECT_EQ(denied.get().Field("/decision"), "deny");
}

TEST_F(ApprovalsTest, WaitEndsWithApprovalRequired) {
  auto started = steady_clock::now();
  Reply r = AskSecret({{"wait_seconds", 1}});
  EXPECT_EQ(r.Field("/decision"), "approval_required") << r.body;
  EXPECT_GE(steady_clock::now() - started, milliseconds(900));
  EXPECT_EQ(AskSecret({{"wait_seconds", 100000}}).status, 400);
}

TEST_F(ApprovalsTest, ApprovalsSurviveKill9) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  server_.Kill();
  ASSERT_TRUE(server_.Start()) << server_.startup_output();
  Reply after = server_.Call("GET", "/v1/approvals/" + id, auditor_);
  EXPECT_EQ(after.Field("/state"), "approved") << after.body;
  Reply allowed = AskSecret();
  EXPECT_EQ(allowed.Field("/decision"), "allow") << allowed.body;
  EXPECT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "deny");
}

TEST_F(ApprovalsTest, BadApprovalRequestsGetClearErrors) {
  std::string id = AskSecret().Field("/approval/id");
  EXPECT_EQ(Approve("ap0000000000000000000000000000", security_).status, 404);
  EXPECT_EQ(Approve("../../etc", security_).status, 404);
  EXPECT_EQ(Approve(id, security_, {{"uses", 0}}).status, 400);
  EXPECT_EQ(Approve(id, security_, {{"uses", "many"}}).status, 400);
  EXPECT_EQ(Approve(id, security_, {{"extra", true}}).status, 400);
  EXPECT_EQ(server_
                .CallJson("POST", "/v1/approvals/" + id + "/deny", security_,
                          json::value(json::object{}))
                .status,
            400);  // a denial says why
  EXPECT_EQ(server_.Call("GET", "/v1/approvals?state=maybe", security_).status,
            400);
  // The task reads its own approvals, in brief: not who decides or why.
  Reply own = server_.Call("GET", "/v1/approvals", task_token_);
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_NE(own.body.find(id), std::string::npos) << own.body;
  EXPECT_EQ(own.body.find("requirements"), std::string::npos) << own.body;
  Reply one = server_.Call("GET", "/v1/approvals/" + id, task_token_);
  EXPECT_EQ(one.Field("/state"), "pending") << one.body;
  EXPECT_EQ(one.body.find("\"task\""), std::string::npos) << one.body;
  EXPECT_EQ(server_
                .Call("GET", "/v1/approvals/ap0000000000000000000000000000",
                      task_token_)
                .status,
            404);
  EXPECT_EQ(Approve(id, task_token_).status, 403);
  EXPECT_EQ(AskSecret({{"approval_id", "not-an-id"}}).status, 400);
  EXPECT_EQ(State(id), "pending");
}

// The CLI: an agent waits in `tether authorize --wait`, an approver uses
// `tether approvals list|show|approve`.
TEST_F(ApprovalsTest, CliListShowApproveAndWait) {
  WriteText(server_.dir() + "/task.token", task_token_);
  std::string env = "TETHER_URL=" + server_.url() + " ";
  std::string agent = env + "TETHER_TASK_TOKEN=" + task_token_ + " " +
                      TETHER_BIN +
                      " authorize --action secret.read --resource-type Secret "
                      "--resource-id npm-publish --context "
                      "'{\"purpose\":\"cli\"}'";
  CommandResult first = RunCommand(agent);
  EXPECT_EQ(first.status, 3) << first.output;  // approval required
  auto waiting = std::async(std::launch::async,
                            [&] { return RunCommand(agent + " --wait 30"); });
  std::string op = env + "TETHER_TOKEN=" + security_ + " " + TETHER_BIN;
  CommandResult list = RunCommand(op + " approvals list --state pending");
  ASSERT_EQ(list.status, 0) << list.output;
  json::value listed = json::parse(list.output);
  ASSERT_EQ(listed.at("approvals").as_array().size(), 1u);
  std::string id(listed.at("approvals").at(0).at("id").as_string());
  CommandResult show = RunCommand(op + " approvals show " + id);
  EXPECT_EQ(show.status, 0);
  EXPECT_NE(show.output.find("\"purpose\":\"cli\""), std::string::npos);
  EXPECT_EQ(waiting.wait_for(milliseconds(200)), std::future_status::timeout);
  CommandResult deny_no_reason = RunCommand(op + " approvals deny " + id);
  EXPECT_NE(deny_no_reason.status, 0);
  CommandResult wrong =
      RunCommand(env + "TETHER_TOKEN=" + release_ + " " + TETHER_BIN +
                 " approvals approve " + id + " --reason mine");
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.output.find("forbidden"), std::string::npos) << wrong.output;
  CommandResult ok =
      RunCommand(op + " approvals approve " + id + " --reason 'looks right'");
  EXPECT_EQ(ok.status, 0) << ok.output;
  CommandResult waited = waiting.get();
  EXPECT_EQ(waited.status, 0) << waited.output;  // allow
  EXPECT_NE(waited.output.find("\"decision\":\"allow\""), std::string::npos);
}

// Console sessions end when their operator's identity is revoked.
TEST_F(ApprovalsTest, RevokingAnOperatorEndsTheirConsoleSession) {
  std::string jar = server_.dir() + "/cookies";
  std::string curl =
      "curl -s -o /dev/null -w '%{http_code}' -b " + jar + " -c " + jar + " ";
  CommandResult signin = RunCommand(
      curl + "-H 'Content-Type: application/json' -d '{\"token\":\"" +
      security_ + "\"}' " + server_.url() + "/ui/session");
  ASSERT_EQ(signin.output, "200");
  EXPECT_EQ(RunCommand(curl + server_.url() + "/v1/approvals").output, "200");
  Reply revoked =
      server_.CallJson("POST", "/v1/revocations", server_.admin_token(),
                       json::value(json::object{{"identity", "operator:sam"}}));
  ASSERT_EQ(revoked.status, 201) << revoked.body;
  EXPECT_EQ(RunCommand(curl + server_.url() + "/v1/approvals").output, "401");
  EXPECT_EQ(RunCommand(curl + server_.url() + "/ui/session").output, "401");
}

class ShortApprovalsTest : public ApprovalsTest {
 protected:
  ShortApprovalsTest()
      : ApprovalsTest("ttl_seconds = 1\nmax_pending_per_task = 2\n") {}
};

TEST_F(ShortApprovalsTest, Expiry) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_FALSE(id.empty());
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Approve(id, security_).status, 409);
  EXPECT_EQ(State(id), "expired");
  EXPECT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "deny");
  std::vector<std::string> types = AuditTypes(id);
  EXPECT_NE(std::find(types.begin(), types.end(), "approval.expire"),
            types.end());
}

TEST_F(ShortApprovalsTest, ApprovedButUnusedExpires) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(id, security_).status, 200);
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(AskSecret({{"approval_id", id}}).Field("/decision"), "deny");
  EXPECT_EQ(State(id), "expired");
}

TEST_F(ShortApprovalsTest, AnOldApprovalExpiringLeavesTheNewOneJoinable) {
  std::string a = AskSecret().Field("/approval/id");
  ASSERT_EQ(Approve(a, security_).status, 200);
  ASSERT_EQ(AskSecret().Field("/decision"), "allow");  // a is spent
  std::this_thread::sleep_for(milliseconds(500));
  std::string b = AskSecret().Field("/approval/id");  // the same request
  ASSERT_FALSE(b.empty());
  ASSERT_NE(a, b);
  std::this_thread::sleep_for(milliseconds(600));  // a expires, b lives
  EXPECT_EQ(State(a), "expired");
  Reply again = AskSecret();
  EXPECT_EQ(again.Field("/approval/id"), b) << again.body;
}

TEST_F(ShortApprovalsTest, ApprovalsThatRanOutWhileDownExpireAtStart) {
  std::string id = AskSecret().Field("/approval/id");
  ASSERT_FALSE(id.empty());
  server_.Kill();
  std::this_thread::sleep_for(milliseconds(1200));
  ASSERT_TRUE(server_.Start()) << server_.startup_output();
  EXPECT_EQ(State(id), "expired");
  std::vector<std::string> types = AuditTypes(id);
  EXPECT_NE(std::find(types.begin(), types.end(), "approval.expire"),
            types.end());
}

TEST_F(ShortApprovalsTest, PendingApprovalsPerTaskAreCapped) {
  EXPECT_EQ(AskSecret().Field("/decision"), "approval_required");
  EXPECT_EQ(Ask(task_token_, "secret.read", "Secret", "aws-prod", {})
                .Field("/decision"),
            "approval_required");
  Reply third = Ask(task_token_, "secret.read", "Secret", "gcp-prod", {});
  EXPECT_EQ(third.Field("/decision"), "deny");
  EXPECT_NE(third.body.find("pending"), std::string::npos) << third.body;
}

// Webhooks: one that fails once, then accepts; and a Slack-format one.
class WebhookApprovalsTest : public ::testing::Test {
 protected:
  WebhookApprovalsTest()
      : hook_([](int n, const RecordedRequest&) { return n == 0 ? 500 : 200; }),
        slack_([](int, const RecordedRequest&) { return 200; }),
        policies_(MakeTempDir("tether-approval-policies")),
        server_("",
                "[approvals]\n"
                "[[approvals.webhooks]]\nname = \"pager\"\nurl = \"" +
                    hook_.url("/hooks/approvals") +
                    "\"\nheaders = { X-Token = \"s3cret\" }\n"
                    "[[approvals.webhooks]]\nname = \"slack\"\nformat = "
                    "\"slack\"\nevents = [\"requested\"]\nurl = \"" +
                    slack_.url("/services/T000/B000") + "\"\n",
                policies_) {
    WriteText(policies_ + "/policies.cedar", kPolicies);
  }
  ~WebhookApprovalsTest() override {
    std::error_code ec;
    std::filesystem::remove_all(policies_, ec);
  }
  HttpTestServer hook_, slack_;
  std::string policies_;
  TetherServer server_;
};

TEST_F(WebhookApprovalsTest, NewAndDecidedApprovalsAreAnnounced) {
  ASSERT_TRUE(server_.Start()) << server_.startup_output();
  auto [task_id, token] = server_.StartTask();
  std::string approver = server_.OperatorToken("sam", "approver", {"security"});
  Reply r = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "secret.read"},
          {"resource",
           json::object{{"type", "Secret"}, {"id", "npm-publish"}}}}));
  std::string id = r.Field("/approval/id");
  ASSERT_FALSE(id.empty()) << r.body;
  ASSERT_EQ(server_
                .CallJson("POST", "/v1/approvals/" + id + "/approve", approver,
                          json::value(json::object{{"reason", "ok"}}))
                .status,
            200);
  // pager: requested (refused once, retried after ~1 s), then decided.
  auto deadline = steady_clock::now() + std::chrono::seconds(15);
  while (hook_.requests().size() < 3 && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  auto got = hook_.requests();
  ASSERT_GE(got.size(), 3u);
  std::vector<std::string> types;
  for (const RecordedRequest& q : got) {
    EXPECT_EQ(q.target, "/hooks/approvals");
    bool token_sent = false;
    for (const auto& [k, v] : q.headers)
      token_sent |= k == "X-Token" && v == "s3cret";
    EXPECT_TRUE(token_sent);
    json::value body = json::parse(q.body);
    types.emplace_back(body.at("type").as_string());
    EXPECT_EQ(body.at("approval").at("id").as_string(), id);
    EXPECT_NE(std::string(body.at("console_url").as_string())
                  .find("/ui/#/approvals/" + id),
              std::string::npos);
  }
  EXPECT_EQ(types[0], "approval.requested");
  EXPECT_EQ(types[1], "approval.requested");  // the retry
  EXPECT_EQ(types[2], "approval.decided");
  // slack: only the request, as an incoming-webhook message with a link.
  auto s = slack_.requests();
  ASSERT_EQ(s.size(), 1u);
  json::value msg = json::parse(s[0].body);
  EXPECT_NE(std::string(msg.at("text").as_string()).find("secret.read"),
            std::string::npos);
  EXPECT_NE(s[0].body.find("/ui/#/approvals/" + id), std::string::npos);
  EXPECT_EQ(msg.at("blocks").as_array().size(), 2u);
  Reply metrics = server_.Call("GET", "/metrics");
  EXPECT_NE(metrics.body.find(
                "tether_approval_webhooks_total{outcome=\"retried\"} 1"),
            std::string::npos)
      << metrics.body;
}

}  // namespace
}  // namespace tether::testing
