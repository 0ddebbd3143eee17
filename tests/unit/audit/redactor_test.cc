#include "audit/redactor.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/unit/audit/audit_test_util.h"

namespace tether::audit {
namespace {

TEST(Redactor, RemovesRegisteredSecretsEverywhere) {
  auto r = Redactor::Create({"s3cr3t-value", "hunter2"}, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->Redact("token=s3cr3t-value;"), "token=[REDACTED];");
  EXPECT_EQ((*r)->Redact("hunter2hunter2"), "[REDACTED]");
  EXPECT_EQ((*r)->Redact("nothing here"), "nothing here");
  EXPECT_EQ((*r)->Redact("ahunter2s3cr3t-valueb"), "a[REDACTED]b");
}

TEST(Redactor, MatchesCredentialPatterns) {
  auto r = Redactor::Create({}, DefaultRedactPatterns());
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string gh = "ghp_" + std::string(36, 'a');
  EXPECT_EQ((*r)->Redact("Authorization: token " + gh),
            "Authorization: token [REDACTED]");
  EXPECT_EQ((*r)->Redact("key AKIAABCDEFGHIJKLMNOP end"), "key [REDACTED] end");
  EXPECT_EQ((*r)->Redact("-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE "
                         "KEY-----"),
            "[REDACTED]");
  EXPECT_FALSE((*r)->Matches("ghp_short"));
}

TEST(Redactor, ReportsBadPatterns) {
  auto r = Redactor::Create({}, {"(unclosed"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_pattern");
  EXPECT_NE(r.error().message.find("(unclosed"), std::string::npos);
}

TEST(Redactor, RedactsJsonValuesAndKeys) {
  auto r = Redactor::Create({"topsecret"}, {});
  boost::json::value v = boost::json::parse(
      R"({"a": ["x topsecret y", {"topsecret": 1}], "n": 5, "k": "ok"})");
  (*r)->RedactJson(v);
  EXPECT_EQ(boost::json::serialize(v),
            R"({"a":["x [REDACTED] y",{"[REDACTED]":1}],"n":5,"k":"ok"})");
}

class RedactionOnDisk : public AuditTest {};

TEST_F(RedactionOnDisk, ASecretNeverReachesTheDatabaseFile) {
  const std::string secret = "npm_Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2";
  auto redactor = Redactor::Create({secret}, DefaultRedactPatterns());
  ASSERT_TRUE(redactor.ok());
  {
    auto log = OpenLog(*redactor);
    Event e = Decision("t1", "allow");
    e.reasons = {"the agent sent " + secret + " in a header"};
    e.detail["header"] = "Bearer " + secret;
    e.detail["nested"] = boost::json::object{{"k", "x" + secret + "x"}};
    e.detail[secret] = "as a key";
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Append(e).ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str().find(secret), std::string::npos)
        << "secret found in " << entry.path();
    EXPECT_EQ(bytes.str().find("npm_Z9y8X7w6"), std::string::npos);
  }
}

}  // namespace
}  // namespace tether::audit
