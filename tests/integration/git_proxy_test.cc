// Real git through the proxy to a real git server: `git http-backend`
// behind nginx and fcgiwrap, over HTTPS with a test CA, requiring a Basic
// password that only tether holds. The git client knows only HTTPS_PROXY
// (with the task token), tether's CA and the repository's URL.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

constexpr const char* kPassword = "upstream-git-password-tether-only-7f3a";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string Sh(const std::string& cmd) {
  CommandResult r = RunCommand(cmd);
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  return r.output;
}

std::string Routes() {
  return R"({"hosts": ["127.0.0.1"], "routes": [
    {"method": "GET", "path": "/{owner}/{repo}/info/refs",
     "action": "git.fetch", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "POST", "path": "/{owner}/{repo}/git-upload-pack",
     "action": "git.fetch", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "POST", "path": "/{owner}/{repo}/git-receive-pack", "git": "receive-pack",
     "action": "git.push", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "*", "path": "/{rest*}",
     "action": "http.request", "resource": {"type": "Host", "id": "127.0.0.1"}}]})";
}

class GitProxyTest : public ::testing::Test {
 protected:
  GitProxyTest()
      : dir_(MakeTempDir("tether-git")),
        git_port_(FreePort()),
        server_("", "[proxy]\nlisten = \"127.0.0.1:0\"\nroutes = [\"" + dir_ +
                        "/routes\"]\nallow_private_hosts = [\"127.0.0.1\"]\n"
                        "upstream_ca_file = \"" +
                        dir_ +
                        "/ca.pem\"\n"
                        // Far below the packs pushed here: they stream.
                        "max_body_bytes = 1048576\n") {}

  ~GitProxyTest() override {
    if (nginx_started_) {
      RunCommand("nginx -p " + dir_ + "/nginx -c " + dir_ +
                 "/nginx/nginx.conf -s stop");
    }
    RunCommand("pkill -f 'fcgiwrap -s unix:" + dir_ + "/fcgi.sock'");
    std::error_code ec;
    if (std::getenv("TETHER_KEEP_TEST_DIRS") == nullptr) {
      std::filesystem::remove_all(dir_, ec);
    }
  }

  void SetUp() override {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ + "/routes");
    WriteText(dir_ + "/routes/git.json", Routes());
    // A test CA and the git server's certificate for 127.0.0.1.
    Sh("cd " + dir_ +
       " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
       "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=git-test-ca "
       "2>&1 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
       "-nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>&1 "
       "&& printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 "
       "-req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
       "server.pem -days 2 -extfile san.ext 2>&1");
    // The repository, with one commit on main, accepting pushes.
    Sh("cd " + dir_ +
       " && mkdir -p repos/acme && git init -q --bare -b main "
       "repos/acme/api.git && git -C repos/acme/api.git config "
       "http.receivepack true && git init -q -b main seed && cd seed && git "
       "-c user.name=t -c user.email=t@t commit -q --allow-empty -m first && "
       "git push -q ../repos/acme/api.git main 2>&1");
    std::string hash =
        Sh("openssl passwd -apr1 '" + std::string(kPassword) + "'");
    WriteText(dir_ + "/htpasswd", "git:" + hash);
    Sh("fcgiwrap -s unix:" + dir_ + "/fcgi.sock >/dev/null 2>&1 & sleep 0.3");
    fs::create_directories(dir_ + "/nginx/logs");
    std::ostringstream conf;
    conf << "user root;\nworker_processes 1;\npid " << dir_
         << "/nginx/nginx.pid;\nerror_log " << dir_
         << "/nginx/logs/error.log;\nevents { worker_connections 64; }\n"
         << "http {\n  access_log off;\n  client_body_temp_path " << dir_
         << "/nginx;\n  fastcgi_temp_path " << dir_
         << "/nginx;\n  server {\n    listen 127.0.0.1:" << git_port_
         << " ssl;\n    ssl_certificate " << dir_
         << "/server.pem;\n    ssl_certificate_key " << dir_
         << "/server.key;\n    client_max_body_size 0;\n"
         << "    location / {\n      auth_basic \"git\";\n"
         << "      auth_basic_user_file " << dir_ << "/htpasswd;\n"
         << "      include /etc/nginx/fastcgi_params;\n"
         << "      fastcgi_param SCRIPT_FILENAME "
            "/usr/lib/git-core/git-http-backend;\n"
         << "      fastcgi_param GIT_PROJECT_ROOT " << dir_ << "/repos;\n"
         << "      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
         << "      fastcgi_param REMOTE_USER $remote_user;\n"
         << "      fastcgi_param PATH_INFO $uri;\n"
         << "      fastcgi_pass unix:" << dir_ << "/fcgi.sock;\n"
         << "    }\n  }\n}\n";
    WriteText(dir_ + "/nginx/nginx.conf", conf.str());
    Sh("nginx -p " + dir_ + "/nginx -c " + dir_ + "/nginx/nginx.conf 2>&1");
    nginx_started_ = true;
    // The server: the git password is a secret bound to the git host.
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    Reply put = server_.CallJson(
        "PUT", "/v1/admin/secrets/git", server_.admin_token(),
        json::value(json::object{
            {"value", kPassword},
            {"format", "basic"},
            {"user", "git"},
            {"bindings", json::array{json::object{{"host", "127.0.0.1"}}}}}));
    ASSERT_EQ(put.status, 200) << put.body;
    std::tie(task_id_, token_) = server_.StartTask();
    ASSERT_FALSE(token_.empty());
    remote_ =
        "https://127.0.0.1:" + std::to_string(git_port_) + "/acme/api.git";
    std::string proxy = server_.proxy_url();
    // Only the proxy (with the task token as its password) and tether's CA.
    env_ = "env -i PATH=/usr/bin:/bin HOME=" + dir_ +
           "/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 "
           "HTTPS_PROXY=http://task:" +
           token_ + "@" + proxy.substr(7) + " GIT_SSL_CAINFO=" + server_.dir() +
           "/data/proxy-ca.pem ";
    fs::create_directories(dir_ + "/home");
  }

  CommandResult Git(const std::string& args) {
    return RunCommand(env_ + "git " + args);
  }
  std::string RemoteRef(const std::string& ref) {
    CommandResult r = RunCommand(
        "git -C " + dir_ + "/repos/acme/api.git rev-parse --verify -q " + ref);
    return r.status == 0 ? r.output : "";
  }

  std::string dir_;
  int git_port_;
  bool nginx_started_ = false;
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
