#include "policy/parser.h"

#include <gtest/gtest.h>

#include <string>

namespace tether::policy {
namespace {

ParseOutput Parse(std::string_view text, Arena& arena,
                  const ParseLimits& limits = {}) {
  return ParsePolicies(text, arena, 0, limits);
}

TEST(Parser, ParsesScopeForms) {
  Arena arena;
  ParseOutput out = Parse(R"(
    @id("p1") @advice
    permit(principal is User in Group::"g", action in [Action::"a", NS::Action::"b"],
           resource == Git::Repo::"org/x")
    when { true } unless { false };
    forbid(principal == User::"u", action == Action::"a", resource is Repo);
    permit(principal in Group::"g", action in Action::"all", resource,);
  )",
                          arena);
  ASSERT_TRUE(out.ok()) << out.errors[0].message;
  ASSERT_EQ(out.policies.size(), 3u);
  const Policy& p = out.policies[0];
  EXPECT_EQ(p.effect, Effect::kPermit);
  ASSERT_EQ(p.annotations.size(), 2u);
  EXPECT_EQ(p.annotations[0].key, "id");
  EXPECT_EQ(p.annotations[0].value, "p1");
  EXPECT_EQ(p.annotations[1].value, "");
  EXPECT_EQ(p.principal.op, ScopeConstraint::Op::kIsIn);
  EXPECT_EQ(p.principal.type, "User");
  EXPECT_EQ(p.action.op, ScopeConstraint::Op::kInSet);
  EXPECT_EQ(p.action.uids.size(), 2u);
  EXPECT_EQ(p.resource.op, ScopeConstraint::Op::kEq);
  EXPECT_EQ(p.resource.uid->type, "Git::Repo");
  EXPECT_EQ(p.resource.uid->id, "org/x");
  ASSERT_EQ(p.conditions.size(), 2u);
  EXPECT_FALSE(p.conditions[1].is_when);
  EXPECT_EQ(out.policies[1].effect, Effect::kForbid);
  EXPECT_EQ(out.policies[1].resource.op, ScopeConstraint::Op::kIs);
  EXPECT_EQ(out.policies[2].action.op, ScopeConstraint::Op::kIn);
}

TEST(Parser, EmptyInputIsAnEmptySet) {
  Arena arena;
  ParseOutput out = Parse("  // only a comment\n", arena);
  EXPECT_TRUE(out.ok());
  EXPECT_TRUE(out.policies.empty());
}

TEST(Parser, ErrorSpansPointAtTheProblem) {
  Arena arena;
  std::string text =
      "permit(principal, action, resource)\nwhen { 1 == 1 == 1 };";
  ParseOutput out = Parse(text, arena);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(text.substr(out.errors[0].span.begin, 2), "==");
  EXPECT_EQ(out.errors[0].span.begin, text.rfind("=="));
  EXPECT_NE(out.errors[0].message.find("chained"), std::string::npos);
}

TEST(Parser, RecoversAtTheNextPolicy) {
  Arena arena;
  ParseOutput out = Parse(
      "permit(principal, action, resource) when { 1 + };\n"
      "permit(principal, action, resource);\n"
      "forbid(principal, action == Foo::\"x\", resource);\n",
      arena);
  EXPECT_EQ(out.errors.size(), 2u);
  EXPECT_EQ(out.policies.size(), 1u);
}

TEST(Parser, NegativeLiteralsFoldLikeCedar) {
  Arena arena;
  auto min = ParseExpression("-9223372036854775808", arena);
  ASSERT_TRUE(min.expr);
  EXPECT_EQ(min.expr->kind, ExprKind::kLiteral);
  EXPECT_EQ(min.expr->value.AsLong(), INT64_MIN);
  auto twice = ParseExpression("--1", arena);
  ASSERT_TRUE(twice.expr);
  EXPECT_EQ(twice.expr->kind, ExprKind::kNeg);
  EXPECT_EQ(twice.expr->kids[0]->value.AsLong(), -1);
  EXPECT_FALSE(ParseExpression("-9223372036854775809", arena).expr);
  EXPECT_FALSE(ParseExpression("9223372036854775808", arena).expr);
  EXPECT_FALSE(ParseExpression("-----1", arena).expr);
  EXPECT_FALSE(ParseExpression("!-1", arena).expr);
  EXPECT_TRUE(ParseExpression("!!!!true", arena).expr);
}

TEST(Parser, ReservedIdentifiersAreRejectedWhereCedarRejectsThem) {
  Arena arena;
  EXPECT_FALSE(ParseExpression("principal.if", arena).expr);
  EXPECT_FALSE(ParseExpression("context has then", arena).expr);
  EXPECT_FALSE(ParseExpression("{in: 1}", arena).expr);
  EXPECT_FALSE(ParseExpression("__cedar::A::\"x\"", arena).expr);
  EXPECT_TRUE(ParseExpression("principal.permit", arena).expr);
  EXPECT_TRUE(ParseExpression("context[\"if\"]", arena).expr);
  EXPECT_TRUE(ParseExpression("{\"if\": 1, principal: 2}", arena).expr);
  EXPECT_TRUE(ParseExpression("when::unless::\"x\"", arena).expr);
}

TEST(Parser, StringEscapes) {
  Arena arena;
  auto e = ParseExpression(R"("a\n\t\"\\\0\x41\u{1F600}\u{1_F600}")", arena);
  ASSERT_TRUE(e.expr) << e.errors[0].message;
  EXPECT_EQ(e.expr->value.AsString(), std::string("a\n\t\"\\") + '\0' + "A😀😀");
  for (const char* bad :
       {R"("\q")", R"("\*")", R"("\x80")", R"("\u{d800}")", R"("\u{110000}")",
        R"("\u{}")", R"("\u{1234567}")", "\"a\rb\""}) {
    EXPECT_FALSE(ParseExpression(bad, arena).expr) << bad;
  }
}

TEST(Parser, LikePatternsDistinguishEscapedStars) {
  Arena arena;
  auto e = ParseExpression(R"("x" like "a\*b*\u{2a}")", arena);
  ASSERT_TRUE(e.expr);
  ASSERT_EQ(e.expr->pattern.size(), 2u);
  EXPECT_EQ(e.expr->pattern[0].literal, "a*b");
  EXPECT_TRUE(e.expr->pattern[1].wildcard);  // `*` and `\u{2a}` merge
}

TEST(Parser, UnicodeWhitespaceIsWhitespaceButABomIsNot) {
  Arena arena;
  EXPECT_TRUE(
      Parse("permit(principal,\u00a0action,\u3000resource);", arena).ok());
  EXPECT_FALSE(Parse("\ufeffpermit(principal, action, resource);", arena).ok());
  EXPECT_FALSE(
      Parse("permit(principal, action, resource) when { \"\xff\" };", arena)
          .ok());
}

TEST(Parser, DeepNestingIsAnErrorNotACrash) {
  Arena arena;
  std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  auto e = ParseExpression(deep, arena);
  EXPECT_FALSE(e.expr);
  ASSERT_FALSE(e.errors.empty());
  EXPECT_NE(e.errors[0].message.find("nesting"), std::string::npos);
  std::string sets = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(ParseExpression(sets, arena).expr);
}

TEST(Parser, LongArithmeticChainsAreBoundedByTreeHeight) {
  Arena arena;
  std::string chain = "1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  auto e = ParseExpression(chain, arena);
  EXPECT_FALSE(e.expr);
  ASSERT_FALSE(e.errors.empty());
  EXPECT_NE(e.errors[0].message.find("too deeply nested"), std::string::npos);
}

TEST(Parser, LongBooleanChainsAreFlattened) {
  Arena arena;
  std::string chain = "true";
  for (int i = 0; i < 5000; ++i) chain += " && true";
  auto e = ParseExpression(chain, arena);
  ASSERT_TRUE(e.expr);
  EXPECT_EQ(e.expr->kind, ExprKind::kAnd);
  EXPECT_EQ(e.expr->kids.size(), 5001u);
}

TEST(Parser, LiteralSizeIsBounded) {
  Arena arena;
  ParseLimits limits;
  limits.max_literal_bytes = 10;
  EXPECT_FALSE(ParsePolicies("permit(principal, action, resource) when { "
                             "\"01234567890\" == \"\" };",
                             arena, 0, limits)
                   .ok());
  limits.max_source_bytes = 5;
  EXPECT_FALSE(
      ParsePolicies("permit(principal, action, resource);", arena, 0, limits)
          .ok());
}

TEST(Parser, LargeRecordLiteralsParseInLinearTime) {
  Arena arena;
  std::string rec = "{";
  for (int i = 0; i < 50000; ++i) rec += "k" + std::to_string(i) + ": 1, ";
  rec += "}";
  auto e = ParseExpression(rec, arena);
  ASSERT_TRUE(e.expr);
  EXPECT_EQ(e.expr->value.AsRecord().size, 50000u);
  EXPECT_FALSE(ParseExpression("{a: 1, b: 2, \"a\": 3}", arena).expr);
}

TEST(Parser, TemplatesAndDatetimeAreRejectedClearly) {
  Arena arena;
  ParseOutput t =
      Parse("permit(principal == ?principal, action, resource);", arena);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.errors[0].message.find("template"), std::string::npos);
  ParseOutput d = Parse(
      "permit(principal, action, resource) when { datetime(\"2024-01-01\") "
      "== datetime(\"2024-01-01\") };",
      arena);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.errors[0].message.find("datetime"), std::string::npos);
}

TEST(Parser, TypeNames) {
  EXPECT_TRUE(IsValidTypeName("User"));
  EXPECT_TRUE(IsValidTypeName("Git::Repo"));
  EXPECT_FALSE(IsValidTypeName("Git:: Repo"));
  EXPECT_FALSE(IsValidTypeName("if"));
  EXPECT_FALSE(IsValidTypeName("A::__cedar"));
  EXPECT_FALSE(IsValidTypeName(""));
  EXPECT_FALSE(IsValidTypeName("A::"));
}

}  // namespace
}  // namespace tether::policy
