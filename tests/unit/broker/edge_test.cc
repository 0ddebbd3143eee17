// Decisions for requests that one of tether's own edges (the proxy) parsed:
// their context may carry that edge's keys, and an approval binds the body's
// digest too.
#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <filesystem>

#include "broker/broker.h"

namespace tether::broker {
namespace {

namespace json = boost::json;

class EdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-edge-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    BrokerOptions o;
    std::string src = TETHER_SOURCE_DIR;
    o.config.data_dir = dir_.string();
    o.config.server.policies = src + "/examples/policies";
    o.config.actions.catalog = src + "/examples/actions.json";
    o.config.resources.entities = src + "/examples/resources.json";
    o.url = "https://tether.edge.test";
    auto b = Broker::Open(std::move(o));
    ASSERT_TRUE(b) << b.error().message;
    broker_ = std::move(*b);
    auto admin = broker_->AuthenticateBearer(broker_->bootstrap_admin_token(),
                                             "api", "");
    ASSERT_TRUE(admin) << admin.error().message;
    auto task = broker_->CreateTask(
        *admin, json::value(json::object{{"repo", "acme/api"}}));
    ASSERT_TRUE(task && task->status == 201);
    std::string token(task->body.at("token").as_string());
    auto caller = broker_->AuthenticateTask(token, "");
    ASSERT_TRUE(caller);
    caller_ = *caller;
  }
  void TearDown() override {
    broker_.reset();
    std::filesystem::remove_all(dir_);
  }
  EdgeRequest Push(std::string ref, std::string body_sha256 = "") {
    EdgeRequest r;
    r.action = "github.pulls.create";
    r.resource_type = "Repo";
    r.resource_id = "acme/api";
    r.context = {{"method", "POST"},
                 {"path", "/repos/acme/api/pulls"},
                 {"host", "api.github.com"},
                 {"base", "main"},
                 {"head", ref},
                 {"ref", ref}};
    r.body_sha256 = std::move(body_sha256);
    return r;
  }
  std::filesystem::path dir_;
  std::unique_ptr<Broker> broker_;
  TaskCaller caller_;
};

TEST_F(EdgeTest, TheProxyEdgeSetsItsOwnKeys) {
  std::string ns = "refs/heads/agent/" + caller_.task_id + "/fix";
  auto own = broker_->AuthorizeEdge(caller_, Push(ns));
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->at("decision").as_string(), "allow") << json::serialize(*own);
  auto main = broker_->AuthorizeEdge(caller_, Push("refs/heads/main"));
  ASSERT_TRUE(main);
  EXPECT_EQ(main->at("decision").as_string(), "deny");
  // A caller of the API may not state what the proxy parsed.
  json::value body = json::object{
      {"action", "github.pulls.create"},
      {"resource", json::object{{"type", "Repo"}, {"id", "acme/api"}}},
      {"context", json::object{{"method", "POST"}}}};
  auto api = broker_->Authorize(caller_, body);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().code, "invalid_request");
  // Nor may an edge set what the broker computes.
  EdgeRequest forged = Push(ns);
  forged.context["ref_task"] = "x";
  EXPECT_FALSE(broker_->AuthorizeEdge(caller_, forged));
  forged = Push(ns);
  forged.context["edge"] = "api";
  EXPECT_FALSE(broker_->AuthorizeEdge(caller_, forged));
}

TEST_F(EdgeTest, AnApprovalBindsTheBodyDigest) {
  EdgeRequest secret;
  secret.action = "secret.read";
  secret.resource_type = "Secret";
  secret.resource_id = "npm-publish";
  secret.context = {{"method", "GET"}, {"path", "/v1/secrets/npm"}};
  secret.body_sha256 = std::string(64, 'a');
  auto first = broker_->AuthorizeEdge(caller_, secret);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->at("decision").as_string(), "approval_required");
  std::string id(first->at("approval").at("id").as_string());
  auto same = broker_->AuthorizeEdge(caller_, secret);
  EXPECT_EQ(same->at("approval").at("id").as_string(), id);  // merged
  secret.body_sha256 = std::string(64, 'b');
  auto other = broker_->AuthorizeEdge(caller_, secret);
  ASSERT_TRUE(other);
  EXPECT_NE(other->at("approval").at("id").as_string(), id);
  auto shown = broker_->GetApproval(id);
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->at("body_sha256").as_string(), std::string(64, 'a'));
  EXPECT_EQ(shown->at("edge").as_string(), "proxy");
}

}  // namespace
}  // namespace tether::broker
