#include <gtest/gtest.h>

#include "identity/operator_token.h"
#include "identity/workload.h"

namespace tether::identity {
namespace {

TEST(PrincipalTemplateTest, ParsesTypeAndIdTemplate) {
  auto t = PrincipalTemplate::Parse("Agent::\"{sub}\"");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type, "Agent");
  EXPECT_EQ(t->id_template, "{sub}");
  auto ns = PrincipalTemplate::Parse("Ci::Job::\"{repository}@{ref}\"");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->type, "Ci::Job");
}

TEST(PrincipalTemplateTest, RefusesWhatCouldImpersonate) {
  for (const char* bad :
       {"Agent", "Agent::{sub}", "Agent::\"sub\"", "Task::\"{sub}\"",
        "Operator::\"{sub}\"", "Action::\"{sub}\"", "1x::\"{sub}\"",
        "Agent::\"{}\"", "Agent::\"{sub\"", "Agent::\"a\\\"{sub}\""}) {
    EXPECT_FALSE(PrincipalTemplate::Parse(bad)) << bad;
  }
}

TEST(SpiffeIdTest, FollowsTheSpiffeIdSpec) {
  EXPECT_TRUE(IsSpiffeId("spiffe://example.org"));
  EXPECT_TRUE(IsSpiffeId("spiffe://example.org/ns/ci/sa/agent"));
  EXPECT_EQ(SpiffeTrustDomain("spiffe://example.org/ns/ci"), "example.org");
  for (const char* bad :
       {"", "spiffe://", "https://example.org/x", "spiffe://Example.org/x",
        "spiffe://example.org/", "spiffe://example.org//x",
        "spiffe://example.org/./x", "spiffe://example.org/../x",
        "spiffe://example.org/a b", "spiffe://user@example.org/x",
        "spiffe://example.org:443/x", "spiffe://example.org/x?y",
        "spiffe://example.org/x#y"}) {
    EXPECT_FALSE(IsSpiffeId(bad)) << bad;
  }
}

TEST(OperatorTokenTest, VerifiesOnlyTheExactToken) {
  auto made = MakeOperatorToken("ada", "approver", {"release-managers"}, 1);
  ASSERT_TRUE(made);
  EXPECT_TRUE(LooksLikeOperatorToken(made->token));
  // Only the digest is kept.
  EXPECT_EQ(made->record.secret_sha256.size(), 64u);
  EXPECT_EQ(made->token.find(made->record.secret_sha256), std::string::npos);
  OperatorDirectory dir;
  dir.Put(made->record);
  auto p = dir.Verify(made->token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, "Operator");
  EXPECT_EQ(p->id, "ada");
  EXPECT_EQ(p->role, "approver");
  EXPECT_EQ(p->groups, std::vector<std::string>{"release-managers"});
  std::string forged = made->token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(dir.Verify(forged));
  EXPECT_FALSE(dir.Verify(made->token.substr(1)));
  EXPECT_FALSE(dir.Verify(""));
  EXPECT_EQ(dir.Verify(forged).error().code, "identity_rejected");
}

TEST(OperatorTokenTest, RevokedOperatorIsRejected) {
  auto made = MakeOperatorToken("eve", "admin", {}, 1);
  ASSERT_TRUE(made);
  made->record.revoked_ms = 2;
  OperatorDirectory dir;
  dir.Put(made->record);
  EXPECT_FALSE(dir.Verify(made->token));
  EXPECT_FALSE(dir.HasName("eve"));
}

TEST(OperatorTokenTest, NamesRolesAndGroupsAreValidated) {
  EXPECT_FALSE(MakeOperatorToken("", "admin", {}, 1));
  EXPECT_FALSE(MakeOperatorToken("a b", "admin", {}, 1));
  EXPECT_FALSE(MakeOperatorToken("ada", "root", {}, 1));
  EXPECT_FALSE(MakeOperatorToken("ada", "admin", {"x\"y"}, 1));
}

}  // namespace
}  // namespace tether::identity
