// Runs the real `tether` binary: `policy check`, `policy eval`, `policy test`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/json.h"
#include "tests/support/run_command.h"

namespace tether {
namespace {

using Outcome = testing::CommandResult;

Outcome Tether(const std::string& args) {
  return testing::RunCommand(std::string(TETHER_BIN) + " " + args);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string Example(const std::string& rel) {
    return std::string(TETHER_SOURCE_DIR) + "/examples/" + rel;
  }
  std::filesystem::path dir_;
};

TEST_F(CliTest, CheckAcceptsTheExamples) {
  Outcome r = Tether("policy check " + Example("policies"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ok: "), std::string::npos);
}

TEST_F(CliTest, CheckReportsFileLineColumnWithCaret) {
  std::string f = Write("bad.cedar",
                        "// guard\n"
                        "permit(principal, action, resource)\n"
                        "when { context.ref like \"refs/*\" && };\n"
                        "forbid(principal, action == Foo::\"x\", resource);\n");
  Outcome r = Tether("policy check " + f);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find(f + ":3:37: unexpected token `}`"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("  when { context.ref like \"refs/*\" && };\n"
                          "                                      ^"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(f + ":4:29: action scope entities"),
            std::string::npos)
      << r.output;
}

TEST_F(CliTest, CheckRejectsMissingFiles) {
  Outcome r = Tether("policy check " + (dir_ / "nope.cedar").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no such file"), std::string::npos);
}

TEST_F(CliTest, EvalPrintsOneDecisionPerRequest) {
  Outcome r = Tether("policy eval --policies " + Example("policies") +
                     " --entities " + Example("entities.json") +
                     " --requests " + Example("requests.jsonl"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::size_t lines = 0, pos = 0;
  std::string first;
  while ((pos = r.output.find('\n', pos)) != std::string::npos) {
    ++pos;
    ++lines;
  }
  EXPECT_EQ(lines, 15u);
  auto j = ParseJson(r.output.substr(0, r.output.find('\n')));
  ASSERT_TRUE(j.ok()) << r.output;
  EXPECT_EQ(j->at("decision"), "allow");
  EXPECT_EQ(j->at("determining_policies").as_array()[0], "read-own-repo");
  EXPECT_TRUE(j->at("approval").is_null());
}

TEST_F(CliTest, EvalCedarSemanticsSkipsErroringForbids) {
  std::string p = Write("p.cedar",
                        "permit(principal, action, resource);\n"
                        "forbid(principal, action, resource) when { "
                        "context.missing };\n");
  std::string q =
      Write("r.json", R"({"principal": "U::\"a\"", "action": "Action::\"x\"",)"
                      R"( "resource": "R::\"r\"", "context": {}})");
  Outcome tether = Tether("policy eval --policies " + p + " --request " + q);
  EXPECT_NE(tether.output.find("\"decision\":\"deny\""), std::string::npos)
      << tether.output;
  Outcome cedar = Tether("policy eval --cedar-semantics --policies " + p +
                         " --request " + q);
  EXPECT_NE(cedar.output.find("\"decision\":\"allow\""), std::string::npos)
      << cedar.output;
  EXPECT_NE(cedar.output.find("\"errors\":[{\"policy\":\"policy1\""),
            std::string::npos);
}

TEST_F(CliTest, EvalReportsBadInputWithoutStopping) {
  std::string p = Write("p.cedar", "permit(principal, action, resource);\n");
  std::string q = Write(
      "r.jsonl",
      "{\"principal\": \"U::\\\"a\\\"\", \"action\": \"Action::\\\"x\\\"\", "
      "\"resource\": \"R::\\\"r\\\"\"}\n"
      "{not json}\n"
      "{\"principal\": \"U::\\\"a\\\"\"}\n"
      "{\"principal\": \"U::\\\"a\\\"\", \"action\": \"Action::\\\"x\\\"\", "
      "\"resource\": \"R::\\\"r\\\"\", \"context\": {\"a\": 1, \"a\": 2}}\n");
  Outcome r = Tether("policy eval --policies " + p + " --requests " + q);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("\"decision\":\"allow\""), std::string::npos);
  EXPECT_NE(r.output.find(q + ":2:2: invalid json"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(q + ":3: missing field `action`"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("duplicate key `a`"), std::string::npos) << r.output;
}

TEST_F(CliTest, EvalRejectsBadEntities) {
  std::string p = Write("p.cedar", "permit(principal, action, resource);\n");
  std::string e = Write("e.json",
                        "[{\"uid\": {\"type\": \"U\", \"id\": "
                        "\"a\"}, \"attrs\": {}, \"parents\": "
                        "[{\"type\": \"U\", \"id\": \"a\"}]}]");
  std::string q = Write("r.json", R"({"principal": "U::\"a\"",)"
                                  R"( "action": "Action::\"x\"",)"
                                  R"( "resource": "R::\"r\""})");
  Outcome r = Tether("policy eval --policies " + p + " --entities " + e +
                     " --request " + q);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cycle"), std::string::npos) << r.output;
}

TEST_F(CliTest, ExamplePolicyTestsPassWithFullCoverage) {
  Outcome r = Tether("policy test --require-coverage " +
                     Example("policies/tests.json"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(" 0 failed"), std::string::npos);
}

TEST_F(CliTest, PolicyTestFailsOnAWrongExpectation) {
  std::string p =
      Write("p.cedar",
            "@id(\"a\") permit(principal, action, resource);\n"
            "@id(\"b\") forbid(principal, action, resource) when { false };\n");
  std::string t = Write("t.json", R"({"policies": "p.cedar", "cases": [
    {"name": "allowed", "expected": "allow", "request": {"principal": "U::\"a\"",
      "action": "Action::\"x\"", "resource": "R::\"r\""}},
    {"name": "wrongly expected", "expected": "deny", "request": {"principal": "U::\"a\"",
      "action": "Action::\"x\"", "resource": "R::\"r\""}}]})");
  Outcome r = Tether("policy test " + t);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("PASS  allowed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("FAIL  wrongly expected: expected deny, got allow"),
            std::string::npos)
      << r.output;
  Outcome cov = Tether("policy test --require-coverage " + t);
  EXPECT_NE(cov.output.find("never determined a decision: b"),
            std::string::npos)
      << cov.output;
}

TEST_F(CliTest, EvalRecordsEveryDecisionInTheAuditLog) {
  std::string data = (dir_ / "data").string();
  Outcome r =
      Tether("policy eval --policies " + Example("policies") + " --entities " +
             Example("entities.json") + " --requests " +
             Example("requests.jsonl") + " --audit --data-dir " + data);
  ASSERT_EQ(r.status, 0) << r.output;
  Outcome v = Tether("audit --data-dir " + data + " verify");
  EXPECT_EQ(v.status, 0) << v.output;
  EXPECT_NE(v.output.find("ok: 15 records"), std::string::npos) << v.output;
  Outcome q = Tether("audit --data-dir " + data +
                     " query --task t1 --type authz.decision --json");
  EXPECT_NE(q.output.find("\"determining_policies\":[\"forbid-protected-"
                          "branches\"]"),
            std::string::npos)
      << q.output;
  EXPECT_NE(q.output.find("\"policy_set_sha256\":\""), std::string::npos);
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_NE(Tether("").status, 0);
  EXPECT_NE(Tether("policy eval --policies x").status, 0);
  EXPECT_NE(Tether("policy frobnicate").status, 0);
}

}  // namespace
}  // namespace tether
