#include "audit/export.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "audit/verify.h"
#include "audit/webhook_sink.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/json.h"
#include "tests/support/http_test_server.h"
#include "tests/unit/audit/audit_test_util.h"

namespace tether::audit {
namespace {

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

class ExportTest : public AuditTest {
 protected:
  ExporterOptions Options() {
    ExporterOptions o;
    o.db_path = options_.db_path;
    o.poll = std::chrono::milliseconds(20);
    o.min_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(50);
    return o;
  }
};

TEST_F(ExportTest, FileSinkGetsEveryRecordOnceInOrder) {
  auto log = OpenLog();
  std::string path = (dir_ / "audit.jsonl").string();
  auto exporter = Exporter::Start(
      Options(), std::make_unique<FileSink>("file", path, 1 << 30, 3));
  ASSERT_TRUE(exporter.ok()) << exporter.error().message;
  for (int i = 0; i < 120; ++i)
    ASSERT_TRUE(log->Append(Decision("t", "allow")).ok());
  (*exporter)->Notify();
  ASSERT_TRUE((*exporter)->WaitDelivered(120, std::chrono::seconds(10)));
  auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 120u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto j = ParseJson(lines[i]);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->at("seq"), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(j->at("type"), "authz.decision");
  }
  // A restarted exporter resumes after its cursor.
  exporter->reset();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(log->Append(Decision("t", "deny")).ok());
  auto again = Exporter::Start(
      Options(), std::make_unique<FileSink>("file", path, 1 << 30, 3));
  ASSERT_TRUE((*again)->WaitDelivered(125, std::chrono::seconds(10)));
  EXPECT_EQ(Lines(path).size(), 125u);
}

TEST_F(ExportTest, FileSinkRotatesBySize) {
  std::string path = (dir_ / "rot.jsonl").string();
  FileSink sink("file", path, 1000, 2);
  std::vector<ExportRecord> batch;
  for (int i = 0; i < 10; ++i) {
    batch.push_back(
        ExportRecord{static_cast<std::uint64_t>(i), std::string(180, 'x')});
  }
  for (int round = 0; round < 6; ++round) {
    ASSERT_TRUE(sink.Deliver(std::span(batch).subspan(0, 4)).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  EXPECT_LE(std::filesystem::file_size(path), 1000u);
}

TEST_F(ExportTest, WebhookRetriesUntilAcceptedAndNeverBlocksAppends) {
  std::atomic<int> fail_first{3};
  testing::HttpTestServer server([&](int n, const testing::RecordedRequest&) {
    return n < fail_first ? 503 : 200;
  });
  WebhookOptions w;
  w.name = "siem";
  w.url = server.url("/ingest?source=tether");
  w.headers = {{"Authorization", "Bearer webhook-credential"}};
  auto sink = MakeWebhookSink(w);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  auto log = OpenLog();
  auto exporter = Exporter::Start(Options(), std::move(*sink));
  ASSERT_TRUE(exporter.ok());
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(log->Append(Decision("t", "allow")).ok());
  ASSERT_TRUE((*exporter)->WaitDelivered(40, std::chrono::seconds(20)))
      << (*exporter)->last_error();
  EXPECT_GE((*exporter)->failures(), 3u);
  std::set<std::int64_t> seen;
  for (const auto& r : server.requests()) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/ingest?source=tether");
    auto j = ParseJson(r.body);
    ASSERT_TRUE(j.ok()) << r.body;
    for (const auto& e : j->at("events").as_array()) {
      seen.insert(e.at("seq").as_int64());
    }
  }
  for (std::int64_t s = 1; s <= 40; ++s) EXPECT_TRUE(seen.count(s)) << s;
}

TEST_F(ExportTest, AnUnreachableWebhookOnlyDelaysItself) {
  WebhookOptions w;
  w.url = "http://127.0.0.1:1/never";  // nothing listens on port 1
  w.timeout = std::chrono::milliseconds(200);
  auto exporter = Exporter::Start(Options(), std::move(*MakeWebhookSink(w)));
  ASSERT_TRUE(exporter.ok());
  auto log = OpenLog();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(log->Append(Decision("t", "allow")).ok());
  EXPECT_FALSE((*exporter)->WaitDelivered(1, std::chrono::milliseconds(300)));
  EXPECT_GE((*exporter)->failures(), 1u);
}

TEST_F(ExportTest, CheckpointsGoToAWitness) {
  options_.checkpoint_every = 10;
  std::string path = (dir_ / "witness.jsonl").string();
  {
    auto log = OpenLog();
    for (int i = 0; i < 35; ++i) {
      ASSERT_TRUE(log->Append(Decision("t", "allow")).ok());
    }
  }  // closing writes a final checkpoint at 35
  ExporterOptions o = Options();
  o.source = ExporterOptions::Source::kCheckpoints;
  o.public_key_hex = HexEncode(keys_->checkpoint.PublicKey());
  auto exporter = Exporter::Start(
      o, std::make_unique<FileSink>("witness", path, 1 << 20, 1));
  ASSERT_TRUE((*exporter)->WaitDelivered(35, std::chrono::seconds(10)));
  auto cps = ParseCheckpointFile(*ReadFile(path));
  ASSERT_TRUE(cps.ok()) << cps.error().message;
  ASSERT_GE(cps->size(), 4u);
  EXPECT_EQ(cps->back().seq, 35u);
  // A witness's copy proves what the log must contain.
  auto db = std::move(*store::SqliteDb::Open(options_.db_path, {}));
  ASSERT_TRUE(db->Exec("DELETE FROM events WHERE seq > 30; "
                       "DELETE FROM checkpoints WHERE seq > 30")
                  .ok());
  VerifyOptions vo;
  vo.public_keys = {keys_->checkpoint.PublicKey()};
  vo.external = *cps;
  auto report = Verify(*db, vo);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->first_bad_seq, 31u);
}

TEST(Webhook, RejectsBadUrls) {
  for (const char* bad : {"ftp://x/", "not a url", "http:///path"}) {
    WebhookOptions w;
    w.url = bad;
    EXPECT_FALSE(MakeWebhookSink(w).ok()) << bad;
  }
}

TEST_F(ExportTest, SecretsStayOutOfExports) {
  const std::string secret = "ghp_" + std::string(36, 'Q');
  auto redactor =
      Redactor::Create({"s3cr3t-registered"}, DefaultRedactPatterns());
  auto log = OpenLog(*redactor);
  Event e = Decision("t", "allow");
  e.detail["auth"] = "token " + secret;
  e.detail["other"] = "xs3cr3t-registeredx";
  ASSERT_TRUE(log->Append(e).ok());
  std::string path = (dir_ / "export.jsonl").string();
  auto exporter = Exporter::Start(
      Options(), std::make_unique<FileSink>("file", path, 1 << 20, 1));
  ASSERT_TRUE((*exporter)->WaitDelivered(1, std::chrono::seconds(10)));
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  EXPECT_EQ(all.str().find(secret), std::string::npos);
  EXPECT_EQ(all.str().find("s3cr3t-registered"), std::string::npos);
  EXPECT_NE(all.str().find("[REDACTED]"), std::string::npos);
}

}  // namespace
}  // namespace tether::audit
