// Upstream credentials through the admin API and the CLI: stored, never
// shown again, and redacted from the audit log from the moment they are put.
#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/tether_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

constexpr const char* kValue = "ghp_s3cretValueOnlyTetherHolds0123456789";

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.startup_output();
  }
  Reply Put(const std::string& name, json::object body,
            const std::string& token = "") {
    return server_.CallJson("PUT", "/v1/admin/secrets/" + name,
                            token.empty() ? server_.admin_token() : token,
                            json::value(std::move(body)));
  }
  TetherServer server_;
};

TEST_F(SecretsTest, PutListDeleteNeverShowTheValue) {
  Reply put =
      Put("github-app",
          {{"value", kValue},
           {"format", "basic"},
           {"user", "x-access-token"},
           {"bindings", json::array{json::object{{"host", "GitHub.com."},
                                                 {"path_prefix", "/acme"}}}}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Field("/secret/bindings/0/host"), "github.com");
  EXPECT_EQ(put.Field("/secret/version"), "1");
  EXPECT_EQ(put.body.find(kValue), std::string::npos);
  Reply list = server_.Call("GET", "/v1/admin/secrets", server_.admin_token());
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Field("/secrets/0/name"), "github-app");
  EXPECT_EQ(list.body.find(kValue), std::string::npos);
  // The value is redacted from anything the audit log records afterwards.
  auto [task, token] = server_.StartTask();
  json::object ctx{{"note", std::string("leaked ") + kValue}};
  server_.Decide(token, "git.fetch", "Repo", "acme/api", ctx);
  Reply audit = server_.Call("GET", "/v1/audit", server_.admin_token());
  EXPECT_EQ(audit.body.find(kValue), std::string::npos);
  EXPECT_NE(audit.body.find("secret.put"), std::string::npos);
  EXPECT_NE(audit.body.find("[REDACTED]"), std::string::npos);
  // Nor is it anywhere in tether.db or audit.db in the clear.
  for (const char* f : {"/data/tether.db", "/data/tether.db-wal",
                        "/data/audit.db", "/data/audit.db-wal"}) {
    std::ifstream in(server_.dir() + f, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str().find(kValue), std::string::npos) << f;
  }
  Reply del = server_.Call("DELETE", "/v1/admin/secrets/github-app",
                           server_.admin_token());
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(
      server_
          .Call("DELETE", "/v1/admin/secrets/github-app", server_.admin_token())
          .status,
      404);
}

TEST_F(SecretsTest, BadSecretsAndCallersAreRefused) {
  json::array bindings{json::object{{"host", "api.github.com"}}};
  EXPECT_EQ(Put("x", {{"value", kValue}}).status, 400);  // no bindings
  EXPECT_EQ(
      Put("x", {{"value", "a\r\nX-Evil: 1"}, {"bindings", bindings}}).status,
      400);
  EXPECT_EQ(
      Put("bad%20name", {{"value", kValue}, {"bindings", bindings}}).status,
      400);
  EXPECT_EQ(Put("x", {{"value", kValue},
                      {"bindings", json::array{json::object{{"host", "*"}}}}})
                .status,
            400);
  EXPECT_EQ(Put("x", {{"value", kValue},
                      {"format", "header"},
                      {"header", "Host"},
                      {"bindings", bindings}})
                .status,
            400);
  EXPECT_EQ(
      Put("x", {{"value", kValue}, {"bindings", bindings}, {"x", 1}}).status,
      400);
  std::string approver = server_.OperatorToken("sam", "approver", {"ops"});
  EXPECT_EQ(
      Put("x", {{"value", kValue}, {"bindings", bindings}}, approver).status,
      403);
  auto [task, token] = server_.StartTask();
  EXPECT_EQ(server_.Call("GET", "/v1/admin/secrets", token).status, 403);
}

TEST_F(SecretsTest, CliPutsFromStdin) {
  std::string env = "TETHER_URL=" + server_.url() +
                    " TETHER_TOKEN=" + server_.admin_token() + " ";
  CommandResult put =
      RunCommand("printf '%s\\n' '" + std::string(kValue) + "' | " + env +
                 TETHER_BIN + " secret put npm --host registry.npmjs.org");
  ASSERT_EQ(put.status, 0) << put.output;
  EXPECT_EQ(put.output.find(kValue), std::string::npos);
  CommandResult list = RunCommand(env + TETHER_BIN + " secret list");
  EXPECT_NE(list.output.find("registry.npmjs.org"), std::string::npos);
  CommandResult empty = RunCommand("printf '' | " + env + TETHER_BIN +
                                   " secret put npm --host x.example");
  EXPECT_NE(empty.status, 0);
}

}  // namespace
}  // namespace tether::testing
