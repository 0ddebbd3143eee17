#include "core/config.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(Config, DefaultsWithoutSections) {
  auto c = ParseConfig("", "t.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data_dir, "tether-data");
  EXPECT_EQ(c->audit.checkpoint_every, 1000u);
  EXPECT_TRUE(c->audit.default_redact_patterns);
}

TEST(Config, ReadsStoreAndAudit) {
  auto c = ParseConfig(R"(
[store]
data_dir = "/var/lib/tether"

[audit]
checkpoint_every = 500
checkpoint_seconds = 30
hmac_fields = ["principal", "task_id"]
redact_patterns = ["internal_[a-z0-9]{32}"]
witness_file = "/var/lib/witness/checkpoints.jsonl"

[[audit.sinks]]
type = "file"
path = "/var/log/tether/audit.jsonl"
max_bytes = 1048576

[[audit.sinks]]
type = "webhook"
name = "siem"
url = "https://siem.example/ingest"
headers = { Authorization = "Bearer x" }
timeout_ms = 5000

[server]
listen = "127.0.0.1:8700"
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->data_dir, "/var/lib/tether");
  EXPECT_EQ(c->audit.checkpoint_every, 500u);
  EXPECT_EQ(c->audit.hmac_fields.size(), 2u);
  ASSERT_EQ(c->audit.sinks.size(), 2u);
  EXPECT_EQ(c->audit.sinks[0].name, "file:/var/log/tether/audit.jsonl");
  EXPECT_EQ(c->audit.sinks[0].max_bytes, 1048576u);
  EXPECT_EQ(c->audit.sinks[1].headers.at("Authorization"), "Bearer x");
}

TEST(Config, ErrorsNameTheLineAndColumn) {
  auto bad_key = ParseConfig("[audit]\ncheckpoint_evry = 5\n", "t.toml");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code, "invalid_config");
  EXPECT_EQ(bad_key.error().message.rfind("t.toml:2:", 0), 0u)
      << bad_key.error().message;
  EXPECT_NE(bad_key.error().message.find("checkpoint_evry"), std::string::npos);

  auto bad_type = ParseConfig("[audit]\ncheckpoint_every = \"x\"\n", "t.toml");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.error().message.rfind("t.toml:2:", 0), 0u);

  auto syntax = ParseConfig("[audit\n", "t.toml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().message.rfind("t.toml:1:", 0), 0u);

  EXPECT_FALSE(ParseConfig("[audit]\ncheckpoint_every = 0\n", "t").ok());
  EXPECT_FALSE(ParseConfig("[[audit.sinks]]\ntype = \"ftp\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig("[[audit.sinks]]\ntype = \"file\"\n", "t").ok());
  EXPECT_FALSE(ParseConfig("[nonsense]\n", "t").ok());
  EXPECT_FALSE(ParseConfig("[audit]\ncheckpoint_every = -1\n", "t").ok());
  // The file is ASCII; other characters are written as escapes.
  auto escaped = ParseConfig("[store]\ndata_dir = \"/srv/caf\\u00e9\"\n", "t");
  ASSERT_TRUE(escaped.ok()) << escaped.error().message;
  EXPECT_EQ(escaped->data_dir, "/srv/café");
  EXPECT_FALSE(ParseConfig("# café\n", "t").ok());
  auto stray = ParseConfig("[store]\ndata_dir = \"x\" \xef\xac\xb3\n", "t");
  ASSERT_FALSE(stray.ok());
  EXPECT_EQ(stray.error().message.rfind("t:2:16:", 0), 0u)
      << stray.error().message;
}

TEST(Config, ReadsApprovals) {
  auto c = ParseConfig(R"toml(
[approvals]
ttl_seconds = 600
max_pending_per_task = 3
max_wait_seconds = 120
console_url = "https://tether.example/ui/"
[[approvals.webhooks]]
url = "https://hooks.slack.com/services/T/B/X"
format = "slack"
events = ["requested"]
[[approvals.webhooks]]
name = "pager"
url = "http://127.0.0.1:9/hook"
headers = { Authorization = "Bearer x" }
[approvals.oidc]
issuer = "https://login.example"
client_id = "tether-console"
groups_claim = "groups"
)toml",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->approvals.ttl_seconds, 600);
  EXPECT_EQ(c->approvals.max_pending_per_task, 3);
  EXPECT_EQ(c->approvals.console_url, "https://tether.example/ui/");
  ASSERT_EQ(c->approvals.webhooks.size(), 2u);
  EXPECT_EQ(c->approvals.webhooks[0].format, "slack");
  EXPECT_EQ(c->approvals.webhooks[0].events,
            std::vector<std::string>{"requested"});
  EXPECT_EQ(c->approvals.webhooks[1].headers.at("Authorization"), "Bearer x");
  ASSERT_EQ(c->approvals.oidc.size(), 1u);
  EXPECT_EQ(c->approvals.oidc[0].role, "approver");
}

TEST(Config, RefusesBadApprovals) {
  for (const char* bad : {
           "[approvals]\nttl_seconds = 0\n",
           "[approvals]\nmax_pending_per_task = 0\n",
           "[approvals]\nmax_wait_seconds = 99999\n",
           "[approvals]\nwait = 1\n",
           "[[approvals.webhooks]]\nurl = \"ftp://x\"\n",
           "[[approvals.webhooks]]\nurl = \"http://x\"\nformat = \"xml\"\n",
           "[[approvals.webhooks]]\nurl = \"http://x\"\nevents = "
           "[\"used\"]\n",
           "[approvals.oidc]\nissuer = \"https://x\"\n",
           "[approvals.oidc]\nissuer = \"https://x\"\nclient_id = "
           "\"c\"\nrole = \"admin\"\n",
       }) {
    auto c = ParseConfig(bad, "t.toml");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().message.rfind("t.toml:", 0), 0u) << c.error().message;
  }
}

TEST(Config, ReadsSecrets) {
  auto c = ParseConfig("[secrets]\nkey_file = \"/etc/tether/secrets.key\"\n",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->secrets.key_file, "/etc/tether/secrets.key");
  EXPECT_TRUE(ParseConfig("", "t.toml")->secrets.key_file.empty());
  for (const char* bad :
       {"[secrets]\nkey = \"x\"\n", "[secrets]\nkey_file = \"\"\n",
        "[secrets]\nkey_file = 1\n", "secrets = 1\n"}) {
    auto r = ParseConfig(bad, "t.toml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.rfind("t.toml:", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace tether
