// Real coding agents under `tether run`: Claude Code and Codex (the pinned
// versions in tests/agents), driven by the scripted fake model
// (tests/agents/fake_model.mjs), with tether's hooks installed by
// `tether hook ... --install`, pushing with real git through tether's proxy
// to a real git server (tests/integration/git_server.h). Every outcome is
// checked where it happens (the remote's refs, what the model was told) and
// in the audit trail. Also `tether run`'s own duties (ending the task,
// passing the exit status, scrubbing credentials, a lapsed lease when the
// runner disappears) and `tether git-credential`. Nothing leaves loopback.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/git_server.h"
#include "tests/integration/tether_server.h"
#include "tests/support/http_test_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

const std::string kAgents = std::string(TETHER_SOURCE_DIR) + "/tests/agents";
const std::string kClaude = kAgents + "/node_modules/.bin/claude";
const std::string kCodex = kAgents + "/node_modules/.bin/codex";
constexpr const char* kModelKey = "fake-model-key-4d1c";

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Sh(const std::string& cmd) {
  CommandResult r = RunCommand(cmd);
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  return r.output;
}

// A process of its own group with exactly `env`, stdin /dev/null, stdout
// and stderr to files. The group is killed if still running at the end.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Kill(); }

  bool Start(std::vector<std::string> argv, const Env& env,
             const std::string& cwd, const std::string& out,
             const std::string& err) {
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int in = ::open("/dev/null", O_RDONLY);
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(in, 0);
      ::dup2(o, 1);
      ::dup2(e, 2);
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    return true;
  }

  // The exit status (128 + signal if signalled), or -1 if it did not end
  // within `seconds` (then the group is killed).
  int Wait(int seconds) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (pid_ > 0) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status)     ? WEXITSTATUS(status)
               : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                     : -1;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Kill();
    return -1;
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct RunResult {
  int status = -1;
  std::string out, err, task_id;
};

// The task id from `tether run`'s "tether run: task <id> on <repo>; ...".
std::string TaskIdFrom(const std::string& err) {
  const std::string mark = "tether run: task ";
  std::size_t at = err.find(mark);
  if (at == std::string::npos) return "";
  at += mark.size();
  std::size_t end = err.find(" on ", at);
  return end == std::string::npos ? "" : err.substr(at, end - at);
}

std::string Str(const json::value* v) {
  return v && v->is_string() ? std::string(v->get_string()) : "";
}

// A content field as text: a string, or the text of its blocks.
std::string ContentText(const json::value& c) {
  if (c.is_string()) return std::string(c.get_string());
  std::string out;
  if (c.is_array()) {
    for (const json::value& b : c.get_array()) {
      if (b.is_object()) out += Str(b.get_object().if_contains("text")) + "\n";
    }
  }
  return out;
}

class AgentsTest : public ::testing::Test {
 protected:
  AgentsTest()
      : dir_(MakeTempDir("tether-agents")), server_("", git_.ProxyConfig()) {}

  ~AgentsTest() override {
    model_.Kill();
    std::error_code ec;
    if (std::getenv("TETHER_KEEP_TEST_DIRS") == nullptr) {
      fs::remove_all(dir_, ec);
    }
  }

  void SetUp() override {
    // Never skipped: the agents are part of the test tools.
    ASSERT_EQ(::access(kClaude.c_str(), X_OK), 0)
        << kClaude << " is missing: run `npm ci` in tests/agents";
    ASSERT_EQ(::access(kCodex.c_str(), X_OK), 0)
        << kCodex << " is missing: run `npm ci` in tests/agents";
    fs::create_directories(dir_ + "/tmp");
    std::string error;
    ASSERT_TRUE(git_.Start(&error)) << error;
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    Reply put = git_.StoreSecret(server_);
    ASSERT_EQ(put.status, 200) << put.body;
  }

  // tether's URL by name: `tether run` exempts only its host from the
  // proxy, so the git server (127.0.0.1) is still reached through it.
  std::string BrokerUrl() const {
    std::string u = server_.url();
    std::size_t at = u.find("127.0.0.1");
    return at == std::string::npos ? u : u.replace(at, 9, "localhost");
  }

  // Starts the fake model with `script`; its requests go to model.jsonl.
  void StartModel(const json::value& script) {
    WriteText(dir_ + "/script.json", json::serialize(script));
    Env env{{"PATH", "/usr/local/bin:/usr/bin:/bin"},
            {"FAKE_MODEL_LOG", dir_ + "/model.jsonl"}};
    ASSERT_TRUE(model_.Start(
        {"node", kAgents + "/fake_model.mjs", dir_ + "/script.json"}, env, dir_,
        dir_ + "/model.out", dir_ + "/model.err"));
    for (int i = 0; i < 200 && model_url_.empty(); ++i) {
      std::string out = ReadText(dir_ + "/model.out");
      const std::string mark = "fake-model listening on http://127.0.0.1:";
      std::size_t at = out.find(mark);
      std::size_t nl = at == std::string::npos ? at : out.find('\n', at);
      if (nl != std::string::npos) {
        model_url_ = "http://localhost:" +
                     out.substr(at + mark.size(), nl - at - mark.size());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    ASSERT_FALSE(model_url_.empty()) << ReadText(dir_ + "/model.err");
  }

  // A clone of acme/api whose origin is the git server (over https), with
  // one local commit not yet pushed.
  std::string MakeProject(const std::string& name) {
    std::string p = dir_ + "/" + name;
    Sh("git clone -q " + git_.RepoPath() + " " + p + " 2>&1 && git -C " + p +
       " remote set-url origin " + git_.RepoUrl() + " && git -C " + p +
       " -c user.name=a -c user.email=a@a commit -q --allow-empty -m change");
    return p;
  }
  std::string Head(const std::string& project) {
    return Sh("git -C " + project + " rev-parse HEAD");
  }

  // What every run starts from: a fresh HOME, tether by name, a workload
  // identity for acme/api, nothing else of this process's environment.
  Env BaseEnv(const std::string& name) {
    std::string home = dir_ + "/home-" + name;
    fs::create_directories(home);
    return {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
            {"HOME", home},
            {"TMPDIR", dir_ + "/tmp"},
            {"LANG", "C.UTF-8"},
            {"TETHER_URL", BrokerUrl()},
            {"TETHER_IDENTITY_TOKEN", server_.IdentityToken()},
            {"GIT_CONFIG_NOSYSTEM", "1"},
            {"GIT_TERMINAL_PROMPT", "0"}};
  }

  // `timeout 180 tether run <run_args> -- <command>` in `cwd`.
  RunResult RunTether(const std::string& name,
                      const std::vector<std::string>& args,
                      const std::vector<std::string>& command, const Env& env,
                      const std::string& cwd) {
    std::vector<std::string> argv = {"timeout", "-k",       "10",
                                     "180",     TETHER_BIN, "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    RunResult r;
    std::string out = dir_ + "/" + name + ".out",
                err = dir_ + "/" + name + ".err";
    Child c;
    if (!c.Start(argv, env, cwd, out, err)) return r;
    r.status = c.Wait(200);
    r.out = ReadText(out);
    r.err = ReadText(err);
    r.task_id = TaskIdFrom(r.err);
    return r;
  }

  // BaseEnv plus what Claude Code needs to talk only to the fake model.
  Env ClaudeEnv(const std::string& name) {
    Env env = BaseEnv(name);
    env["ANTHROPIC_BASE_URL"] = model_url_;
    env["ANTHROPIC_API_KEY"] = kModelKey;
    env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
    env["DISABLE_TELEMETRY"] = "1";
    env["CLAUDE_CODE_MAX_RETRIES"] = "0";
    return env;
  }

  RunResult RunClaude(const std::string& name, const std::string& project,
                      const std::vector<std::string>& extra_args = {}) {
    Env env = ClaudeEnv(name);
    std::vector<std::string> cmd = {
        kClaude,          "-p",  "Push the change.", "--output-format", "json",
        "--allowedTools", "Bash"};
    cmd.insert(cmd.end(), extra_args.begin(), extra_args.end());
    return RunTether(name,
                     {"--repo", "acme/api", "--keep-env", "ANTHROPIC_API_KEY"},
                     cmd, env, project);
  }

  void InstallClaudeHooks(const std::string& project) {
    Sh(std::string(TETHER_BIN) + " hook claude-code --install --project " +
       project);
    std::string settings = ReadText(project + "/.claude/settings.json");
    EXPECT_NE(settings.find("hook claude-code"), std::string::npos) << settings;
  }

  // The authorization decisions on the task's audit trail.
  std::vector<json::object> Decisions(const std::string& task) {
    Reply r =
        server_.Call("GET", "/v1/audit?task=" + task + "&type=authz.decision",
                     server_.admin_token());
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json::object> out;
    const json::value* events = r.json.is_object()
                                    ? r.json.get_object().if_contains("events")
                                    : nullptr;
    if (events && events->is_array()) {
      for (const json::value& e : events->get_array()) {
        if (e.is_object()) out.push_back(e.get_object());
      }
    }
    return out;
  }
  static std::string RefOf(const json::object& e) {
    boost::system::error_code ec;
    return Str(json::value(e).find_pointer("/detail/context/ref", ec));
  }
  // The first decision at `edge` on `ref` ("" for any decision or ref), or
  // null.
  static const json::object* Find(const std::vector<json::object>& events,
                                  const std::string& edge,
                                  const std::string& decision,
                                  const std::string& ref) {
    for (const json::object& e : events) {
      if (Str(e.if_contains("edge")) == edge &&
          (decision.empty() || Str(e.if_contains("decision")) == decision) &&
          (ref.empty() || RefOf(e) == ref)) {
        return &e;
      }
    }
    return nullptr;
  }
  static std::string Dump(const std::vector<json::object>& events) {
    std::string s;
    for (const json::object& e : events) s += json::serialize(e) + "\n";
    return s;
  }
  // The agent reached nothing but the model and tether: no tunnel through
  // the proxy to any other host was even asked for.
  static void ExpectNoOtherHosts(const std::vector<json::object>& events) {
    for (const json::object& e : events) {
      EXPECT_NE(Str(e.if_contains("action")), "http.connect") << Dump(events);
    }
  }
  static std::string LastReason(const json::object& e) {
    const json::value* r = e.if_contains("reasons");
    if (!r || !r->is_array() || r->get_array().empty()) return "";
    return Str(&r->get_array().back());
  }

  // The results the model got back for its scripted call `call_id`
  // (Claude: a tool_result for toolu_fake_N; Codex: a function_call_output
  // for call_fake_N), in order.
  std::vector<std::string> ToolResults(const std::string& call_id) {
    std::vector<std::string> out;
    std::istringstream log(ReadText(dir_ + "/model.jsonl"));
    std::string line;
    while (std::getline(log, line)) {
      boost::system::error_code ec;
      json::value e = json::parse(line, ec);
      if (ec || !e.is_object() ||
          Str(e.get_object().if_contains("kind")) != "main") {
        continue;
      }
      const json::value* body = e.get_object().if_contains("body");
      if (!body || !body->is_object()) continue;
      const json::object& b = body->get_object();
      if (const json::value* ms = b.if_contains("messages");
          ms && ms->is_array()) {
        for (const json::value& m : ms->get_array()) {
          const json::value* c =
              m.is_object() ? m.get_object().if_contains("content") : nullptr;
          if (!c || !c->is_array()) continue;
          for (const json::value& blk : c->get_array()) {
            if (!blk.is_object()) continue;
            const json::object& o = blk.get_object();
            if (Str(o.if_contains("type")) == "tool_result" &&
                Str(o.if_contains("tool_use_id")) == call_id &&
                o.contains("content")) {
              out.push_back(ContentText(o.at("content")));
            }
          }
        }
      }
      if (const json::value* in = b.if_contains("input");
          in && in->is_array()) {
        for (const json::value& i : in->get_array()) {
          if (!i.is_object()) continue;
          const json::object& o = i.get_object();
          if (Str(o.if_contains("type")) == "function_call_output" &&
              Str(o.if_contains("call_id")) == call_id &&
              o.contains("output")) {
            out.push_back(ContentText(o.at("output")));
          }
        }
      }
    }
    return out;
  }
  std::string LastToolResult(const std::string& call_id) {
    std::vector<std::string> all = ToolResults(call_id);
    return all.empty() ? "" : all.back();
  }

  json::value Script(const std::vector<std::string>& commands) {
    json::array steps;
    for (const std::string& c : commands) {
      steps.emplace_back(json::object{{"command", c}});
    }
    return json::object{{"steps", std::move(steps)}, {"final", "All done."}};
  }

  GitServer git_;
  std::string dir_;
  TetherServer server_;
  Child model_;
  std::string model_url_;
};

// ---------------------------------------------------------------------------
// Claude Code

TEST_F(AgentsTest, ClaudeCodeHookDeniesAPushToMain) {
  ASSERT_NO_FATAL_FAILURE(StartModel(Script({"git push origin HEAD:main"})));
  std::string project = MakeProject("claude-deny");
  InstallClaudeHooks(project);
  std::string main_before = git_.Ref("refs/heads/main");
  ASSERT_FALSE(main_before.empty());

  RunResult r = RunClaude("claude-deny", project);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_FALSE(r.task_id.empty()) << r.err;
  EXPECT_NE(r.out.find("\"All done.\""), std::string::npos) << r.out;
  EXPECT_EQ(git_.Ref("refs/heads/main"), main_before);

  std::vector<json::object> events = Decisions(r.task_id);
  ExpectNoOtherHosts(events);
  const json::object* deny = Find(events, "hook", "deny", "refs/heads/main");
  ASSERT_NE(deny, nullptr) << Dump(events);
  EXPECT_EQ(Str(deny->if_contains("action")), "tool.call");
  std::string reason = LastReason(*deny);
  ASSERT_FALSE(reason.empty()) << Dump(events);
  // The push never ran, so the proxy saw no git.push.
  for (const json::object& e : events) {
    EXPECT_NE(Str(e.if_contains("action")), "git.push") << Dump(events);
  }
  // The model was told why, in tether's words.
  std::string told = LastToolResult("toolu_fake_0");
  EXPECT_NE(told.find("tether: refs/heads/main: " + reason), std::string::npos)
      << told;
}

TEST_F(AgentsTest, ClaudeCodePushesToItsOwnNamespace) {
  ASSERT_NO_FATAL_FAILURE(StartModel(
      Script({"git push origin HEAD:refs/heads/agent/$TETHER_TASK_ID/x"})));
  std::string project = MakeProject("claude-allow");
  InstallClaudeHooks(project);

  RunResult r = RunClaude("claude-allow", project);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_FALSE(r.task_id.empty()) << r.err;
  std::string ref = "refs/heads/agent/" + r.task_id + "/x";
  // The ref landed on the real server, through the proxy.
  EXPECT_EQ(git_.Ref(ref), Head(project)) << LastToolResult("toolu_fake_0");

  std::vector<json::object> events = Decisions(r.task_id);
  ExpectNoOtherHosts(events);
  EXPECT_NE(Find(events, "hook", "allow", ref), nullptr) << Dump(events);
  const json::object* proxy = Find(events, "proxy", "allow", ref);
  ASSERT_NE(proxy, nullptr) << Dump(events);
  EXPECT_EQ(Str(proxy->if_contains("action")), "git.push");
  for (const json::object& e : events) {
    EXPECT_NE(Str(e.if_contains("decision")), "deny") << Dump(events);
  }
  // The PostToolUse hook recorded the result.
  Reply results =
      server_.Call("GET", "/v1/audit?task=" + r.task_id + "&type=tool.result",
                   server_.admin_token());
  EXPECT_NE(results.body.find("\"agent\":\"claude-code\""), std::string::npos)
      << results.body;
}

TEST_F(AgentsTest, ClaudeCodeDefersAnApprovalAndResumesInTheSameTask) {
  // Publishing waits for a release manager (tools-publish-needs-approval).
  ASSERT_NO_FATAL_FAILURE(StartModel(Script({"echo npm publish > published"})));
  std::string project = MakeProject("claude-defer");
  InstallClaudeHooks(project);
  // One task around both runs: the first defers the call, the script waits
  // for the decision, the second resumes the same session.
  std::string args = " --output-format json --allowedTools Bash";
  std::string script =
      "'" + kClaude + "' -p 'Publish it.'" + args +
      " > run1.json && sid=$(sed -n "
      "'s/.*\"session_id\":\"\\([^\"]*\\)\".*/\\1/p' run1.json) && '" +
      TETHER_BIN + "' approvals wait --timeout 120 && '" + kClaude +
      "' -p --resume \"$sid\"" + args + " > run2.json";
  Child run;
  ASSERT_TRUE(run.Start(
      {"timeout", "-k", "10", "180", TETHER_BIN, "run", "--repo", "acme/api",
       "--keep-env", "ANTHROPIC_API_KEY", "--", "sh", "-c", script},
      ClaudeEnv("claude-defer"), project, dir_ + "/defer.out",
      dir_ + "/defer.err"));
  // The approval the deferred call raised.
  std::string task_id, approval_id;
  for (int i = 0; i < 1200 && approval_id.empty(); ++i) {
    if (task_id.empty()) task_id = TaskIdFrom(ReadText(dir_ + "/defer.err"));
    if (!task_id.empty()) {
      Reply list =
          server_.Call("GET", "/v1/approvals?state=pending&task=" + task_id,
                       server_.admin_token());
      if (list.json.is_object() &&
          !list.json.at("approvals").as_array().empty()) {
        approval_id = std::string(
            list.json.at("approvals").as_array()[0].at("id").as_string());
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(approval_id.empty()) << ReadText(dir_ + "/defer.err");
  EXPECT_FALSE(fs::exists(project + "/published"));
  Reply shown = server_.Call("GET", "/v1/approvals/" + approval_id,
                             server_.admin_token());
  EXPECT_EQ(shown.Field("/edge"), "hook");
  EXPECT_EQ(shown.Field("/context/command"), "echo npm publish > published");

  std::string approver =
      server_.OperatorToken("rel", "approver", {"release-managers"});
  Reply ok = server_.CallJson(
      "POST", "/v1/approvals/" + approval_id + "/approve", approver,
      json::value(json::object{{"reason", "release 1.2"}}));
  ASSERT_EQ(ok.status, 200) << ok.body;

  EXPECT_EQ(run.Wait(200), 0) << ReadText(dir_ + "/defer.err");
  std::string first = ReadText(project + "/run1.json");
  EXPECT_NE(first.find("tool_deferred"), std::string::npos) << first;
  // The resumed run ran the call under the approval, in the same task.
  EXPECT_TRUE(fs::exists(project + "/published"))
      << ReadText(project + "/run2.json") << ReadText(dir_ + "/defer.err");
  std::vector<json::object> events = Decisions(task_id);
  const json::object* allowed = nullptr;
  for (const json::object& e : events) {
    if (Str(e.if_contains("decision")) == "allow" &&
        Str(e.if_contains("approval_id")) == approval_id) {
      allowed = &e;
    }
  }
  EXPECT_NE(allowed, nullptr) << Dump(events);
  Reply used =
      server_.Call("GET", "/v1/audit?task=" + task_id + "&type=approval.use",
                   server_.admin_token());
  EXPECT_NE(used.body.find(approval_id), std::string::npos) << used.body;
}

TEST_F(AgentsTest, ClaudeCodeWithoutHooksIsStillHeldByTheProxy) {
  ASSERT_NO_FATAL_FAILURE(StartModel(Script({"git push origin HEAD:main"})));
  std::string project = MakeProject("claude-bare");
  InstallClaudeHooks(project);  // installed, but --bare skips them
  std::string main_before = git_.Ref("refs/heads/main");

  RunResult r = RunClaude("claude-bare", project, {"--bare"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_FALSE(r.task_id.empty()) << r.err;
  EXPECT_EQ(git_.Ref("refs/heads/main"), main_before);

  std::vector<json::object> events = Decisions(r.task_id);
  ExpectNoOtherHosts(events);
  const json::object* deny = Find(events, "proxy", "deny", "refs/heads/main");
  ASSERT_NE(deny, nullptr) << Dump(events);
  EXPECT_EQ(Str(deny->if_contains("action")), "git.push");
  for (const json::object& e : events) {
    EXPECT_NE(Str(e.if_contains("edge")), "hook") << Dump(events);
  }
  // git ran, and told the model that tether refused the push.
  std::string told = LastToolResult("toolu_fake_0");
  EXPECT_NE(told.find("tether"), std::string::npos) << told;
}

// ---------------------------------------------------------------------------
// Codex

TEST_F(AgentsTest, CodexHookDeniesMainAndAllowsItsOwnNamespace) {
  ASSERT_NO_FATAL_FAILURE(StartModel(
      Script({"git push origin HEAD:main",
              "git push origin HEAD:refs/heads/agent/$TETHER_TASK_ID/codex"})));
  std::string project = MakeProject("codex");
  std::string codex_home = dir_ + "/codex-home";
  fs::create_directories(codex_home);
  WriteText(codex_home + "/config.toml",
            "model = \"gpt-fake\"\n"
            "model_provider = \"fake\"\n"
            "approval_policy = \"never\"\n"
            "sandbox_mode = \"danger-full-access\"\n"
            "check_for_update_on_startup = false\n\n"
            "[model_providers.fake]\n"
            "name = \"fake\"\n"
            "base_url = \"" +
                model_url_ +
                "/v1\"\n"
                "wire_api = \"responses\"\n"
                "env_key = \"FAKE_MODEL_API_KEY\"\n"
                "request_max_retries = 0\n"
                "stream_max_retries = 0\n\n"
                "[features]\n"
                "plugins = false\n"
                "unbounded_connection_retries = false\n\n"
                "[analytics]\n"
                "enabled = false\n\n"
                "[otel]\n"
                "exporter = \"none\"\n");
  // Trusted by the install itself: no --dangerously-bypass-hook-trust.
  Sh(std::string(TETHER_BIN) + " hook codex --install --codex-home " +
     codex_home);
  std::string main_before = git_.Ref("refs/heads/main");

  Env env = BaseEnv("codex");
  env["CODEX_HOME"] = codex_home;
  env["FAKE_MODEL_API_KEY"] = kModelKey;
  RunResult r = RunTether(
      "codex", {"--repo", "acme/api", "--keep-env", "FAKE_MODEL_API_KEY"},
      {kCodex, "exec", "--skip-git-repo-check", "--color", "never",
       "Push the change."},
      env, project);
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_FALSE(r.task_id.empty()) << r.err;
  EXPECT_NE(r.out.find("All done."), std::string::npos) << r.out;

  // Denied by the hook: main is unchanged and the model knows why.
  EXPECT_EQ(git_.Ref("refs/heads/main"), main_before);
  std::vector<json::object> events = Decisions(r.task_id);
  ExpectNoOtherHosts(events);
  const json::object* deny = Find(events, "hook", "deny", "refs/heads/main");
  ASSERT_NE(deny, nullptr) << Dump(events) << r.err;
  EXPECT_EQ(Find(events, "proxy", "", "refs/heads/main"), nullptr);
  std::string told = LastToolResult("call_fake_0");
  EXPECT_NE(told.find("tether: refs/heads/main: " + LastReason(*deny)),
            std::string::npos)
      << told;

  // Allowed by the hook and by the proxy: the ref landed.
  std::string ref = "refs/heads/agent/" + r.task_id + "/codex";
  EXPECT_EQ(git_.Ref(ref), Head(project)) << LastToolResult("call_fake_1");
  EXPECT_NE(Find(events, "hook", "allow", ref), nullptr) << Dump(events);
  EXPECT_NE(Find(events, "proxy", "allow", ref), nullptr) << Dump(events);
  // The PostToolUse hook recorded the allowed call's result.
  Reply results =
      server_.Call("GET", "/v1/audit?task=" + r.task_id + "&type=tool.result",
                   server_.admin_token());
  EXPECT_NE(results.body.find("\"tool_use_id\":\"call_fake_1\""),
            std::string::npos)
      << results.body;
}

// ---------------------------------------------------------------------------
// tether run

TEST_F(AgentsTest, RunEndsTheTaskPassesTheStatusAndScrubsCredentials) {
  Env env = BaseEnv("run");
  env["GITHUB_TOKEN"] = "ghp_standing0credential0of0the0runner";
  WriteText(env["HOME"] + "/.git-credentials",
            "https://x:ghp_file0credential@github.com\n");
  std::string seen = dir_ + "/seen";
  RunResult r = RunTether("run", {"--repo", "acme/api"},
                          {"sh", "-c",
                           "printf %s \"$TETHER_TASK_TOKEN\" > " + seen +
                               ".token && env > " + seen + ".env && exit 7"},
                          env, dir_);
  EXPECT_EQ(r.status, 7) << r.err;
  ASSERT_FALSE(r.task_id.empty()) << r.err;

  // A credential file the command could still read is named.
  EXPECT_NE(r.err.find(env["HOME"] + "/.git-credentials"), std::string::npos)
      << r.err;
  // The runner's credential never reached the command, and it says so.
  std::string child_env = ReadText(seen + ".env");
  ASSERT_FALSE(child_env.empty());
  EXPECT_EQ(child_env.find("GITHUB_TOKEN"), std::string::npos) << child_env;
  EXPECT_EQ(child_env.find("ghp_standing"), std::string::npos);
  EXPECT_EQ(child_env.find("TETHER_IDENTITY_TOKEN"), std::string::npos);
  std::size_t removed =
      r.err.find("tether run: removed from the command's environment: ");
  ASSERT_NE(removed, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("GITHUB_TOKEN", removed), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ghp_standing"), std::string::npos);

  // The task ended with the command: its token is worth nothing now.
  std::string token = ReadText(seen + ".token");
  ASSERT_FALSE(token.empty());
  Reply task =
      server_.Call("GET", "/v1/tasks/" + r.task_id, server_.admin_token());
  EXPECT_EQ(task.Field("/task/state"), "ended") << task.body;
  Reply decided = server_.CallJson(
      "POST", "/v1/authorize", token,
      json::value(json::object{
          {"action", "git.fetch"},
          {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}}));
  if (decided.status == 200) {
    EXPECT_EQ(decided.Field("/decision"), "deny") << decided.body;
    EXPECT_NE(decided.body.find("ended"), std::string::npos) << decided.body;
  } else {
    EXPECT_EQ(decided.status, 401) << decided.body;
  }
  Reply own = server_.Call("GET", "/v1/tasks/" + r.task_id, token);
  EXPECT_GE(own.status, 400) << own.body;
}

TEST_F(AgentsTest, RunForwardsSIGTERMAndReportsTheSignal) {
  Env env = BaseEnv("signal");
  std::string pidfile = dir_ + "/signal.pid";
  Child run;
  ASSERT_TRUE(run.Start({TETHER_BIN, "run", "--repo", "acme/api", "--", "sh",
                         "-c", "echo $$ > " + pidfile + " && exec sleep 600"},
                        env, dir_, dir_ + "/signal.out", dir_ + "/signal.err"));
  for (int i = 0; i < 200 && ReadText(pidfile).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(ReadText(pidfile).empty()) << ReadText(dir_ + "/signal.err");
  std::string task_id = TaskIdFrom(ReadText(dir_ + "/signal.err"));
  ASSERT_FALSE(task_id.empty());
  // Sent to tether run alone (not its group): the command gets it too.
  ASSERT_EQ(::kill(run.pid(), SIGTERM), 0);
  EXPECT_EQ(run.Wait(20), 128 + SIGTERM) << ReadText(dir_ + "/signal.err");
  Reply task =
      server_.Call("GET", "/v1/tasks/" + task_id, server_.admin_token());
  EXPECT_EQ(task.Field("/task/state"), "ended") << task.body;
}

TEST_F(AgentsTest, ARunnerThatDisappearsLosesItsTaskWhenTheLeaseLapses) {
  Env env = BaseEnv("lease");
  std::string pidfile = dir_ + "/sleep.pid";
  Child run;
  ASSERT_TRUE(
      run.Start({TETHER_BIN, "run", "--repo", "acme/api", "--lease", "5", "--",
                 "sh", "-c", "echo $$ > " + pidfile + " && exec sleep 600"},
                env, dir_, dir_ + "/lease.out", dir_ + "/lease.err"));
  std::string task_id;
  pid_t sleeper = -1;
  for (int i = 0; i < 200 && (task_id.empty() || sleeper <= 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    task_id = TaskIdFrom(ReadText(dir_ + "/lease.err"));
    std::string pid = ReadText(pidfile);
    if (!pid.empty() && pid.back() == '\n') sleeper = std::atoi(pid.c_str());
  }
  ASSERT_FALSE(task_id.empty()) << ReadText(dir_ + "/lease.err");
  ASSERT_GT(sleeper, 0);
  // Heartbeats keep it alive past its lease.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  Reply alive =
      server_.Call("GET", "/v1/tasks/" + task_id, server_.admin_token());
  ASSERT_EQ(alive.Field("/task/state"), "active") << alive.body;

  // The runner is killed outright: nothing ends the task but its lease.
  ASSERT_EQ(::kill(run.pid(), SIGKILL), 0);
  EXPECT_EQ(run.Wait(10), 128 + SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  EXPECT_EQ(::kill(sleeper, SIGKILL), 0);  // the orphaned command

  // The lease (5 s) plus the server's sweep interval (1 s), and a margin.
  Reply task;
  while (std::chrono::steady_clock::now() - killed < std::chrono::seconds(9)) {
    task = server_.Call("GET", "/v1/tasks/" + task_id, server_.admin_token());
    if (task.Field("/task/state") == "ended") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(task.Field("/task/state"), "ended") << task.body;
  EXPECT_EQ(task.Field("/task/end_reason"), "lease_lapsed") << task.body;
}

// ---------------------------------------------------------------------------
// tether git-credential

TEST_F(AgentsTest, GitGetsTheTaskTokenOnlyFromTheCredentialHelper) {
  auto [task_id, token] = server_.StartTask();
  ASSERT_FALSE(token.empty());
  std::string project = MakeProject("cred");
  std::string home = dir_ + "/home-cred";
  fs::create_directories(home);
  std::string proxy = server_.proxy_url();  // http://127.0.0.1:<port>
  // The proxy's URL names a user but holds no password: git asks its
  // credential helpers for one, and only tether's answers.
  std::string env =
      "env -i PATH=/usr/bin:/bin HOME=" + home +
      " GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 HTTPS_PROXY=http://task@" +
      proxy.substr(7) + " GIT_SSL_CAINFO=" + server_.dir() +
      "/data/proxy-ca.pem TETHER_TASK_TOKEN=" + token +
      " TETHER_PROXY_URL=" + proxy + " ";
  std::string helper = "!" + Quote(TETHER_BIN) + " git-credential";
  std::string ref = "refs/heads/agent/" + task_id + "/cred";
  CommandResult push = RunCommand(
      env + "timeout 120 git -C " + project +
      " -c credential.helper= -c credential.helper=" + Quote(helper) +
      " push -q origin HEAD:" + ref + " </dev/null");
  EXPECT_EQ(push.status, 0) << push.output;
  EXPECT_EQ(git_.Ref(ref), Head(project));
  EXPECT_NE(Find(Decisions(task_id), "proxy", "allow", ref), nullptr);

  // Without the helper git has no password for the proxy: nothing lands.
  CommandResult bare = RunCommand(env + "timeout 120 git -C " + project +
                                  " -c credential.helper= push -q origin "
                                  "HEAD:" +
                                  ref + "-2 </dev/null");
  EXPECT_NE(bare.status, 0) << bare.output;
  EXPECT_TRUE(git_.Ref(ref + "-2").empty());

  // store and erase keep nothing anywhere under a fresh HOME (or the
  // working directory).
  std::string fresh = dir_ + "/fresh";
  fs::create_directories(fresh + "/home/.config");
  fs::create_directories(fresh + "/cwd");
  std::string tree = "cd " + fresh + " && find . -printf '%p %s %T@\\n' | sort";
  std::string before = Sh(tree);
  // `tether git-credential <args>` with `input` on stdin, as git runs it.
  auto credential = [&](const std::string& args, const std::string& input) {
    return RunCommand("cd " + fresh + "/cwd && printf %s " + Quote(input) +
                      " | env -i PATH=/usr/bin:/bin HOME=" + fresh +
                      "/home XDG_CONFIG_HOME=" + fresh +
                      "/home/.config TETHER_TASK_TOKEN=" + token +
                      " TETHER_PROXY_URL=" + proxy +
                      " TETHER_PROXY_HOSTS=127.0.0.1 " + TETHER_BIN +
                      " git-credential " + args);
  };
  std::string git_host =
      "protocol=https\nhost=127.0.0.1:" + std::to_string(git_.port()) + "\n";
  for (const char* op : {"store", "erase"}) {
    CommandResult r = credential(
        op, git_host + "username=someone\npassword=kept-nowhere-9c2e\n\n");
    EXPECT_EQ(r.status, 0) << op << ": " << r.output;
    EXPECT_EQ(r.output, "") << op;
  }
  EXPECT_EQ(Sh(tree), before);
  CommandResult grep = RunCommand("grep -rl kept-nowhere-9c2e " + fresh);
  EXPECT_NE(grep.status, 0) << grep.output;

  // get: nothing for a host tether does not route; quit=1 with --block.
  std::string other = "protocol=https\nhost=example.com\n\n";
  CommandResult get = credential("get", other);
  EXPECT_EQ(get.status, 0);
  EXPECT_EQ(get.output, "");
  CommandResult blocked = credential("--block get", other);
  EXPECT_EQ(blocked.status, 0);
  EXPECT_EQ(blocked.output, "quit=1\n");
  // And the task token for a routed host over https.
  CommandResult routed = credential("get", git_host + "\n");
  EXPECT_EQ(routed.output, "username=tether-task\npassword=" + token + "\n");
}

TEST_F(AgentsTest, RunTakesGitHubActionsIdToken) {
  // GitHub Actions' id-token endpoint, standing in: it hands out a token of
  // the test issuer for the audience asked.
  std::string identity = server_.IdentityToken();
  HttpTestServer actions([&](int, const RecordedRequest&) {
    return CannedResponse{200, "application/json",
                          "{\"value\":\"" + identity + "\"}"};
  });
  Env env = BaseEnv("actions");
  env.erase("TETHER_IDENTITY_TOKEN");
  env["ACTIONS_ID_TOKEN_REQUEST_URL"] = actions.url("/token?api-version=2.0");
  env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "actions-runtime-bearer-0001";
  RunResult r =
      RunTether("actions", {"--repo", "acme/api", "--audience", "tether"},
                {"sh", "-c", "env > " + dir_ + "/actions.env"}, env, dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_FALSE(r.task_id.empty()) << r.err;
  std::vector<RecordedRequest> asked = actions.requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_NE(asked[0].target.find("audience=tether"), std::string::npos)
      << asked[0].target;
  std::string auth;
  for (const auto& [k, v] : asked[0].headers) {
    if (k == "Authorization" || k == "authorization") auth = v;
  }
  EXPECT_EQ(auth, "Bearer actions-runtime-bearer-0001");
  // The task belongs to the workload; the runner's variables stay behind.
  Reply task =
      server_.Call("GET", "/v1/tasks/" + r.task_id, server_.admin_token());
  EXPECT_NE(task.body.find("repo:acme/api"), std::string::npos) << task.body;
  std::string child_env = ReadText(dir_ + "/actions.env");
  EXPECT_EQ(child_env.find("ACTIONS_ID_TOKEN_REQUEST"), std::string::npos)
      << child_env;
  EXPECT_EQ(child_env.find(identity), std::string::npos);
}

// ---------------------------------------------------------------------------
// The hook adapters by themselves

TEST_F(AgentsTest, HooksDescribeEachKindOfToolCall) {
  std::string calls[] = {
      R"({"hook_event_name":"PreToolUse","session_id":"s-1","tool_name":"Read","tool_input":{"file_path":"/srv/app/.env"}})",
      R"({"hook_event_name":"PreToolUse","session_id":"s-1","tool_name":"WebFetch","tool_input":{"url":"https://Docs.Example.COM/a?b=1","prompt":"x"}})",
      R"({"hook_event_name":"PreToolUse","session_id":"s-1","tool_name":"mcp__github__create_issue","tool_input":{"repo":"acme/api","title":"t"}})",
      R"({"hook_event_name":"PreToolUse","session_id":"s-1","tool_name":"Bash","tool_input":{"command":"git -C . push --force origin 'HEAD:refs/heads/release/1.0'"}})"};
  std::string script;
  int n = 0;
  for (const std::string& c : calls) {
    std::string file = dir_ + "/call" + std::to_string(n++) + ".json";
    WriteText(file, c);
    script += "'" + std::string(TETHER_BIN) + "' hook claude-code < " + file +
              " >> " + dir_ + "/hook.out; ";
  }
  RunResult r = RunTether("hooks", {"--repo", "acme/api"}, {"sh", "-c", script},
                          BaseEnv("hooks"), dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<json::object> events = Decisions(r.task_id);
  auto context = [&](const std::string& tool) -> json::object {
    for (const json::object& e : events) {
      if (Str(e.if_contains("resource")) == "Tool::\"" + tool + "\"") {
        const json::value* d = e.if_contains("detail");
        const json::value* c = d && d->is_object()
                                   ? d->get_object().if_contains("context")
                                   : nullptr;
        if (c && c->is_object()) return c->get_object();
      }
    }
    return {};
  };
  json::object read = context("Read");
  EXPECT_EQ(Str(read.if_contains("file")), "/srv/app/.env") << Dump(events);
  EXPECT_EQ(Str(read.if_contains("edge")), "hook");
  EXPECT_EQ(Str(read.if_contains("session")), "s-1");
  json::object fetch = context("WebFetch");
  EXPECT_EQ(Str(fetch.if_contains("url_host")), "docs.example.com");
  json::object mcp = context("mcp__github__create_issue");
  EXPECT_EQ(Str(mcp.if_contains("mcp_server")), "github");
  EXPECT_EQ(Str(mcp.if_contains("mcp_tool")), "create_issue");
  ASSERT_TRUE(mcp.contains("arguments")) << Dump(events);
  EXPECT_EQ(Str(mcp.at("arguments").get_object().if_contains("repo")),
            "acme/api");
  json::object push = context("Bash");
  EXPECT_EQ(Str(push.if_contains("ref")), "refs/heads/release/1.0");
  EXPECT_TRUE(push.contains("git_force") && push.at("git_force").as_bool());
  // Three allowed (nothing printed for them is a deny) and one denied.
  std::string out = ReadText(dir_ + "/hook.out");
  std::size_t denies = 0;
  for (std::size_t at = out.find("\"deny\""); at != std::string::npos;
       at = out.find("\"deny\"", at + 1)) {
    ++denies;
  }
  EXPECT_EQ(denies, 1u) << out;
}

TEST_F(AgentsTest, HooksFailClosed) {
  std::string call =
      R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}})";
  WriteText(dir_ + "/call.json", call);
  auto hook = [&](const std::string& agent, const std::string& env_prefix,
                  const std::string& input) {
    return RunCommand(env_prefix + " '" + std::string(TETHER_BIN) + "' hook " +
                      agent + " < " + input + " 2>/dev/null");
  };
  // Nothing listens on port 9 of localhost: tether cannot be asked.
  std::string unreachable =
      "env -i PATH=/usr/bin:/bin TETHER_URL=http://127.0.0.1:9 "
      "TETHER_TASK_TOKEN=eyJhbGciOiJFZERTQSJ9.e30.sig";
  for (const std::string agent : {"claude-code", "codex"}) {
    CommandResult down = hook(agent, unreachable, dir_ + "/call.json");
    EXPECT_EQ(down.status, 2) << down.output;
    EXPECT_NE(down.output.find("\"permissionDecision\":\"deny\""),
              std::string::npos)
        << down.output;
    // No task token at all.
    CommandResult none =
        hook(agent, "env -i PATH=/usr/bin:/bin", dir_ + "/call.json");
    EXPECT_EQ(none.status, 2) << none.output;
    EXPECT_NE(none.output.find("deny"), std::string::npos) << none.output;
    // Input that is not a tool call.
    WriteText(dir_ + "/bad.json", "{\"hook_event_name\":\"PreToolUse\"");
    CommandResult bad = hook(agent, unreachable, dir_ + "/bad.json");
    EXPECT_EQ(bad.status, 2) << bad.output;
    EXPECT_NE(bad.output.find("deny"), std::string::npos) << bad.output;
  }
}

}  // namespace
}  // namespace tether::testing
