#include "broker/approvals.h"

#include <gtest/gtest.h>

#include "broker/notifier.h"
#include "core/json.h"

namespace tether::broker {
namespace {

ApprovalVote Vote(std::string name, std::vector<std::string> groups,
                  int uses = 1) {
  ApprovalVote v;
  v.by = "Operator::\"" + name + "\"";
  v.name = std::move(name);
  v.groups = std::move(groups);
  v.uses = uses;
  return v;
}

identity::Principal Operator(std::string name, std::string role,
                             std::vector<std::string> groups) {
  identity::Principal p;
  p.kind = identity::PrincipalKind::kOperator;
  p.type = "Operator";
  p.id = name;
  p.subject = "operator:" + name;
  p.role = std::move(role);
  p.groups = std::move(groups);
  return p;
}

Approval Pending() {
  Approval a;
  a.id = NewApprovalId(1'700'000'000'000);
  a.task_id = "t1";
  a.task_owner = "Operator::\"olga\"";
  a.task_agent = "Agent::\"ci\"";
  a.task_subject = "operator:olga";
  a.requirements = {{"p1", {"security"}, 1, ""},
                    {"p2", {"release", "security"}, 2, ""}};
  return a;
}

TEST(ApprovalIds, SortByCreationAndAreRecognized) {
  std::string a = NewApprovalId(1000), b = NewApprovalId(2000);
  EXPECT_LT(a, b);
  EXPECT_TRUE(IsApprovalId(a));
  EXPECT_FALSE(IsApprovalId("ap../../etc"));
  EXPECT_FALSE(IsApprovalId(a.substr(1)));
  EXPECT_FALSE(IsApprovalId("AP" + a.substr(2)));
}

TEST(ApprovalRequirements, EveryRequirementNeedsItsDistinctApprovers) {
  Approval a = Pending();
  EXPECT_FALSE(RequirementsMet(a.requirements, {}));
  // One security approver meets p1 and half of p2.
  EXPECT_FALSE(RequirementsMet(a.requirements, {Vote("sam", {"security"})}));
  // The same person twice is still one.
  EXPECT_FALSE(RequirementsMet(
      a.requirements, {Vote("sam", {"security"}), Vote("sam", {"security"})}));
  EXPECT_TRUE(RequirementsMet(
      a.requirements, {Vote("sam", {"security"}), Vote("rita", {"release"})}));
  // Two release managers leave p1 unmet.
  EXPECT_FALSE(RequirementsMet(
      a.requirements, {Vote("rita", {"release"}), Vote("rob", {"release"})}));
  EXPECT_FALSE(RequirementsMet({}, {Vote("sam", {"security"})}));
}

TEST(ApprovalDeciders, OnlyApproversInAGroupWhoAreNotTheTask) {
  Approval a = Pending();
  EXPECT_TRUE(MayDecide(a, Operator("sam", "approver", {"security"}), true));
  EXPECT_TRUE(MayDecide(a, Operator("ada", "admin", {"release"}), true));
  EXPECT_EQ(
      MayDecide(a, Operator("aud", "auditor", {"security"}), true).error().code,
      "forbidden");
  EXPECT_EQ(MayDecide(a, Operator("x", "approver", {"qa"}), true).error().code,
            "forbidden");
  // The owner, by entity or by subject.
  EXPECT_EQ(
      MayDecide(a, Operator("olga", "admin", {"security"}), true).error().code,
      "forbidden");
  a.votes.push_back(Vote("sam", {"security"}));
  EXPECT_EQ(MayDecide(a, Operator("sam", "approver", {"security"}), true)
                .error()
                .code,
            "conflict");
  EXPECT_TRUE(MayDecide(a, Operator("sam", "approver", {"security"}), false));
  a.state = "denied";
  EXPECT_EQ(MayDecide(a, Operator("sue", "approver", {"security"}), true)
                .error()
                .code,
            "conflict");
}

TEST(ApprovalRecords, RoundTrip) {
  Approval a = Pending();
  a.state = "approved";
  a.request_digest = std::string(64, 'a');
  a.requester = "Task::\"t1\"";
  a.action = "secret.read";
  a.resource_type = "Secret";
  a.resource_id = "npm \"publish\"";
  a.edge = "proxy";
  a.body_sha256 = std::string(64, 'b');
  a.context = {{"ref", "refs/heads/main"}};
  a.task = {{"id", "t1"}, {"intent", "<b>release</b>"}};
  a.votes = {Vote("sam", {"security"}, 3), Vote("rita", {"release"}, 2)};
  a.uses_allowed = 2;
  a.uses = 1;
  a.created_ms = 10;
  a.expires_ms = 20;
  a.decided_ms = 15;
  auto back = ApprovalFromRecord(ApprovalToRecord(a));
  ASSERT_TRUE(back);
  EXPECT_EQ(SerializeJson(ApprovalToJson(*back, "https://t/ui/")),
            SerializeJson(ApprovalToJson(a, "https://t/ui/")));
  EXPECT_EQ(back->task_owner, a.task_owner);
  store::ApprovalRecord bad = ApprovalToRecord(a);
  bad.doc = "{not json";
  EXPECT_EQ(ApprovalFromRecord(bad).error().code, "store_corrupt");
}

TEST(ApprovalNotifications, SlackPayloadEscapesAgentText) {
  Approval a = Pending();
  a.action = "secret.read";
  a.resource_type = "Secret";
  a.resource_id = "npm";
  a.task = {{"id", "t1"}, {"intent", "<!channel> & <https://evil|click>"}};
  auto json = ApprovalToJson(a, "https://tether.example/ui/");
  std::string slack = ApprovalNotifier::SlackPayload("requested", json);
  EXPECT_EQ(slack.find("<!channel>"), std::string::npos) << slack;
  EXPECT_NE(slack.find("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"),
            std::string::npos)
      << slack;
  EXPECT_NE(slack.find("https://tether.example/ui/#/approvals/" + a.id),
            std::string::npos);
  std::string generic = ApprovalNotifier::GenericPayload("decided", json);
  EXPECT_NE(generic.find("\"type\":\"approval.decided\""), std::string::npos);
}

}  // namespace
}  // namespace tether::broker
