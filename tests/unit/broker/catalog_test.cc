#include "broker/catalog.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/files.h"

namespace tether::broker {
namespace {

const char* kCatalog = R"({
  "groups": {"read": {}, "write": {"groups": ["any"]}, "any": {}},
  "actions": {
    "git.fetch": {"groups": ["read"], "description": "clone"},
    "git.push": {"groups": ["write"]},
    "tool.call": {}
  }
})";

TEST(ActionCatalogTest, ActionsAndTheirGroupsBecomeEntities) {
  auto c = ActionCatalog::Parse(kCatalog, "catalog.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE((*c)->Has("git.push"));
  EXPECT_FALSE((*c)->Has("write"));  // a group is not an action
  EXPECT_FALSE((*c)->Has("git.force"));
  policy::EntityStore store;
  ASSERT_TRUE((*c)->AddEntities("git.push", store));
  ASSERT_TRUE(store.Finalize());
  const policy::Entity* push = store.Find(*(*c)->Uid("git.push"));
  ASSERT_NE(push, nullptr);
  policy::EntityUid any{"Action", "any", policy::HashUid("Action", "any"),
                        policy::HashType("Action")};
  EXPECT_TRUE(policy::EntityStore::HasAncestor(*push, any));  // transitive
  EXPECT_FALSE((*c)->AddEntities("git.force", store));
}

TEST(ActionCatalogTest, MistakesAreRefusedWithTheirPlace) {
  auto j = ActionCatalog::Parse("{\"actions\": {\n  \"a\": [}", "c.json");
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("c.json:2:"), std::string::npos)
      << j.error().message;
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {R"({"actions": {"a": {"groups": ["nope"]}}})", "undeclared group"},
      {R"({"groups": {"x": {"groups": ["y"]}, "y": {"groups": ["x"]}},
           "actions": {"a": {"groups": ["x"]}}})",
       "cycle"},
      {R"({"groups": {"a": {}}, "actions": {"a": {}}})", "both"},
      {R"({"actions": {"a": {"parents": []}}})", "unknown member"},
      {R"({"actions": {"A B": {}}})", "not a valid action name"},
      {R"({"actions": {}})", "no actions"},
      {R"({"acts": {}})", "unknown member"},
      {R"([])", "must be an object"},
  };
  for (const Case& c : cases) {
    auto r = ActionCatalog::Parse(c.text, "c.json");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, "invalid_catalog");
    EXPECT_NE(r.error().message.find(c.says), std::string::npos)
        << r.error().message;
  }
}

TEST(ActionCatalogTest, TheShippedCatalogNamesEveryDesignAction) {
  auto c = ActionCatalog::Load(std::string(TETHER_SOURCE_DIR) +
                               "/examples/actions.json");
  ASSERT_TRUE(c) << c.error().message;
  for (const char* a :
       {"task.create", "task.delegate", "git.fetch", "git.push",
        "github.pulls.create", "http.request", "secret.read", "tool.call",
        "credential.issue", "github.releases.create", "registry.publish"}) {
    EXPECT_TRUE((*c)->Has(a)) << a;
  }
}

TEST(ResourceCatalogTest, NonCanonicalRepoAndHostIdsAreRefused) {
  std::string dir = ::testing::TempDir();
  for (const char* uid : {R"({"type":"Repo","id":"Acme/Payments"})",
                          R"({"type":"Repo","id":"acme/payments.git"})",
                          R"({"type":"Host","id":"API.GitHub.com"})"}) {
    std::string path = dir + "/catalog-test.json";
    {
      std::ofstream out(path);
      out << R"([{"uid":{"type":"Secret","id":"s"},"attrs":{},"parents":[)"
          << uid << "]}]";
    }
    ResourcesConfig config;
    config.entities = path;
    auto c = ResourceCatalog::Load(config);
    ASSERT_FALSE(c) << uid;
    EXPECT_EQ(c.error().code, "invalid_catalog");
    EXPECT_NE(c.error().message.find("not canonical"), std::string::npos);
  }
  ResourcesConfig shipped;
  shipped.entities =
      std::string(TETHER_SOURCE_DIR) + "/examples/resources.json";
  EXPECT_TRUE(ResourceCatalog::Load(shipped));
}

}  // namespace
}  // namespace tether::broker
