#include "policy/evaluator.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/json.h"
#include "policy/parser.h"
#include "policy/request.h"

namespace tether::policy {
namespace {

constexpr const char* kEntities = R"([
  {"uid": {"type": "User", "id": "alice"},
   "attrs": {"age": 30, "name": "Alice", "tags": ["a", "b"],
             "manager": {"__entity": {"type": "User", "id": "bob"}},
             "info": {"level": 3, "x y": "z"},
             "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.7"}},
             "score": {"__extn": {"fn": "decimal", "arg": "1.5"}}},
   "parents": [{"type": "Group", "id": "devs"}]},
  {"uid": {"type": "Group", "id": "devs"}, "attrs": {},
   "parents": [{"type": "Group", "id": "all"}]},
  {"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": [],
   "tags": {"team": "infra"}}
])";

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = EntityStore::FromJsonText(kEntities);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    auto j = ParseJson(R"({"principal": "User::\"alice\"",
      "action": "Action::\"push\"", "resource": "Git::Repo::\"org/x\"",
      "context": {"ref": "refs/heads/main", "n": 5, "list": [1, 2, 3],
                  "rec": {"a": {"b": 1}}}})");
    ASSERT_TRUE(j.ok());
    auto req = OwnedRequest::FromJson(*j);
    ASSERT_TRUE(req.ok()) << req.error().message;
    request_ = std::move(*req);
  }

  // "true"/"false"/"error: ..." or the value rendered.
  std::string Eval(std::string_view text) {
    auto parsed = ParseExpression(text, arena_);
    if (!parsed.expr) return "parse error: " + parsed.errors[0].message;
    Evaluator ev(request_->request(), *store_, arena_);
    Value v;
    if (!ev.Eval(*parsed.expr, &v)) return "error: " + ev.error();
    return ValueToString(v);
  }

  Arena arena_;
  std::unique_ptr<EntityStore> store_;
  std::unique_ptr<OwnedRequest> request_;
};

TEST_F(EvaluatorTest, AttributesRecordsAndHas) {
  EXPECT_EQ(Eval("principal.age"), "30");
  EXPECT_EQ(Eval("principal[\"name\"]"), "\"Alice\"");
  EXPECT_EQ(Eval("principal.info[\"x y\"]"), "\"z\"");
  EXPECT_EQ(Eval("principal has info.level"), "true");
  EXPECT_EQ(Eval("principal has info.nope"), "false");
  EXPECT_EQ(Eval("principal has age.x"),
            "error: type error: expected one of [record, (entity of type "
            "`any_entity_type`)], got long");
  EXPECT_EQ(Eval("context has rec.a.b"), "true");
  EXPECT_EQ(Eval("User::\"ghost\" has name"), "false");
  EXPECT_EQ(Eval("User::\"ghost\".name"),
            "error: entity `User::\"ghost\"` does not exist");
  EXPECT_EQ(Eval("principal.nope"),
            "error: `User::\"alice\"` does not have the attribute `nope`");
  EXPECT_EQ(Eval("context.nope"),
            "error: record does not have the attribute `nope`");
  EXPECT_EQ(Eval("principal.manager.tags"),
            "error: `User::\"bob\"` does not have the attribute `tags`");
}

TEST_F(EvaluatorTest, MembershipIsTransitiveAndReflexive) {
  EXPECT_EQ(Eval("principal in Group::\"all\""), "true");
  EXPECT_EQ(Eval("principal in principal"), "true");
  EXPECT_EQ(Eval("principal in [Group::\"x\", Group::\"devs\"]"), "true");
  EXPECT_EQ(Eval("principal in []"), "false");
  EXPECT_EQ(Eval("User::\"ghost\" in User::\"ghost\""), "true");
  EXPECT_EQ(Eval("User::\"ghost\" in Group::\"all\""), "false");
  EXPECT_EQ(Eval("principal in [principal, 1]").rfind("error: type error", 0),
            0u);
  EXPECT_EQ(Eval("1 in principal").rfind("error: type error", 0), 0u);
  EXPECT_EQ(Eval("principal is User in Group::\"devs\""), "true");
  EXPECT_EQ(Eval("principal is Group in 1"), "false");  // short-circuits
}

TEST_F(EvaluatorTest, ArithmeticIsChecked) {
  EXPECT_EQ(Eval("1 + 2 * 3 - -4"), "11");
  EXPECT_EQ(Eval("9223372036854775807 + 1").rfind("error: integer overflow", 0),
            0u);
  EXPECT_EQ(Eval("-(-9223372036854775808)").rfind("error: integer overflow", 0),
            0u);
  EXPECT_EQ(
      Eval("-9223372036854775808 * -1").rfind("error: integer overflow", 0),
      0u);
  EXPECT_EQ(Eval("1 + \"a\""), "error: type error: expected long, got string");
  EXPECT_EQ(Eval("\"a\" < \"b\"").rfind("error: type error", 0), 0u);
  EXPECT_EQ(Eval("3 >= 3"), "true");
}

TEST_F(EvaluatorTest, BooleansShortCircuit) {
  EXPECT_EQ(Eval("false && 1"), "false");
  EXPECT_EQ(Eval("true || 1"), "true");
  EXPECT_EQ(Eval("true && 1"), "error: type error: expected bool, got long");
  EXPECT_EQ(Eval("if context.n > 3 then \"big\" else 1"), "\"big\"");
  EXPECT_EQ(Eval("if 1 then 2 else 3").rfind("error: type error", 0), 0u);
  EXPECT_EQ(Eval("!true"), "false");
}

TEST_F(EvaluatorTest, EqualityIsStructural) {
  EXPECT_EQ(Eval("[1, 2, 2] == [2, 1]"), "true");
  EXPECT_EQ(Eval("{a: 1, b: [1]} == {b: [1], a: 1}"), "true");
  EXPECT_EQ(Eval("{a: 1} == {a: 1, b: 2}"), "false");
  EXPECT_EQ(Eval("1 == \"1\""), "false");
  EXPECT_EQ(Eval("principal == User::\"alice\""), "true");
  EXPECT_EQ(Eval("ip(\"10.0.0.1\") == ip(\"10.0.0.1/32\")"), "true");
  EXPECT_EQ(Eval("decimal(\"1.0\") == decimal(\"1.0000\")"), "true");
}

TEST_F(EvaluatorTest, SetOperations) {
  EXPECT_EQ(Eval("context.list.contains(2)"), "true");
  EXPECT_EQ(Eval("context.list.containsAll([1, 3])"), "true");
  EXPECT_EQ(Eval("context.list.containsAll([1, 4])"), "false");
  EXPECT_EQ(Eval("context.list.containsAny([9, 3])"), "true");
  EXPECT_EQ(Eval("[].containsAny([])"), "false");
  EXPECT_EQ(Eval("[1].containsAll([])"), "true");
  EXPECT_EQ(Eval("[].isEmpty()"), "true");
  EXPECT_EQ(Eval("{}.isEmpty()"),
            "error: type error: expected set, got record");
  EXPECT_EQ(Eval("[principal.manager, 1].contains(User::\"bob\")"), "true");
}

TEST_F(EvaluatorTest, LikePatterns) {
  EXPECT_EQ(Eval("context.ref like \"refs/heads/*\""), "true");
  EXPECT_EQ(Eval("context.ref like \"*main\""), "true");
  EXPECT_EQ(Eval("context.ref like \"refs/*/*\""), "true");
  EXPECT_EQ(Eval("context.ref like \"refs/tags/*\""), "false");
  EXPECT_EQ(Eval("\"a*b\" like \"a\\*b\""), "true");
  EXPECT_EQ(Eval("\"axb\" like \"a\\*b\""), "false");
  EXPECT_EQ(Eval("\"\" like \"\""), "true");
  EXPECT_EQ(Eval("\"abc\" like \"a*b*c*\""), "true");
  EXPECT_EQ(Eval("\"ab\" like \"ab*b\""), "false");
  EXPECT_EQ(Eval("\"héllo\" like \"h*o\""), "true");
  EXPECT_EQ(Eval("1 like \"*\"").rfind("error: type error", 0), 0u);
}

TEST_F(EvaluatorTest, Extensions) {
  EXPECT_EQ(Eval("principal.ip.isInRange(ip(\"10.0.0.0/8\"))"), "true");
  EXPECT_EQ(Eval("ip(\"::1\").isLoopback() && ip(\"::1\").isIpv6()"), "true");
  EXPECT_EQ(Eval("ip(\"224.1.2.3\").isMulticast()"), "true");
  EXPECT_EQ(Eval("ip(\"1.2.3\")").rfind("error:", 0), 0u);
  EXPECT_EQ(Eval("ip(\"1.1.1.1\", \"x\")"),
            "error: wrong number of arguments provided to extension function "
            "`ip`: expected 1, got 2");
  EXPECT_EQ(Eval("principal.score.lessThan(decimal(\"1.5001\"))"), "true");
  EXPECT_EQ(Eval("principal.score.greaterThanOrEqual(decimal(\"1.5\"))"),
            "true");
  EXPECT_EQ(Eval("decimal(\"-0.5\").lessThan(decimal(\"0.0\"))"), "true");
  EXPECT_EQ(Eval("principal.score.lessThan(\"2.0\")").rfind("error: type", 0),
            0u);
  EXPECT_EQ(Eval("unknown(\"x\")").rfind("error:", 0), 0u);
}

TEST_F(EvaluatorTest, Tags) {
  EXPECT_EQ(Eval("principal.manager.hasTag(\"team\")"), "true");
  EXPECT_EQ(Eval("principal.manager.getTag(\"team\")"), "\"infra\"");
  EXPECT_EQ(Eval("principal.hasTag(\"team\")"), "false");
  EXPECT_EQ(Eval("User::\"ghost\".hasTag(\"x\")"), "false");
  EXPECT_EQ(Eval("principal.getTag(\"team\")").rfind("error:", 0), 0u);
}

TEST(MatchPattern, Wildcards) {
  Arena arena;
  auto match = [&](const char* pat, const char* text) {
    auto e = ParseExpression(std::string("\"\" like \"") + pat + "\"", arena);
    return MatchPattern(e.expr->pattern, text);
  };
  EXPECT_TRUE(match("*", ""));
  EXPECT_TRUE(match("a*a", "aa"));
  EXPECT_FALSE(match("a*a", "a"));
  EXPECT_TRUE(match("*ab*ab*", "xabyab"));
  EXPECT_FALSE(match("*ab*ab*", "xaby"));
  EXPECT_TRUE(match("**", "anything"));
}

}  // namespace
}  // namespace tether::policy
