// The JWT attack suite: workload identity tokens crafted by jose (an
// independent JOSE library) and node:crypto with real Ed25519, RSA and P-256
// keys, each presented to the running server as a workload identity. tether
// must accept exactly the valid ones. Task tokens tether issues must in turn
// verify under jose.
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/json.h"
#include "tests/integration/tether_server.h"
#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

std::string NodeScript() {
  return std::string(TETHER_SOURCE_DIR) + "/tests/node/jwt_cases.mjs";
}

// One server and one set of cases for the whole suite.
class JwtAttackTest : public ::testing::TestWithParam<std::string> {
 public:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("tether-jwt"));
    CommandResult made =
        RunCommand("node " + NodeScript() + " make " + *dir_ + " " +
                   TetherServer::kIssuer + " " + TetherServer::kAudience);
    ASSERT_EQ(made.status, 0) << made.output;
    std::ifstream in(*dir_ + "/cases.json");
    std::stringstream s;
    s << in.rdbuf();
    cases_ = new json::value(*ParseJson(s.str()));
    // Trust the jose issuer's keys instead of the fixture's own.
    server_ = new TetherServer();
    std::filesystem::copy_file(
        *dir_ + "/jwks.json", server_->dir() + "/issuer-jwks.json",
        std::filesystem::copy_options::overwrite_existing);
    ASSERT_TRUE(server_->Start()) << server_->startup_output();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete cases_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

 protected:
  static std::string* dir_;
  static json::value* cases_;
  static TetherServer* server_;
};

std::string* JwtAttackTest::dir_ = nullptr;
json::value* JwtAttackTest::cases_ = nullptr;
TetherServer* JwtAttackTest::server_ = nullptr;

TEST_P(JwtAttackTest, ServerAgreesWithTheExpectedVerdict) {
  ASSERT_NE(cases_, nullptr);
  const json::object& all = cases_->as_object();
  ASSERT_TRUE(all.contains(GetParam())) << "no case " << GetParam();
  const json::object& c = all.at(GetParam()).as_object();
  std::string token(c.at("token").as_string());
  std::string expect(c.at("expect").as_string());
  Reply r = server_->Call("POST", "/v1/tasks", token, R"({"repo":"acme/api"})");
  if (expect == "accept") {
    EXPECT_EQ(r.status, 201) << r.body;
    // jose, independently, accepts it too.
    EXPECT_TRUE(c.at("jose_accepts").as_bool());
  } else {
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.error_code(), "unauthenticated");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokens, JwtAttackTest,
    ::testing::Values("ValidEdDSA", "ValidRS256", "ValidES256",
                      "ValidArrayAudience", "AlgNone", "AlgNoneUpperCase",
                      "HS256WithPublicKeyAsSecret", "AlgKeyMismatch",
                      "UnknownKid", "MissingKid", "JkuHeader", "X5uHeader",
                      "EmbeddedJwkHeader", "CritHeader", "WrongKeySameKid",
                      "BadSignature", "NonCanonicalBase64Bits", "Base64Padding",
                      "StandardBase64Alphabet", "TwoParts", "FourParts",
                      "DuplicateClaim", "DuplicateHeaderMember", "Oversize",
                      "Expired", "MissingExp", "FractionalExp", "StringExp",
                      "NotYetValid", "IssuedInFuture", "WrongAudience",
                      "MissingAudience", "WrongIssuer", "MissingSubject",
                      "TaskTypePresentedAsIdentity", "AccessTokenType"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return info.param;
    });

// Rejections of identity tokens are audited (identity.reject).
TEST(JwtAuditTest, RejectedIdentityIsAudited) {
  TetherServer server;
  ASSERT_TRUE(server.Start()) << server.startup_output();
  std::string token = server.IdentityToken();
  token.back() = token.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(
      server.Call("POST", "/v1/tasks", token, R"({"repo":"acme/api"})").status,
      401);
  Reply audit = server.Call("GET", "/v1/audit?type=identity.reject",
                            server.admin_token());
  EXPECT_EQ(audit.json.at("events").as_array().size(), 1u) << audit.body;
}

// tether's own task tokens, verified by jose against the published JWKS.
TEST(TaskTokenTest, JoseVerifiesTaskTokensAgainstThePublishedJwks) {
  TetherServer server;
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  ASSERT_FALSE(token.empty());
  Reply jwks = server.Call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  std::string path = server.dir() + "/tether-jwks.json";
  WriteText(path, jwks.body);
  CommandResult ok =
      RunCommand("node " + NodeScript() + " verify " + path + " " + token +
                 " " + server.url() + " " + server.url() + " tether-task+jwt");
  EXPECT_EQ(ok.status, 0) << ok.output;
  // A task token is not valid under another audience or type.
  CommandResult wrong_aud =
      RunCommand("node " + NodeScript() + " verify " + path + " " + token +
                 " " + server.url() + " tether tether-task+jwt");
  EXPECT_NE(wrong_aud.status, 0);
  // And a task token is not a workload identity: presenting it to start a
  // task is refused.
  EXPECT_EQ(
      server.Call("POST", "/v1/tasks", token, R"({"repo":"acme/api"})").status,
      403);
}

TEST(TaskTokenTest, TamperedTaskTokenIsRejected) {
  TetherServer server;
  ASSERT_TRUE(server.Start()) << server.startup_output();
  auto [id, token] = server.StartTask();
  auto [other_id, other_token] = server.StartTask();
  // Splice the other task's claims under this token's signature.
  std::string spliced =
      token.substr(0, token.find('.')) +
      other_token.substr(other_token.find('.'),
                         other_token.rfind('.') - other_token.find('.')) +
      token.substr(token.rfind('.'));
  json::value body = json::object{
      {"action", "git.fetch"},
      {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}};
  EXPECT_EQ(server.CallJson("POST", "/v1/authorize", spliced, body).status,
            401);
  // Re-signed with alg none.
  std::string none =
      "eyJhbGciOiJub25lIiwidHlwIjoidGV0aGVyLXRhc2srand0In0" +
      token.substr(token.find('.'), token.rfind('.') - token.find('.')) + ".";
  EXPECT_EQ(server.CallJson("POST", "/v1/authorize", none, body).status, 401);
}

}  // namespace
}  // namespace tether::testing
