// The enforcement proxy end to end: the real server, curl as the agent's
// client, a recording upstream standing in for the API. Every call is
// decided before it leaves; the real credential is injected upstream and
// never reaches the agent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"
#include "tests/support/http_test_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

constexpr const char* kSecret = "ghs_upstreamOnlyCredential0123456789abcd";

// The upstream on 127.0.0.1 stands in for a GitHub-like API.
constexpr const char* kRoutes = R"({
  "hosts": ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3"],
  "routes": [
    {"method": "POST", "path": "/repos/{owner}/{repo}/pulls",
     "action": "github.pulls.create", "resource": {"type": "Repo", "id": "{owner}/{repo}"},
     "context": {"base": "body:/base", "head": "body:/head", "ref": "body:/head"}},
    {"method": "GET", "path": "/vault/{name}",
     "action": "secret.read", "resource": {"type": "Secret", "id": "{name}"}},
    {"method": "GET", "path": "/repos/{owner}/{repo}/{rest*}",
     "action": "github.read", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "*", "path": "/{rest*}",
     "action": "github.write", "resource": {"type": "Host", "id": "127.0.0.1"}}
  ]})";

class ProxyTest : public ::testing::Test {
 protected:
  ProxyTest()
      : routes_(MakeTempDir("tether-routes")),
        upstream_([](int, const RecordedRequest& r) {
          // Echo what arrived, credential included, so the test can see
          // the proxy redact it on the way back.
          std::string auth;
          for (const auto& [k, v] : r.headers) {
            if (k == "Authorization" || k == "authorization") auth = v;
          }
          if (r.target.find("/big") != std::string::npos) {
            // A large answer with the credential in many places, to be
            // masked as it streams.
            std::string body;
            for (int i = 0; i < 64; ++i) {
              body += std::string(4093 + i * 37, 'x') + auth;
            }
            return CannedResponse{200, "text/plain", body};
          }
          return CannedResponse{200, "application/json",
                                "{\"seen\":\"" + auth + "\"}"};
        }),
        server_("",
                "[proxy]\nlisten = \"127.0.0.1:0\"\nroutes = [\"" + routes_ +
                    "\"]\nallow_private_hosts = [\"127.0.0.1\"]\n"
                    "upstream_timeout_ms = 2000\nrequest_timeout_ms = 1000\n") {
    WriteText(routes_ + "/test.json", kRoutes);
  }
  ~ProxyTest() override {
    std::error_code ec;
    std::filesystem::remove_all(routes_, ec);
  }
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    ASSERT_FALSE(server_.proxy_url().empty()) << server_.startup_output();
    std::tie(task_id_, token_) = server_.StartTask();
    ASSERT_FALSE(token_.empty());
    Reply put = server_.CallJson(
        "PUT", "/v1/admin/secrets/upstream", server_.admin_token(),
        json::value(json::object{
            {"value", kSecret},
            {"bindings",
             json::array{json::object{{"host", "127.0.0.1"},
                                      {"path_prefix", "/repos/acme"}}}}}));
    ASSERT_EQ(put.status, 200) << put.body;
  }
  // curl through the proxy; returns "<status>\n<body>".
  CommandResult Curl(const std::string& args, const std::string& token = "-") {
    std::string auth = token == "-" ? token_ : token;
    std::string cmd =
        "curl -s -o - -w '\\n%{http_code}' -x " + server_.proxy_url() + " ";
    if (!auth.empty()) cmd += "--proxy-user 'x:" + auth + "' ";
    return RunCommand(cmd + args);
  }
  static std::string Status(const CommandResult& r) {
    return r.output.substr(r.output.rfind('\n') + 1);
  }
  // The task's proxy.request events once one contains `needle` (they are
  // written after the answer, without holding it); up to 5 s.
  std::string CallEvents(const std::string& needle) {
    std::string body;
    for (int i = 0; i < 100; ++i) {
      body =
          server_
              .Call("GET", "/v1/audit?task=" + task_id_ + "&type=proxy.request",
                    server_.admin_token())
              .body;
      if (body.find(needle) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return body;
  }
  std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(upstream_.port()) + path;
  }
  std::string routes_;
  HttpTestServer upstream_;
  TetherServer server_;
  std::string task_id_, token_;
};

TEST_F(ProxyTest, AllowedCallGetsTheRealCredentialUpstreamOnly) {
  CommandResult r = Curl(Url("/repos/acme/api/pulls/1"));
  EXPECT_EQ(Status(r), "200") << r.output;
  ASSERT_EQ(upstream_.requests().size(), 1u);
  RecordedRequest got = upstream_.requests()[0];
  bool injected = false, token_leaked = false;
  for (const auto& [k, v] : got.headers) {
    if (v == std::string("Bearer ") + kSecret) injected = true;
    if (v.find(token_) != std::string::npos) token_leaked = true;
    EXPECT_NE(k, "Proxy-Authorization");
  }
  EXPECT_TRUE(injected);
  EXPECT_FALSE(token_leaked);
  // The upstream echoed the credential: the agent sees it redacted.
  EXPECT_EQ(r.output.find(kSecret), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[REDACTED]"), std::string::npos);
  // The decision was recorded with the proxy's facts.
  Reply audit =
      server_.Call("GET", "/v1/audit?task=" + task_id_ + "&type=authz.decision",
                   server_.admin_token());
  EXPECT_NE(audit.body.find("\"edge\":\"proxy\""), std::string::npos);
  EXPECT_NE(audit.body.find("/repos/acme/api/pulls/1"), std::string::npos);
  std::string call = CallEvents("\"status\":200");
  EXPECT_NE(call.find("\"status\":200"), std::string::npos) << call;
  EXPECT_NE(call.find("\"secret\":\"upstream\""), std::string::npos);
  EXPECT_EQ(call.find(kSecret), std::string::npos);
}

TEST_F(ProxyTest, DeniedCallNeverReachesTheUpstream) {
  CommandResult r = Curl(
      "-H 'Content-Type: application/json' -d "
      "'{\"base\":\"main\",\"head\":\"refs/heads/main\"}' " +
      Url("/repos/acme/api/pulls"));
  EXPECT_EQ(Status(r), "403") << r.output;
  EXPECT_NE(r.output.find("\"code\":\"denied\""), std::string::npos);
  EXPECT_TRUE(upstream_.requests().empty());
  // From the task's own namespace, the same call is allowed.
  std::string own = "refs/heads/agent/" + task_id_ + "/fix";
  CommandResult ok = Curl(
      "-H 'Content-Type: application/json' -d "
      "'{\"base\":\"main\",\"head\":\"" +
      own + "\"}' " + Url("/repos/acme/api/pulls"));
  EXPECT_EQ(Status(ok), "200") << ok.output;
  // Another repository, or a secret not bound to this path: no injection.
  CommandResult other = Curl(Url("/repos/acme/infra/pulls/1"));
  EXPECT_EQ(Status(other), "403") << other.output;
}

TEST_F(ProxyTest, NoOrBadTokenIsAskedForAgain) {
  CommandResult none = Curl(Url("/repos/acme/api/pulls/1"), "");
  EXPECT_EQ(Status(none), "407");
  CommandResult bad = Curl(Url("/repos/acme/api/pulls/1"), "not-a-token");
  EXPECT_EQ(Status(bad), "407");
  CommandResult headers =
      RunCommand("curl -s -D - -o /dev/null -x " + server_.proxy_url() + " " +
                 Url("/repos/acme/api/pulls/1"));
  EXPECT_NE(headers.output.find("Proxy-Authenticate: Basic"), std::string::npos)
      << headers.output;
  Reply revoked =
      server_.CallJson("POST", "/v1/revocations", server_.admin_token(),
                       json::value(json::object{{"task", task_id_}}));
  ASSERT_EQ(revoked.status, 201);
  CommandResult after = Curl(Url("/repos/acme/api/pulls/1"));
  EXPECT_NE(Status(after), "200") << after.output;
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(ProxyTest, SmugglingAndBadTargetsAreRefused) {
  // Content-Length and Transfer-Encoding together.
  CommandResult both = Curl(
      "-H 'Transfer-Encoding: chunked' -H "
      "'Content-Length: 4' -d 'abcd' " +
      Url("/repos/acme/api/pulls/1"));
  EXPECT_EQ(Status(both), "400") << both.output;
  // Encoded slashes and climbing above the root.
  CommandResult slash = Curl("--path-as-is " + Url("/repos/acme%2Fapi/x"));
  EXPECT_EQ(Status(slash), "400") << slash.output;
  CommandResult climb =
      Curl("--path-as-is " + Url("/repos/acme/api/../../../../x"));
  EXPECT_EQ(Status(climb), "400") << climb.output;
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(ProxyTest, PrivateDestinationsNeedAnExplicitRoute) {
  // localhost resolves to loopback and is not in allow_private_hosts.
  CommandResult r =
      Curl("http://localhost:" + std::to_string(upstream_.port()) +
           "/repos/acme/api/x");
  EXPECT_EQ(Status(r), "403") << r.output;
  EXPECT_NE(r.output.find("forbidden_destination"), std::string::npos)
      << r.output;
  // Allowed by policy, routed, and still refused: the address decides.
  for (const char* host : {"169.254.169.254", "10.1.2.3"}) {
    CommandResult literal = Curl("--connect-timeout 3 http://" +
                                 std::string(host) + "/repos/acme/api/x");
    EXPECT_EQ(Status(literal), "403") << host << ": " << literal.output;
    EXPECT_NE(literal.output.find("forbidden_destination"), std::string::npos)
        << literal.output;
  }
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(ProxyTest, ConnectToAnUnroutedHostIsDecided) {
  // http.connect is not permitted by the example policies.
  CommandResult r = RunCommand(
      "curl -s -o /dev/null -w '%{http_connect}' -p -x " + server_.proxy_url() +
      " --proxy-user 'x:" + token_ + "' http://example.invalid:80/");
  EXPECT_EQ(r.output, "403") << r.output;
}

TEST_F(ProxyTest, UpstreamFailuresAre502) {
  std::string dead = "http://127.0.0.1:1/repos/acme/api/x";
  CommandResult r = Curl(dead);
  EXPECT_EQ(Status(r), "502") << r.output;
  std::string call = CallEvents("upstream_unreachable");
  EXPECT_NE(call.find("upstream_unreachable"), std::string::npos) << call;
}

TEST_F(ProxyTest, ASilentUpstreamIs504) {
  // Accepts (the kernel completes the handshake) and never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) +
                    "/repos/acme/api/x";
  auto started = std::chrono::steady_clock::now();
  CommandResult r = Curl("--max-time 30 " + url);
  auto took = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_EQ(Status(r), "504") << r.output;
  EXPECT_NE(r.output.find("upstream_timeout"), std::string::npos) << r.output;
  // upstream_timeout_ms is 2 s here.
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_NE(CallEvents("upstream_timeout").find("upstream_timeout"),
            std::string::npos);
}

TEST_F(ProxyTest, ALargeAnswerIsMaskedAsItStreams) {
  CommandResult r = Curl(Url("/repos/acme/api/big"));
  ASSERT_EQ(Status(r), "200") << r.output.substr(0, 300);
  std::string body = r.output.substr(0, r.output.rfind('\n'));
  EXPECT_GT(body.size(), 64u * 4093);
  EXPECT_EQ(body.find(kSecret), std::string::npos);
  EXPECT_EQ(body.find("ghs_upstream"), std::string::npos);
  std::size_t masked = 0;
  for (std::size_t at = body.find("[REDACTED]"); at != std::string::npos;
       at = body.find("[REDACTED]", at + 1)) {
    ++masked;
  }
  EXPECT_EQ(masked, 64u);
}

TEST_F(ProxyTest, ApprovalGatedCallsWaitForAPerson) {
  CommandResult first = Curl(Url("/vault/npm-publish"));
  EXPECT_EQ(Status(first), "403") << first.output;
  EXPECT_NE(first.output.find("\"code\":\"approval_required\""),
            std::string::npos);
  std::string body = first.output.substr(0, first.output.rfind('\n'));
  json::value j = json::parse(body);
  std::string id(j.at("error").at("approval_id").as_string());
  EXPECT_TRUE(upstream_.requests().empty());
  Reply shown =
      server_.Call("GET", "/v1/approvals/" + id, server_.admin_token());
  EXPECT_EQ(shown.Field("/edge"), "proxy");
  EXPECT_EQ(shown.Field("/context/path"), "/vault/npm-publish");
  std::string approver = server_.OperatorToken("sam", "approver", {"security"});
  // Held with Tether-Wait until the approver decides.
  auto waiting = std::async(std::launch::async, [&] {
    return Curl("-H 'Tether-Wait: 30' " + Url("/vault/npm-publish"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Reply ok =
      server_.CallJson("POST", "/v1/approvals/" + id + "/approve", approver,
                       json::value(json::object{{"reason", "ok"}}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  CommandResult held = waiting.get();
  EXPECT_EQ(Status(held), "200") << held.output;
  EXPECT_EQ(upstream_.requests().size(), 1u);
  // Used once: the next identical call asks again.
  EXPECT_EQ(Status(Curl(Url("/vault/npm-publish"))), "403");
}

// Sends raw bytes to the proxy and returns its status line.
std::string RawStatus(const std::string& proxy_url, const std::string& bytes) {
  std::string hostport = proxy_url.substr(7);
  int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n <= 0) return "(closed)";
  std::string text(buf, static_cast<std::size_t>(n));
  return text.substr(0, text.find("\r\n"));
}

TEST_F(ProxyTest, MalformedFramingIsRefusedOnTheWire) {
  std::string auth = "Proxy-Authorization: Bearer " + token_ + "\r\n";
  std::string target =
      "POST " + Url("/repos/acme/api/pulls/1") +
      " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(upstream_.port()) +
      "\r\n" + auth;
  // Two different Content-Lengths.
  std::string two_cl =
      RawStatus(server_.proxy_url(),
                target + "Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde");
  EXPECT_NE(two_cl.find(" 400 "), std::string::npos) << two_cl;
  // NUL and a bare CR in a header value.
  std::string nul = RawStatus(server_.proxy_url(),
                              target + std::string("X-A: a\0b\r\n\r\n", 11));
  EXPECT_TRUE(nul.find(" 400 ") != std::string::npos || nul == "(closed)")
      << nul;
  std::string cr = RawStatus(server_.proxy_url(), target + "X-A: a\rb\r\n\r\n");
  EXPECT_TRUE(cr.find(" 400 ") != std::string::npos || cr == "(closed)") << cr;
  // Chunked framing under another name.
  std::string te =
      RawStatus(server_.proxy_url(),
                target + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n");
  EXPECT_NE(te.find(" 400 "), std::string::npos) << te;
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(ProxyTest, ASlowClientIsCutOff) {
  // Headers trickled a byte at a time, each read well within the idle
  // timeout: the request's own deadline (1 s here) ends it.
  std::string hostport = server_.proxy_url().substr(7);
  int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string request = "GET " + Url("/repos/acme/api/x") +
                        " HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
  auto started = std::chrono::steady_clock::now();
  std::string answer;
  for (char c : request) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(6))
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) answer.assign(buf, static_cast<std::size_t>(n));
      break;
    }
  }
  ::close(fd);
  EXPECT_NE(answer.find(" 408 "), std::string::npos) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(4));
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(ProxyTest, MetadataAndLinkLocalLiteralsAreRefused) {
  for (const char* host : {"169.254.1.1", "10.0.0.1", "[::1]", "0.0.0.0"}) {
    std::string status = RawStatus(
        server_.proxy_url(),
        "CONNECT " + std::string(host) + ":443 HTTP/1.1\r\nHost: " + host +
            ":443\r\nProxy-Authorization: Bearer " + token_ + "\r\n\r\n");
    bool refused = status.find(" 403 ") != std::string::npos ||
                   status.find(" 400 ") != std::string::npos;
    EXPECT_TRUE(refused) << host << ": " << status;
  }
}

TEST_F(ProxyTest, ObfuscatedFramingHostMismatchAndHugeHeadersAreRefused) {
  // Transfer-Encoding that is not plainly `chunked`.
  CommandResult te = Curl("-H 'Transfer-Encoding: chunked, identity' -d x " +
                          Url("/repos/acme/api/pulls/1"));
  EXPECT_EQ(Status(te), "400") << te.output;
  // A Host that names another authority than the absolute-form target.
  CommandResult host =
      Curl("-H 'Host: evil.example' " + Url("/repos/acme/api/pulls/1"));
  EXPECT_EQ(Status(host), "400") << host.output;
  // Headers beyond the limit.
  std::string big(70 * 1024, 'a');
  CommandResult huge =
      Curl("-H 'X-Big: " + big + "' " + Url("/repos/acme/api/pulls/1"));
  EXPECT_EQ(Status(huge), "431") << huge.output.substr(0, 200);
  EXPECT_TRUE(upstream_.requests().empty());
}

// A tunnel policy allows is spliced through unread, and ends within
// seconds of its task being revoked, even while it is quiet.
TEST(BlindTunnelTest, ARevokedTaskLosesItsOpenTunnel) {
  // The examples plus a permit for a tunnel to 127.0.0.2 (a loopback
  // address no route names).
  std::string policies = MakeTempDir("tether-tunnel-policies");
  for (const auto& f : std::filesystem::directory_iterator(
           std::string(TETHER_SOURCE_DIR) + "/examples/policies")) {
    if (f.path().extension() == ".cedar") {
      std::filesystem::copy_file(f.path(),
                                 policies + "/" + f.path().filename().string());
    }
  }
  WriteText(policies + "/99-tunnel.cedar",
            "@id(\"test-tunnel\")\npermit (principal is Task, action == "
            "Action::\"http.connect\", "
            "resource == Host::\"127.0.0.2\");\n");
  TetherServer server("",
                      "[proxy]\nlisten = \"127.0.0.1:0\"\nroutes = [\"" +
                          std::string(TETHER_SOURCE_DIR) +
                          "/examples/routes\"]\nallow_private_hosts = "
                          "[\"127.0.0.2\"]\n",
                      policies);
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [task_id, token] = server.StartTask();
  ASSERT_FALSE(token.empty());

  // An echo server on 127.0.0.2.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  int echo_port = ntohs(a.sin_port);
  std::thread echo([listener] {
    int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    char buf[256];
    ssize_t n;
    while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) ::send(c, buf, n, 0);
    ::close(c);
  });

  std::string hostport = server.proxy_url().substr(7);
  int proxy_port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in p{};
  p.sin_family = AF_INET;
  p.sin_port = htons(static_cast<std::uint16_t>(proxy_port));
  p.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&p), sizeof p), 0);
  std::string basic = Base64UrlEncode("x:" + token);
  for (char& c : basic) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (basic.size() % 4) basic += '=';
  std::string connect =
      "CONNECT 127.0.0.2:" + std::to_string(echo_port) +
      " HTTP/1.1\r\nHost: 127.0.0.2:" + std::to_string(echo_port) +
      "\r\nProxy-Authorization: Basic " + basic + "\r\n\r\n";
  ASSERT_EQ(::send(fd, connect.data(), connect.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(connect.size()));
  auto read_some = [&](int timeout_ms) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, timeout_ms) <= 0) return std::string("<timeout>");
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n <= 0 ? std::string() : std::string(buf, n);
  };
  std::string answer = read_some(5000);
  ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  // Spliced both ways, unread.
  ASSERT_EQ(::send(fd, "ping", 4, MSG_NOSIGNAL), 4);
  EXPECT_EQ(read_some(5000), "ping");

  // Revoked while the tunnel is quiet: it is closed within seconds.
  Reply revoked =
      server.CallJson("POST", "/v1/revocations", server.admin_token(),
                      json::value(json::object{{"task", task_id}}));
  ASSERT_EQ(revoked.status, 201) << revoked.body;
  auto started = std::chrono::steady_clock::now();
  std::string after = read_some(10000);
  EXPECT_EQ(after, "") << "the tunnel stayed open: " << after;
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(5));
  ::close(fd);
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  echo.join();
  std::error_code ec;
  std::filesystem::remove_all(policies, ec);
}

}  // namespace
}  // namespace tether::testing
