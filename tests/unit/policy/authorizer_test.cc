#include "policy/authorizer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "core/json.h"

namespace tether::policy {
namespace {

std::shared_ptr<const PolicySet> Policies(std::string_view text,
                                          BuildOptions options = {}) {
  PolicySet::Builder builder(options);
  builder.AddSource("test.cedar", text);
  auto set = builder.Build();
  EXPECT_TRUE(set.ok()) << set.error().message;
  return set.ok() ? *set : nullptr;
}

std::unique_ptr<OwnedRequest> Req(std::string_view action,
                                  std::string_view context = "{}") {
  auto j = ParseJson(
      std::string(R"({"principal": "Task::\"t1\"", "action": "Action::\")") +
      std::string(action) +
      R"(\"", "resource": "Repo::\"org/x\"", "context": )" +
      std::string(context) + "}");
  EXPECT_TRUE(j.ok());
  auto r = OwnedRequest::FromJson(*j);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return std::move(*r);
}

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest() {
    store_ = std::make_unique<EntityStore>();
    (void)store_->Finalize();
  }
  Response Decide(const PolicySet& set, std::string_view action,
                  std::string_view context = "{}", bool cedar = false) {
    request_ = Req(action, context);
    AuthorizeOptions options;
    options.cedar_semantics = cedar;
    return Authorize(set, request_->request(), *store_, options);
  }
  static std::vector<std::string> Ids(const std::vector<const Policy*>& ps) {
    std::vector<std::string> out;
    for (const Policy* p : ps) out.push_back(p->id);
    return out;
  }
  std::unique_ptr<EntityStore> store_;
  std::unique_ptr<OwnedRequest> request_;
};

TEST_F(AuthorizerTest, DefaultDeny) {
  auto set = Policies("");
  Response r = Decide(*set, "git.push");
  EXPECT_EQ(r.decision, Decision::kDeny);
  EXPECT_TRUE(r.determining.empty());
  EXPECT_EQ(Reasons(r)[0], "no policy permits this request (default deny)");
}

TEST_F(AuthorizerTest, ForbidWinsOverPermit) {
  auto set = Policies(R"(
    @id("allow-all") permit(principal, action, resource);
    @id("no-push") forbid(principal, action == Action::"git.push", resource);
  )");
  Response push = Decide(*set, "git.push");
  EXPECT_EQ(push.decision, Decision::kDeny);
  EXPECT_EQ(Ids(push.determining), std::vector<std::string>{"no-push"});
  Response fetch = Decide(*set, "git.fetch");
  EXPECT_EQ(fetch.decision, Decision::kAllow);
  EXPECT_EQ(Ids(fetch.determining), std::vector<std::string>{"allow-all"});
}

TEST_F(AuthorizerTest, ErroringForbidFailsClosed) {
  auto set = Policies(R"(
    @id("allow") permit(principal, action, resource);
    @id("guard") forbid(principal, action, resource) when { context.missing };
  )");
  Response r = Decide(*set, "git.push");
  EXPECT_EQ(r.decision, Decision::kDeny);
  EXPECT_EQ(Ids(r.determining), std::vector<std::string>{"guard"});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].policy->id, "guard");
  EXPECT_NE(Reasons(r)[0].find("fail closed"), std::string::npos);

  // Cedar skips the erroring forbid: allow, with the error reported.
  Response cedar = Decide(*set, "git.push", "{}", true);
  EXPECT_EQ(cedar.decision, Decision::kAllow);
  EXPECT_EQ(Ids(cedar.determining), std::vector<std::string>{"allow"});
  EXPECT_EQ(cedar.errors.size(), 1u);
}

TEST_F(AuthorizerTest, ErroringPermitDoesNotAllow) {
  auto set = Policies(R"(
    permit(principal, action, resource) when { 1 + "a" == 2 };
  )");
  Response r = Decide(*set, "git.push");
  EXPECT_EQ(r.decision, Decision::kDeny);
  EXPECT_TRUE(r.determining.empty());
  EXPECT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].policy->id, "policy0");
}

TEST_F(AuthorizerTest, ApprovalGateOutranksPlainPermit) {
  auto set = Policies(R"(
    @id("read-all") permit(principal, action, resource);
    @id("release") @approval("release-managers, security")
    @approvals_required("2")
    permit(principal, action == Action::"github.releases.create", resource);
    @id("secrets") @approval("security")
    permit(principal, action == Action::"github.releases.create", resource)
    when { context has secret };
  )");
  Response r = Decide(*set, "github.releases.create", R"({"secret": true})");
  EXPECT_EQ(r.decision, Decision::kApprovalRequired);
  EXPECT_EQ(Ids(r.determining),
            (std::vector<std::string>{"release", "secrets"}));
  ASSERT_EQ(r.approvals.size(), 2u);
  EXPECT_EQ(r.approvals[0]->approval->groups,
            (std::vector<std::string>{"release-managers", "security"}));
  EXPECT_EQ(r.approvals[0]->approval->approvers, 2);
  boost::json::object j = ResponseToJson(r);
  EXPECT_EQ(j["decision"], "approval_required");
  EXPECT_EQ(j["approval"].at("requirements").as_array().size(), 2u);

  // Cedar ignores @approval: the permits simply allow.
  Response cedar = Decide(*set, "github.releases.create", "{}", true);
  EXPECT_EQ(cedar.decision, Decision::kAllow);
  // Other actions are unaffected.
  EXPECT_EQ(Decide(*set, "git.fetch").decision, Decision::kAllow);
}

TEST_F(AuthorizerTest, ErroringApprovalGateStillRequiresApproval) {
  auto set = Policies(R"(
    permit(principal, action, resource);
    @id("gate") @approval("security")
    permit(principal, action, resource) when { context.nope };
  )");
  Response r = Decide(*set, "secret.read");
  EXPECT_EQ(r.decision, Decision::kApprovalRequired);
  EXPECT_EQ(Ids(r.determining), std::vector<std::string>{"gate"});
}

TEST_F(AuthorizerTest, ForbidBeatsApprovalGate) {
  auto set = Policies(R"(
    @id("gate") @approval("security") permit(principal, action, resource);
    @id("never") forbid(principal, action == Action::"repo.delete", resource);
  )");
  EXPECT_EQ(Decide(*set, "repo.delete").decision, Decision::kDeny);
  EXPECT_EQ(Decide(*set, "repo.read").decision, Decision::kApprovalRequired);
}

TEST(PolicySetBuild, ApprovalAnnotationsAreValidated) {
  for (const char* bad : {
           R"(@approval("") permit(principal, action, resource);)",
           R"(@approval("a,,b") permit(principal, action, resource);)",
           R"(@approval("a b") permit(principal, action, resource);)",
           R"(@approval("a") forbid(principal, action, resource);)",
           R"(@approvals_required("2") permit(principal, action, resource);)",
           R"(@approval("a") @approvals_required("0")
              permit(principal, action, resource);)",
           R"(@approval("a") @approvals_required("x")
              permit(principal, action, resource);)",
       }) {
    PolicySet::Builder b;
    b.AddSource("t.cedar", bad);
    EXPECT_FALSE(b.Build().ok()) << bad;
  }
}

TEST(PolicySetBuild, IdsComeFromAnnotationsOrLoadOrder) {
  PolicySet::Builder b;
  b.AddSource("a.cedar", R"(permit(principal, action, resource);
                            @id("named") permit(principal, action, resource);)");
  b.AddSource("b.cedar", "permit(principal, action, resource);");
  auto set = b.Build();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->policies()[0].id, "policy0");
  EXPECT_EQ((*set)->policies()[1].id, "named");
  EXPECT_EQ((*set)->policies()[2].id, "policy2");
  EXPECT_EQ((*set)->Find("named"), &(*set)->policies()[1]);
}

TEST(PolicySetBuild, DuplicateAndMissingIds) {
  PolicySet::Builder dup;
  dup.AddSource("a.cedar", R"(@id("x") permit(principal, action, resource);
                              @id("x") forbid(principal, action, resource);)");
  EXPECT_FALSE(dup.Build().ok());
  ASSERT_EQ(dup.diagnostics().size(), 1u);
  EXPECT_EQ(dup.diagnostics()[0].line, 2u);
  EXPECT_NE(dup.diagnostics()[0].message.find("duplicate policy id `x`"),
            std::string::npos);

  BuildOptions strict;
  strict.require_ids = true;
  PolicySet::Builder missing(strict);
  missing.AddSource("a.cedar", "permit(principal, action, resource);");
  EXPECT_FALSE(missing.Build().ok());
}

TEST(PolicySetBuild, DiagnosticsFormatWithCaret) {
  PolicySet::Builder b;
  b.AddSource("p.cedar",
              "permit(principal, action, resource)\n  when { 1 = 2 };");
  EXPECT_FALSE(b.Build().ok());
  ASSERT_EQ(b.diagnostics().size(), 1u);
  EXPECT_EQ(FormatDiagnostic(b.diagnostics()[0]),
            "p.cedar:2:12: `=` is not a valid operator, use `==`\n"
            "    when { 1 = 2 };\n"
            "             ^");
}

TEST(PolicySetIndex, CandidatesFollowTheMatchingPolicies) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text += "permit(principal, action == Action::\"a" + std::to_string(i) +
            "\", resource is Repo);\n";
  }
  text += "permit(principal, action in Action::\"group\", resource);\n";
  text += "forbid(principal, action, resource is Repo);\n";
  text += "forbid(principal, action, resource is Other);\n";
  text += "permit(principal, action, resource);\n";
  PolicySet::Builder b;
  b.AddSource("many.cedar", text);
  auto set = b.Build();
  ASSERT_TRUE(set.ok());
  auto store = EntityStore::FromJsonText(R"([{"uid": {"type": "Action",
      "id": "a7"}, "attrs": {}, "parents": [{"type": "Action", "id": "group"}]}])");
  ASSERT_TRUE(store.ok());
  auto j = ParseJson(R"({"principal": "Task::\"t\"", "action": "Action::\"a7\"",
                         "resource": "Repo::\"r\""})");
  auto req = OwnedRequest::FromJson(*j);
  ASSERT_TRUE(req.ok());
  std::vector<std::uint32_t> candidates;
  Arena arena;
  (*set)->Candidates((*set)->Canonicalize((*req)->request(), arena), **store,
                     candidates);
  // a7, the group policy, the Repo forbid and the unconstrained permit.
  EXPECT_EQ(candidates, (std::vector<std::uint32_t>{7, 1000, 1001, 1003}));
}

}  // namespace
}  // namespace tether::policy
