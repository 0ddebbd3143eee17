// Real git through the proxy to a real git server: `git http-backend`
// behind nginx and fcgiwrap, over HTTPS with a test CA, requiring a Basic
// password that only tether holds. The git client knows only HTTPS_PROXY
// (with the task token), tether's CA and the repository's URL.
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/integration/git_server.h"
#include "tests/integration/tether_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

constexpr const char* kPassword = GitServer::kPassword;

std::string Sh(const std::string& cmd) {
  CommandResult r = RunCommand(cmd);
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  return r.output;
}

class GitProxyTest : public ::testing::Test {
 protected:
  GitProxyTest()
      : dir_(MakeTempDir("tether-git-client")),
        // Far below the packs pushed here: they stream.
        server_("", git_.ProxyConfig("max_body_bytes = 1048576\n")) {}

  ~GitProxyTest() override {
    std::error_code ec;
    if (std::getenv("TETHER_KEEP_TEST_DIRS") == nullptr) {
      std::filesystem::remove_all(dir_, ec);
    }
  }

  void SetUp() override {
    std::string error;
    ASSERT_TRUE(git_.Start(&error)) << error;
    // The server: the git password is a secret bound to the git host.
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    Reply put = git_.StoreSecret(server_);
    ASSERT_EQ(put.status, 200) << put.body;
    std::tie(task_id_, token_) = server_.StartTask();
    ASSERT_FALSE(token_.empty());
    remote_ = git_.RepoUrl();
    std::string proxy = server_.proxy_url();
    // Only the proxy (with the task token as its password) and tether's CA.
    env_ = "env -i PATH=/usr/bin:/bin HOME=" + dir_ +
           "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 "
           "HTTPS_PROXY=http://task:" +
           token_ + "@" + proxy.substr(7) + " GIT_SSL_CAINFO=" + server_.dir() +
           "/data/proxy-ca.pem ";
    std::filesystem::create_directories(dir_ + "/home");
  }

  CommandResult Git(const std::string& args) {
    return RunCommand(env_ + "git " + args);
  }
  std::string RemoteRef(const std::string& ref) { return git_.Ref(ref); }

  GitServer git_;
  std::string dir_;  // the client's clone and home
  TetherServer server_;
  std::string task_id_, token_, remote_, env_;
};

TEST_F(GitProxyTest, CloneAndPushOnlyToTheTasksNamespace) {
  CommandResult clone = Git("clone -q " + remote_ + " " + dir_ + "/work");
  ASSERT_EQ(clone.status, 0) << clone.output;
  std::string work = " -C " + dir_ + "/work ";
  Sh("git" + work +
     "-c user.name=a -c user.email=a@a commit -q --allow-empty "
     "-m change");
  std::string own = "agent/" + task_id_ + "/x";
  CommandResult ok = Git(work + "push -q origin HEAD:refs/heads/" + own);
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_FALSE(RemoteRef("refs/heads/" + own).empty());

  std::string main_before = RemoteRef("refs/heads/main");
  CommandResult main = Git(work + "push origin HEAD:refs/heads/main");
  EXPECT_NE(main.status, 0);
  EXPECT_NE(main.output.find("tether"), std::string::npos) << main.output;
  EXPECT_EQ(RemoteRef("refs/heads/main"), main_before);

  // One allowed and one forbidden ref: the whole push is refused.
  std::string other = "agent/" + task_id_ + "/y";
  CommandResult mixed = Git(work + "push origin HEAD:refs/heads/" + other +
                            " HEAD:refs/heads/main");
  EXPECT_NE(mixed.status, 0) << mixed.output;
  EXPECT_TRUE(RemoteRef("refs/heads/" + other).empty());
  EXPECT_EQ(RemoteRef("refs/heads/main"), main_before);

  // The agent never saw the upstream password.
  for (const CommandResult* r : {&clone, &ok, &main, &mixed}) {
    EXPECT_EQ(r->output.find(kPassword), std::string::npos);
  }
  CommandResult grep = RunCommand("grep -rl '" + std::string(kPassword) + "' " +
                                  dir_ + "/work " + dir_ + "/home");
  EXPECT_NE(grep.status, 0) << grep.output;
  EXPECT_EQ(env_.find(kPassword), std::string::npos);

  // Each ref was its own decision at the proxy edge.
  Reply audit =
      server_.Call("GET", "/v1/audit?task=" + task_id_ + "&type=authz.decision",
                   server_.admin_token());
  EXPECT_NE(audit.body.find("\"ref\":\"refs/heads/main\""), std::string::npos);
  EXPECT_NE(audit.body.find("\"edge\":\"proxy\""), std::string::npos);
}

TEST_F(GitProxyTest, APackLargerThanAnyBufferedBodyStreamsThrough) {
  ASSERT_EQ(Git("clone -q " + remote_ + " " + dir_ + "/work").status, 0);
  std::string work = " -C " + dir_ + "/work ";
  // 24 MiB that does not compress: the pack is about as large, 24 times
  // what the proxy would read whole.
  Sh("head -c 25165824 /dev/urandom > " + dir_ + "/work/big.bin && git" + work +
     "add big.bin && git" + work +
     "-c user.name=a -c user.email=a@a commit -q -m big");
  std::string main_before = RemoteRef("refs/heads/main");
  // Refused: the pack is read to its end so git hears why.
  CommandResult main = Git(work + "push origin HEAD:refs/heads/main");
  EXPECT_NE(main.status, 0);
  EXPECT_NE(main.output.find("tether"), std::string::npos) << main.output;
  EXPECT_EQ(RemoteRef("refs/heads/main"), main_before);
  // Allowed: the pack streams on to the server.
  std::string own = "refs/heads/agent/" + task_id_ + "/big";
  CommandResult ok = Git(work + "push -q origin HEAD:" + own);
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_EQ(RemoteRef(own),
            RunCommand("git -C " + dir_ + "/work rev-parse HEAD").output);
  std::string calls =
      server_
          .Call("GET", "/v1/audit?task=" + task_id_ + "&type=proxy.request",
                server_.admin_token())
          .body;
  EXPECT_NE(calls.find("git-receive-pack"), std::string::npos) << calls;
}

TEST_F(GitProxyTest, ARevokedTaskCannotFetch) {
  ASSERT_EQ(Git("clone -q " + remote_ + " " + dir_ + "/work").status, 0);
  Reply revoked =
      server_.CallJson("POST", "/v1/revocations", server_.admin_token(),
                       json::value(json::object{{"task", task_id_}}));
  ASSERT_EQ(revoked.status, 201);
  CommandResult fetch = Git("-C " + dir_ + "/work fetch origin");
  EXPECT_NE(fetch.status, 0) << fetch.output;
}

}  // namespace
}  // namespace tether::testing
