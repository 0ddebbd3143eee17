// Workload identity beyond the local issuer: TLS and mTLS with X.509-SVIDs
// (certificates made by the openssl command, real keys), SPIFFE JWT-SVIDs
// with keys fetched from a jwks_uri (a local HTTP fixture), and ticket state
// looked up from a ticket provider fixture.
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "broker/keyring.h"
#include "core/crypto.h"
#include "tests/integration/tether_server.h"
#include "tests/support/http_test_server.h"
#include "tests/support/run_command.h"
#include "token/jwt.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

// A CA, a server certificate for 127.0.0.1 and client certificates whose
// URI SAN is a SPIFFE ID.
class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tether-test-ca");
    Issue("server", "/CN=127.0.0.1", "IP:127.0.0.1", "ca");
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -keyout rogue-ca.key -out rogue-ca.pem -days 2 "
        "-subj /CN=rogue-ca");
  }
  void Issue(const std::string& name, const std::string& subject,
             const std::string& san, const std::string& ca) {
    WriteText(dir_ + "/" + name + ".ext", "subjectAltName=" + san + "\n");
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout " +
        name + ".key -out " + name + ".csr -subj " + subject);
    Run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " +
        ca + ".key -CAcreateserial -out " + name + ".pem -days 2 -extfile " +
        name + ".ext");
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  void Run(const std::string& cmd) {
    CommandResult r = RunCommand("cd " + dir_ + " && " + cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
  }
  std::string dir_;
};

// Policies plus one that lets SPIFFE workloads of example.org start tasks.
std::string PoliciesWithSpiffe(const std::string& dir) {
  std::string to = CopyExamplePolicies(dir);
  WriteText(to + "/50-spiffe.cedar", R"(
@id("spiffe-workloads-start-tasks")
permit (principal is Agent, action == Action::"task.create", resource is Repo)
when { principal.subject like "spiffe://example.org/*" };
)");
  return to;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("tether-pki");
    pki_ = std::make_unique<Pki>(dir_);
    pki_->Issue("agent", "/CN=agent", "URI:spiffe://example.org/agent/ci",
                "ca");
    pki_->Issue("foreign", "/CN=foreign", "URI:spiffe://other.org/agent", "ca");
    pki_->Issue("rogue", "/CN=rogue", "URI:spiffe://example.org/agent/ci",
                "rogue-ca");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string TlsConfig(bool mtls) {
    std::string c = "tls_cert = \"" + pki_->path("server.pem") +
                    "\"\ntls_key = \"" + pki_->path("server.key") + "\"\n";
    if (mtls) c += "client_ca = \"" + pki_->path("ca.pem") + "\"\n";
    return c;
  }
  std::string dir_;
  std::unique_ptr<Pki> pki_;
};

TEST_F(TlsTest, ServesHttpsWithAVerifiableCertificate) {
  TetherServer server(TlsConfig(false));
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  EXPECT_EQ(server.url().rfind("https://127.0.0.1:", 0), 0u) << server.url();
  EXPECT_EQ(server.Call("GET", "/healthz").status, 200);
  auto [id, token] = server.StartTask();
  EXPECT_EQ(server.Decide(token, "git.fetch", "Repo", "acme/api"), "allow");
  // A client that does not trust the CA cannot talk to it.
  server.ca_file = pki_->path("rogue-ca.pem");
  EXPECT_EQ(server.Call("GET", "/healthz").status, 0);
}

TEST_F(TlsTest, NonLoopbackListenWithTlsStarts) {
  TetherServer server(TlsConfig(false));
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start({"--listen", "0.0.0.0:0"}))
      << server.startup_output();
}

TEST_F(TlsTest, X509SvidStartsATaskOverMtls) {
  TetherServer server(TlsConfig(true),
                      "[identity]\nx509_trust_domains = [\"example.org\"]\n",
                      PoliciesWithSpiffe(dir_));
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  server.client_cert = pki_->path("agent.pem");
  server.client_key = pki_->path("agent.key");
  Reply r = server.Call("POST", "/v1/tasks", "", R"({"repo":"acme/api"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Field("/task/agent"), "Agent::\"spiffe://example.org/agent/ci\"");
  EXPECT_EQ(r.Field("/task/issuer"), "x509-svid");
}

TEST_F(TlsTest, X509SvidFromAnUntrustedDomainIsRejected) {
  TetherServer server(TlsConfig(true),
                      "[identity]\nx509_trust_domains = [\"example.org\"]\n",
                      PoliciesWithSpiffe(dir_));
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  server.client_cert = pki_->path("foreign.pem");
  server.client_key = pki_->path("foreign.key");
  Reply r = server.Call("POST", "/v1/tasks", "", R"({"repo":"acme/api"})");
  EXPECT_EQ(r.status, 401) << r.body;
}

TEST_F(TlsTest, CertificateFromAnotherCaFailsTheHandshake) {
  TetherServer server(TlsConfig(true),
                      "[identity]\nx509_trust_domains = [\"example.org\"]\n",
                      PoliciesWithSpiffe(dir_));
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  server.client_cert = pki_->path("rogue.pem");
  server.client_key = pki_->path("rogue.key");
  Reply r = server.Call("POST", "/v1/tasks", "", R"({"repo":"acme/api"})");
  EXPECT_EQ(r.status, 0) << r.body;  // no HTTP at all
}

TEST_F(TlsTest, RequiredClientCertificateIsEnforced) {
  TetherServer server(TlsConfig(true) + "require_client_cert = true\n");
  server.ca_file = pki_->path("ca.pem");
  ASSERT_TRUE(server.Start()) << server.startup_output();
  EXPECT_EQ(server.Call("GET", "/healthz").status, 0);
  server.client_cert = pki_->path("agent.pem");
  server.client_key = pki_->path("agent.key");
  EXPECT_EQ(server.Call("GET", "/healthz").status, 200);
}

// --- SPIFFE JWT-SVIDs from a jwks_uri ---------------------------------------

class JwksFixture {
 public:
  JwksFixture()
      : server_([this](int, const RecordedRequest&) {
          std::lock_guard lock(mu_);
          ++fetches_;
          return CannedResponse{200, "application/json", jwks_};
        }) {}
  // Adds a fresh Ed25519 key; returns its kid.
  std::string AddKey() {
    Ed25519Key key = *Ed25519Key::Generate();
    std::string kid = broker::Ed25519Thumbprint(key.PublicKey());
    std::lock_guard lock(mu_);
    (void)set_.Add(*token::Ed25519VerifyKey(kid, key.PublicKey()));
    keys_.emplace(kid, std::move(key));
    jwks_ = set_.ToJwks();
    return kid;
  }
  std::string Svid(const std::string& kid, const std::string& sub,
                   const std::string& aud = "tether") {
    std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    json::object claims{
        {"sub", sub}, {"aud", aud}, {"exp", now + 300}, {"iat", now}};
    std::lock_guard lock(mu_);
    return *token::SignJwt(claims, keys_.at(kid), kid, "JWT");
  }
  int fetches() {
    std::lock_guard lock(mu_);
    return fetches_;
  }
  std::string url() const { return server_.url("/keys"); }

 private:
  std::mutex mu_;
  token::KeySet set_;
  std::map<std::string, Ed25519Key> keys_;
  std::string jwks_ = "{\"keys\":[]}";
  int fetches_ = 0;
  HttpTestServer server_;
};

std::string SpiffeIssuer(const JwksFixture& jwks, int min_refresh_seconds) {
  return "[[identity.spiffe]]\ntrust_domain = \"example.org\"\n"
         "audience = \"tether\"\njwks_uri = \"" +
         jwks.url() + "\"\njwks_min_refresh_seconds = " +
         std::to_string(min_refresh_seconds) + "\n";
}

TEST(SpiffeTest, JwtSvidFromJwksUriStartsATask) {
  JwksFixture jwks;
  std::string kid = jwks.AddKey();
  std::string dir = MakeTempDir("tether-spiffe");
  TetherServer server("", SpiffeIssuer(jwks, 60), PoliciesWithSpiffe(dir));
  ASSERT_TRUE(server.Start()) << server.startup_output();
  Reply r = server.Call("POST", "/v1/tasks",
                        jwks.Svid(kid, "spiffe://example.org/ns/ci/sa/agent"),
                        R"({"repo":"acme/api"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Field("/task/subject"), "spiffe://example.org/ns/ci/sa/agent");
  // Wrong trust domain, wrong audience, bad SPIFFE ID: refused.
  EXPECT_EQ(
      server
          .Call("POST", "/v1/tasks", jwks.Svid(kid, "spiffe://other.org/agent"),
                R"({"repo":"acme/api"})")
          .status,
      401);
  EXPECT_EQ(server
                .Call("POST", "/v1/tasks",
                      jwks.Svid(kid, "spiffe://example.org/agent", "other"),
                      R"({"repo":"acme/api"})")
                .status,
            401);
  EXPECT_EQ(server
                .Call("POST", "/v1/tasks",
                      jwks.Svid(kid, "spiffe://example.org/../admin"),
                      R"({"repo":"acme/api"})")
                .status,
            401);
  std::filesystem::remove_all(dir);
}

TEST(SpiffeTest, UnknownKidRefreshesTheJwksAtMostOncePerInterval) {
  JwksFixture jwks;
  std::string kid = jwks.AddKey();
  std::string dir = MakeTempDir("tether-spiffe");
  TetherServer server("", SpiffeIssuer(jwks, 600), PoliciesWithSpiffe(dir));
  ASSERT_TRUE(server.Start()) << server.startup_output();
  ASSERT_EQ(
      server
          .Call("POST", "/v1/tasks", jwks.Svid(kid, "spiffe://example.org/a"),
                R"({"repo":"acme/api"})")
          .status,
      201);
  int after_first = jwks.fetches();
  EXPECT_EQ(after_first, 1);
  // A flood of tokens naming unknown kids does not turn into a flood of
  // fetches.
  for (int i = 0; i < 20; ++i) {
    JwksFixture other;
    std::string stray = other.AddKey();
    EXPECT_EQ(server
                  .Call("POST", "/v1/tasks",
                        other.Svid(stray, "spiffe://example.org/a"),
                        R"({"repo":"acme/api"})")
                  .status,
              401);
  }
  EXPECT_LE(jwks.fetches(), after_first + 1);
  std::filesystem::remove_all(dir);
}

TEST(SpiffeTest, RotatedIssuerKeyIsPickedUpOnUnknownKid) {
  JwksFixture jwks;
  std::string first = jwks.AddKey();
  std::string dir = MakeTempDir("tether-spiffe");
  TetherServer server("", SpiffeIssuer(jwks, 1), PoliciesWithSpiffe(dir));
  ASSERT_TRUE(server.Start()) << server.startup_output();
  ASSERT_EQ(
      server
          .Call("POST", "/v1/tasks", jwks.Svid(first, "spiffe://example.org/a"),
                R"({"repo":"acme/api"})")
          .status,
      201);
  std::string second = jwks.AddKey();
  // Past the minimum interval an unknown kid refetches, and the new key
  // verifies.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Reply r = server.Call("POST", "/v1/tasks",
                        jwks.Svid(second, "spiffe://example.org/a"),
                        R"({"repo":"acme/api"})");
  EXPECT_EQ(r.status, 201) << r.body;
  std::filesystem::remove_all(dir);
}

// --- ticket providers -------------------------------------------------------

class TicketFixture {
 public:
  TicketFixture()
      : server_([this](int, const RecordedRequest& r) {
          std::lock_guard lock(mu_);
          requests_.push_back(r);
          if (status_ != 200)
            return CannedResponse{status_, "text/plain", "no"};
          return CannedResponse{
              200, "application/json",
              "{\"fields\":{\"status\":{\"name\":\"" + state_ + "\"}}}"};
        }) {}
  void Set(const std::string& state, int status = 200) {
    std::lock_guard lock(mu_);
    state_ = state;
    status_ = status;
  }
  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::string url() const { return server_.url("/"); }

 private:
  std::mutex mu_;
  std::string state_ = "approved";
  int status_ = 200;
  std::vector<RecordedRequest> requests_;
  HttpTestServer server_;
};

std::string TicketConfig(const TicketFixture& f) {
  return "[[tickets.providers]]\nname = \"jira\"\nurl_template = \"" + f.url() +
         "rest/api/2/issue/{id}?repo={repo}\"\n"
         "state_pointer = \"/fields/status/name\"\n"
         "credential_env = \"TETHER_TEST_TICKET_TOKEN\"\n"
         "cache_seconds = 1\n";
}

TEST(TicketTest, ProviderStateIsVerifiedAndRefreshedAfterItsTtl) {
  ::setenv("TETHER_TEST_TICKET_TOKEN", "jira-secret-123", 1);
  TicketFixture tickets;
  TetherServer server("", TicketConfig(tickets));
  ASSERT_TRUE(server.Start()) << server.startup_output();
  // The caller claims "draft"; the provider says "approved": a verified
  // production task.
  Reply r = server.Call(
      "POST", "/v1/tasks", server.IdentityToken(),
      R"({"repo":"acme/api","environment":"prod","ticket":{"id":"OPS-42","state":"draft"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Field("/task/ticket/state"), "approved");
  EXPECT_EQ(r.Field("/task/ticket/verified"), "true");
  std::string token = r.Field("/token");
  auto reqs = tickets.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/rest/api/2/issue/OPS-42?repo=acme/api");
  bool auth = false;
  for (const auto& [k, v] : reqs[0].headers) {
    auth |= k == "Authorization" && v == "Bearer jira-secret-123";
  }
  EXPECT_TRUE(auth);
  // A production write: only the proxy may write, but the ticket is fine.
  auto deploy = [&] {
    Reply d = server.CallJson(
        "POST", "/v1/authorize", token,
        json::value(json::object{
            {"action", "github.deployments.create"},
            {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}}}));
    return d.body;
  };
  EXPECT_EQ(deploy().find("forbid-prod-writes-without-approved-ticket"),
            std::string::npos);
  // The ticket is closed upstream; after the cache TTL tether sees it.
  tickets.Set("Closed");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_NE(deploy().find("forbid-prod-writes-without-approved-ticket"),
            std::string::npos);
  EXPECT_EQ(tickets.requests().size(), 2u);
  // The credential never reaches the audit log.
  Reply audit =
      server.Call("GET", "/v1/audit?limit=10000", server.admin_token());
  EXPECT_EQ(audit.body.find("jira-secret-123"), std::string::npos);
}

TEST(TicketTest, FailedLookupLeavesTheTicketUnverified) {
  ::setenv("TETHER_TEST_TICKET_TOKEN", "jira-secret-123", 1);
  TicketFixture tickets;
  tickets.Set("approved", 503);
  TetherServer server("", TicketConfig(tickets));
  ASSERT_TRUE(server.Start()) << server.startup_output();
  Reply r = server.Call(
      "POST", "/v1/tasks", server.IdentityToken(),
      R"({"repo":"acme/api","ticket":{"id":"OPS-7","state":"approved"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Field("/task/ticket/state"), "approved");  // as claimed
  EXPECT_EQ(r.Field("/task/ticket/verified"), "false");
  // And a production task cannot start on a claim.
  Reply prod = server.Call(
      "POST", "/v1/tasks", server.IdentityToken(),
      R"({"repo":"acme/api","environment":"prod","ticket":{"id":"OPS-7","state":"approved"}})");
  EXPECT_EQ(prod.status, 403) << prod.body;
}

TEST(TicketTest, MissingCredentialRefusesToStart) {
  ::unsetenv("TETHER_TEST_TICKET_TOKEN");
  TicketFixture tickets;
  TetherServer server("", TicketConfig(tickets));
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.startup_output().find("TETHER_TEST_TICKET_TOKEN"),
            std::string::npos)
      << server.startup_output();
}

}  // namespace
}  // namespace tether::testing
