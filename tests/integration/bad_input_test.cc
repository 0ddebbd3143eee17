// Hostile and malformed requests against the running server: each gets a
// clear 4xx with a JSON error code, never a crash, and the server keeps
// serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
    std::tie(task_id_, task_token_) = server_.StartTask();
    ASSERT_FALSE(task_token_.empty());
  }
  void TearDown() override {
    // Still serving after whatever the test sent.
    EXPECT_EQ(server_.Call("GET", "/healthz").status, 200);
  }
  Reply Authorize(const std::string& body,
                  const std::string& content_type = "application/json") {
    return server_.Call("POST", "/v1/authorize", task_token_, body,
                        content_type);
  }
  // Sends raw bytes and returns the raw answer.
  std::string Raw(const std::string& bytes) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(
        std::stoi(server_.url().substr(server_.url().rfind(':') + 1))));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return "";
    }
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n =
          ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, n);
    ::close(fd);
    return out;
  }
  TetherServer server_;
  std::string task_id_, task_token_;
};

TEST_F(BadInputTest, MalformedJsonIs400) {
  Reply r = Authorize("{\"action\": ");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "invalid_json");
  EXPECT_NE(r.Field("/error/message").find("line 1"), std::string::npos)
      << r.body;
}

TEST_F(BadInputTest, DuplicateJsonMembersAre400) {
  Reply r = Authorize(
      R"({"action":"git.fetch","action":"git.push","resource":{"type":"Repo","id":"acme/api"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "invalid_json");
}

TEST_F(BadInputTest, DeeplyNestedJsonIs400) {
  std::string deep(5000, '[');
  Reply r = Authorize(deep);
  EXPECT_EQ(r.status, 400);
}

TEST_F(BadInputTest, WrongContentTypeIs415) {
  Reply r = Authorize(
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api"}})",
      "text/plain");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.error_code(), "unsupported_media_type");
  EXPECT_EQ(Authorize(R"({})", "").status, 415);
}

TEST_F(BadInputTest, UnknownFieldIs400) {
  Reply r = Authorize(
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api"},"principal":"Task::\"other\""})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_NE(r.body.find("principal"), std::string::npos);
  Reply task = server_.Call("POST", "/v1/tasks", server_.IdentityToken(),
                            R"({"repo":"acme/api","owner":"someone"})");
  EXPECT_EQ(task.status, 400) << task.body;
}

TEST_F(BadInputTest, CallerSupplyingATetherContextKeyIs400) {
  for (const char* key : {"now", "edge", "ref_task", "method", "host",
                          "file_path", "is_delete"}) {
    json::object ctx{{key, "x"}};
    Reply r = server_.CallJson(
        "POST", "/v1/authorize", task_token_,
        json::value(json::object{
            {"action", "git.fetch"},
            {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}},
            {"context", ctx}}));
    EXPECT_EQ(r.status, 400) << key;
    EXPECT_NE(r.body.find(key), std::string::npos) << r.body;
  }
}

TEST_F(BadInputTest, InvalidRefIs400) {
  for (const char* ref : {"refs/heads/../main", "refs/heads/a..b", "bad ref",
                          "refs/heads/x.lock", "refs/heads/a@{1}"}) {
    Reply r = server_.CallJson(
        "POST", "/v1/authorize", task_token_,
        json::value(json::object{
            {"action", "git.fetch"},
            {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}},
            {"context", json::object{{"ref", ref}}}}));
    EXPECT_EQ(r.status, 400) << ref << ": " << r.body;
  }
}

TEST_F(BadInputTest, AttributesForAClosedResourceTypeAre400) {
  Reply r = Authorize(
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api","attrs":{"visibility":"public"}}})");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(BadInputTest, CallerAttributesNeverOverrideTheCatalog) {
  // api.github.com is in the catalog; Host is open. A caller attribute adds,
  // and the request still decides (no crash, a decision).
  Reply r = Authorize(
      R"({"action":"http.request","resource":{"type":"Host","id":"API.GitHub.com.","attrs":{"trusted":true}}})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(BadInputTest, InvalidRepoNameIs400) {
  Reply r = Authorize(
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api/../../etc"}})");
  EXPECT_EQ(r.status, 400) << r.body;
  Reply t = server_.Call("POST", "/v1/tasks", server_.IdentityToken(),
                         R"({"repo":"not a repo"})");
  EXPECT_EQ(t.status, 400) << t.body;
}

TEST_F(BadInputTest, WrongTypesAre400) {
  EXPECT_EQ(Authorize(R"([1,2,3])").status, 400);
  EXPECT_EQ(
      Authorize(R"({"action":7,"resource":{"type":"Repo","id":"a/b"}})").status,
      400);
  EXPECT_EQ(
      Authorize(R"({"action":"git.fetch","resource":"Repo::\"a/b\""})").status,
      400);
  EXPECT_EQ(
      Authorize(
          R"({"action":"git.fetch","resource":{"type":"Repo","id":"a/b"},"context":[]})")
          .status,
      400);
  EXPECT_EQ(
      Authorize(
          R"({"action":"git.fetch","resource":{"type":"Repo","id":"a/b"},"context":{"n":1.5}})")
          .status,
      400);
  Reply t = server_.Call("POST", "/v1/tasks", server_.IdentityToken(),
                         R"({"repo":"acme/api","ttl_seconds":"forever"})");
  EXPECT_EQ(t.status, 400) << t.body;
}

TEST_F(BadInputTest, OversizedBodyIs413) {
  std::string answer = Raw(
      "POST /v1/authorize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
      task_token_ +
      "\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{");
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("body_too_large"), std::string::npos);
}

TEST_F(BadInputTest, OversizedHeadersAre431) {
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                    std::string(64 * 1024, 'a') + "\r\n\r\n";
  std::string answer = Raw(req);
  EXPECT_NE(answer.find("HTTP/1.1 431"), std::string::npos)
      << answer.substr(0, 200);
  EXPECT_NE(answer.find("headers_too_large"), std::string::npos);
}

TEST(SlowClientTest, StalledRequestIsClosedAtItsDeadline) {
  TetherServer server("request_timeout_ms = 300");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(
      std::stoi(server.url().substr(server.url().rfind(':') + 1))));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // A guard against a server that never closes: the test fails, not hangs.
  timeval guard{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  // Half a request, then nothing (a slowloris).
  std::string half = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(fd, half.data(), half.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(half.size()));
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  // Closed by the server (0, or a reset), not by the guard (EAGAIN).
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << errno;
  EXPECT_EQ(server.Call("GET", "/healthz").status, 200);
}

TEST(ConnectionLimitTest, ConnectionsBeyondTheBoundAreClosed) {
  TetherServer server("max_connections = 2");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto connect = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(
        std::stoi(server.url().substr(server.url().rfind(':') + 1))));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval guard{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
    return fd;
  };
  int idle1 = connect(), idle2 = connect();
  // Both idle connections are held; a third is closed without a word.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int third = connect();
  char buf[16];
  ssize_t n = ::recv(third, buf, sizeof buf, 0);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << errno;
  ::close(third);
  ::close(idle1);
  ::close(idle2);
  // Room again once they are gone.
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = server.Call("GET", "/healthz").status;
  }
  EXPECT_EQ(status, 200);
}

TEST_F(BadInputTest, GarbageRequestLineIs400OrClosed) {
  std::string answer = Raw("\x16\x03\x01\x02\x00 garbage\r\n\r\n");
  EXPECT_TRUE(answer.empty() || answer.find("HTTP/1.1 400") == 0) << answer;
}

TEST_F(BadInputTest, UnknownEndpointIs404AndWrongMethodIs405) {
  Reply r = server_.Call("GET", "/v1/nothing", server_.admin_token());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_EQ(server_.Call("GET", "/nothing").status, 404);
  Reply m = server_.Call("GET", "/v1/authorize", task_token_);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(server_.Call("DELETE", "/v1/tasks", server_.admin_token()).status,
            405);
}

TEST_F(BadInputTest, MalformedAuthorizationIs401) {
  net::HttpClientRequest req;
  req.url = server_.url() + "/v1/tasks";
  req.headers = {{"Authorization", "Basic YWRtaW46YWRtaW4="}};
  auto res = net::HttpFetch(req);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(server_.Call("GET", "/v1/tasks", "not-a-token").status, 401);
  EXPECT_EQ(server_.Call("GET", "/v1/tasks", std::string(20000, 'a')).status,
            401);
  // Past the header limit the request is refused before any parsing.
  EXPECT_EQ(server_.Call("GET", "/v1/tasks", std::string(40000, 'a')).status,
            431);
}

TEST_F(BadInputTest, GarbageTaskTokenIs401AndAudited) {
  std::string forged = task_token_;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  Reply r = Authorize(
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api"}})");
  ASSERT_EQ(r.status, 200);
  Reply bad = server_.Call(
      "POST", "/v1/authorize", forged,
      R"({"action":"git.fetch","resource":{"type":"Repo","id":"acme/api"}})");
  EXPECT_EQ(bad.status, 401) << bad.body;
  Reply audit = server_.Call("GET", "/v1/audit?type=identity.reject",
                             server_.admin_token());
  ASSERT_EQ(audit.status, 200);
  EXPECT_FALSE(audit.json.at("events").as_array().empty()) << audit.body;
  // The token itself is never written to the audit log.
  Reply all =
      server_.Call("GET", "/v1/audit?limit=10000", server_.admin_token());
  EXPECT_EQ(all.body.find(forged.substr(forged.rfind('.') + 1)),
            std::string::npos);
  EXPECT_EQ(all.body.find(task_token_.substr(task_token_.rfind('.') + 1)),
            std::string::npos);
}

TEST_F(BadInputTest, RejectedCredentialsAreCountedButAuditedAtARate) {
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(
        server_.Call("GET", "/v1/tasks", "garbage" + std::to_string(i)).status,
        401);
  }
  Reply m = server_.Call("GET", "/metrics");
  EXPECT_NE(m.body.find("tether_identity_rejections_total 50"),
            std::string::npos)
      << m.body;
  Reply audit = server_.Call("GET", "/v1/audit?type=identity.reject",
                             server_.admin_token());
  std::size_t events = audit.json.at("events").as_array().size();
  EXPECT_GE(events, 1u);
  EXPECT_LT(events, 50u);  // not one durable write per bad token
}

TEST(TaskLimitTest, TasksBeyondTheBoundAreRefusedAndAudited) {
  TetherServer server("max_active_tasks = 2");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto first = server.StartTask();
  ASSERT_FALSE(server.StartTask().first.empty());
  Reply r = server.Call("POST", "/v1/tasks", server.IdentityToken(),
                        R"({"repo":"acme/api"})");
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.error_code(), "too_many_tasks");
  Reply audit =
      server.Call("GET", "/v1/audit?type=authz.decision", server.admin_token());
  EXPECT_NE(audit.body.find("server.max_active_tasks"), std::string::npos);
  // Ending one makes room again.
  ASSERT_EQ(
      server
          .Call("POST", "/v1/tasks/" + first.first + "/end", first.second, "{}")
          .status,
      200);
  EXPECT_FALSE(server.StartTask().first.empty());
}

TEST_F(BadInputTest, BadRevocationsAre400) {
  const std::string& t = server_.admin_token();
  EXPECT_EQ(server_.Call("POST", "/v1/revocations", t, "{}").status, 400);
  EXPECT_EQ(
      server_.Call("POST", "/v1/revocations", t, R"({"task":"a","token":"b"})")
          .status,
      400);
  EXPECT_EQ(server_
                .Call("POST", "/v1/revocations", t,
                      R"({"all":true,"before":"yesterday"})")
                .status,
            400);
  EXPECT_EQ(server_
                .Call("POST", "/v1/revocations", t,
                      R"({"task":"t000000000000000000000000"})")
                .status,
            404);
}

TEST_F(BadInputTest, BadQueryStringsAre400) {
  const std::string& t = server_.admin_token();
  EXPECT_EQ(server_.Call("GET", "/v1/audit?since=never", t).status, 400);
  EXPECT_EQ(server_.Call("GET", "/v1/audit?bogus=1", t).status, 400);
  EXPECT_EQ(server_.Call("GET", "/v1/audit?type=a&type=b", t).status, 400);
  std::string answer =
      Raw("GET /v1/audit?type=%zz HTTP/1.1\r\nHost: x\r\n"
          "Authorization: Bearer " +
          t + "\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 200);
  EXPECT_EQ(server_.Call("GET", "/v1/tasks?limit=lots", t).status, 400);
}

}  // namespace
}  // namespace tether::testing
