#include "hooks/tool_calls.h"

#include <stdlib.h>

#include <boost/json.hpp>

#include <gtest/gtest.h>

namespace tether::hooks {
namespace {

namespace json = boost::json;

GitPush OnlyPush(std::string_view command) {
  std::vector<GitPush> p = FindGitPushes(command);
  EXPECT_EQ(p.size(), 1u) << command;
  return p.empty() ? GitPush{} : p[0];
}

TEST(FindGitPushes, ReadsTheDestinationOfEachRefspec) {
  GitPush p = OnlyPush("git push origin HEAD:main");
  EXPECT_EQ(p.remote, "origin");
  EXPECT_EQ(p.refs, std::vector<std::string>{"refs/heads/main"});
  EXPECT_FALSE(p.unknown_ref);

  p = OnlyPush("git push -u origin feature/x +HEAD:refs/tags/v1");
  EXPECT_EQ(p.refs,
            (std::vector<std::string>{"refs/heads/feature/x", "refs/tags/v1"}));
  EXPECT_TRUE(p.force);

  p = OnlyPush("git push origin :old-branch");
  EXPECT_TRUE(p.remove);
  EXPECT_EQ(p.refs, std::vector<std::string>{"refs/heads/old-branch"});
}

TEST(FindGitPushes, FindsPushesInsideLargerCommandLines) {
  std::vector<GitPush> p = FindGitPushes(
      "cd repo && GIT_TRACE=1 git -C . -c push.default=current push "
      "--force-with-lease 'origin' \"HEAD:main\"; echo done | tee log");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].remote, "origin");
  EXPECT_EQ(p[0].refs, std::vector<std::string>{"refs/heads/main"});
  EXPECT_TRUE(p[0].force);
  EXPECT_EQ(FindGitPushes("git commit -m 'git push origin main'").size(), 0u);
  EXPECT_EQ(FindGitPushes("/usr/bin/git push origin a && git push o b").size(),
            2u);
}

TEST(FindGitPushes, MarksWhatItCannotRead) {
  EXPECT_TRUE(OnlyPush("git push").unknown_ref);
  EXPECT_TRUE(OnlyPush("git push origin").unknown_ref);
  EXPECT_TRUE(OnlyPush("git push --all origin").unknown_ref);
  EXPECT_TRUE(OnlyPush("git push origin HEAD").unknown_ref);
  EXPECT_TRUE(
      OnlyPush("git push origin 'refs/heads/*:refs/heads/*'").unknown_ref);
  EXPECT_TRUE(
      OnlyPush("git push origin HEAD:$TETHER_TEST_UNSET_VAR").unknown_ref);
  EXPECT_TRUE(OnlyPush("git push origin HEAD:bad..ref").unknown_ref);
}

TEST(FindGitPushes, ExpandsVariablesFromTheEnvironment) {
  ::setenv("TETHER_TEST_TASK", "t123", 1);
  GitPush p = OnlyPush("git push origin HEAD:agent/${TETHER_TEST_TASK}/x");
  EXPECT_EQ(p.refs, std::vector<std::string>{"refs/heads/agent/t123/x"});
  ::unsetenv("TETHER_TEST_TASK");
}

TEST(FindGitPushes, AVariableTheCommandSetsIsNotTheHooks) {
  ::setenv("TETHER_TEST_B", "agent/t1/x", 1);
  EXPECT_TRUE(
      OnlyPush("TETHER_TEST_B=main; git push origin HEAD:$TETHER_TEST_B")
          .unknown_ref);
  ::unsetenv("TETHER_TEST_B");
  GitPush p =
      OnlyPush("GIT_SSH_COMMAND=/usr/bin/ssh git push origin HEAD:main");
  EXPECT_EQ(p.refs, std::vector<std::string>{"refs/heads/main"});
}

TEST(MapToolCall, RefusesWhatItCannotReadWhole) {
  auto map = [](const std::string& input) {
    return MapToolCall(json::parse(input).as_object(), Agent::kCodex);
  };
  // Codex's argv form is read as one command line.
  auto argv = map(
      R"({"tool_name":"shell","tool_input":{"command":["bash","-lc","git push origin HEAD:main"]}})");
  ASSERT_TRUE(argv);
  EXPECT_EQ(argv->pushes.size(), 1u);
  EXPECT_FALSE(map(R"({"tool_name":"Bash","tool_input":{"command":7}})"));
  std::string padded = "git push origin HEAD:main #" + std::string(17000, 'x');
  EXPECT_FALSE(map(R"({"tool_name":"Bash","tool_input":{"command":")" + padded +
                   "\"}}"));
  EXPECT_FALSE(map(R"({"tool_name":"mcp__a__b","tool_input":{"x":")" +
                   std::string(17000, 'y') + "\"}}"));
}

TEST(MapToolCall, DescribesEachKindOfTool) {
  auto call = [](std::string_view input, Agent agent = Agent::kClaude) {
    auto c = MapToolCall(json::parse(input).as_object(), agent);
    EXPECT_TRUE(c) << input;
    return c ? *c : ToolCall{};
  };
  ToolCall bash = call(
      R"({"tool_name":"Bash","session_id":"s","tool_input":{"command":"git push origin HEAD:main"}})");
  EXPECT_EQ(bash.tool, "Bash");
  EXPECT_EQ(bash.context.at("command").as_string(),
            "git push origin HEAD:main");
  EXPECT_TRUE(bash.context.at("git_push").as_bool());
  EXPECT_FALSE(bash.context.at("git_ref_unknown").as_bool());
  EXPECT_EQ(bash.context.at("session").as_string(), "s");
  ASSERT_EQ(bash.pushes.size(), 1u);

  ToolCall codex = call(
      R"({"tool_name":"apply_patch","tool_input":{"command":"*** Begin Patch\n*** Update File: a.c\n@@\n*** Add File: b.c\n+x\n*** End Patch\n"}})",
      Agent::kCodex);
  EXPECT_EQ(codex.context.at("agent").as_string(), "codex");
  EXPECT_EQ(codex.context.at("files").as_array().size(), 2u);
  EXPECT_EQ(codex.context.at("file").as_string(), "a.c");

  ToolCall mcp = call(
      R"({"tool_name":"mcp__linear__create_issue","tool_input":{"title":"t"}})");
  EXPECT_EQ(mcp.context.at("mcp_server").as_string(), "linear");
  EXPECT_EQ(mcp.context.at("mcp_tool").as_string(), "create_issue");

  ToolCall fetch = call(
      R"({"tool_name":"WebFetch","tool_input":{"url":"https://EXAMPLE.com:8443/x"}})");
  EXPECT_EQ(fetch.context.at("url_host").as_string(), "example.com");

  EXPECT_FALSE(MapToolCall(json::parse(R"({"tool_input":{}})").as_object(),
                           Agent::kClaude));
}

}  // namespace
}  // namespace tether::hooks
