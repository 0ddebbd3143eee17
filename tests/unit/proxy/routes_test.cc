#include "proxy/routes.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "broker/catalog.h"
#include "core/json.h"

namespace tether::proxy {
namespace {

namespace json = boost::json;

std::shared_ptr<const RouteTable> Shipped() {
  auto t =
      RouteTable::Load({std::string(TETHER_SOURCE_DIR) + "/examples/routes"});
  EXPECT_TRUE(t) << t.error().message;
  return t ? *t : nullptr;
}

RouteMatch MatchOk(const RouteTable& t, std::string_view host,
                   std::string_view method, std::string_view path,
                   std::string_view query = "",
                   const json::value* body = nullptr) {
  auto m = t.Match(host, method, path, query, body);
  EXPECT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m && *m) << method << " " << path;
  return m && *m ? **m : RouteMatch{};
}

TEST(Routes, EveryShippedActionIsInTheCatalog) {
  auto t = Shipped();
  ASSERT_TRUE(t);
  auto catalog = broker::ActionCatalog::Load(std::string(TETHER_SOURCE_DIR) +
                                             "/examples/actions.json");
  ASSERT_TRUE(catalog) << catalog.error().message;
  for (const std::string& a : t->Actions()) {
    EXPECT_TRUE((*catalog)->Has(a)) << a << " is not in examples/actions.json";
  }
  EXPECT_TRUE((*catalog)->Has("http.request"));
  EXPECT_TRUE((*catalog)->Has("http.connect"));
}

TEST(Routes, GitHubPullRequestTakesBaseAndHeadFromTheBody) {
  auto t = Shipped();
  json::value body = json::parse(R"({"base":"main","head":"agent/t1/fix"})");
  RouteMatch m = MatchOk(*t, "api.github.com", "POST",
                         "/repos/Acme/API.git/pulls", "", &body);
  EXPECT_EQ(m.action, "github.pulls.create");
  EXPECT_EQ(m.resource_type, "Repo");
  EXPECT_EQ(m.resource_id, "acme/api");  // canonical
  EXPECT_EQ(m.context.at("base").as_string(), "main");
  EXPECT_EQ(m.context.at("head").as_string(), "agent/t1/fix");
}

TEST(Routes, GitHubWritesHaveTheirOwnActions) {
  auto t = Shipped();
  struct Case {
    const char* method;
    const char* path;
    const char* action;
  } cases[] = {
      {"PUT", "/repos/acme/api/pulls/7/merge", "github.pulls.merge"},
      {"PUT", "/repos/acme/api/contents/src/main.cc", "github.contents.write"},
      {"POST", "/repos/acme/api/releases", "github.releases.create"},
      {"PATCH", "/repos/acme/api/releases/12", "github.releases.write"},
      {"POST", "/repos/acme/api/actions/workflows/ci.yml/dispatches",
       "github.actions.dispatch"},
      {"PUT", "/repos/acme/api/actions/secrets/NPM_TOKEN",
       "github.actions.secrets.write"},
      {"GET", "/repos/acme/api/actions/secrets/NPM_TOKEN", "github.read"},
      {"POST", "/repos/acme/api/actions/variables",
       "github.actions.variables.write"},
      {"POST", "/repos/acme/api/deployments", "github.deployments.create"},
      {"DELETE", "/repos/acme/api", "github.repos.delete"},
      {"PATCH", "/repos/acme/api", "github.repos.settings"},
      {"PUT", "/repos/acme/api/branches/main/protection",
       "github.repos.settings"},
      {"POST", "/repos/acme/api/issues", "github.issues.create"},
      {"POST", "/repos/acme/api/issues/3/comments", "github.issues.comment"},
      {"GET", "/repos/acme/api/pulls", "github.read"},
      {"GET", "/repos/acme/api", "github.read"},
      {"POST", "/repos/acme/api/labels", "github.write"},
      {"GET", "/user", "github.read"},
      {"POST", "/graphql", "github.write"},
  };
  for (const Case& c : cases) {
    RouteMatch m = MatchOk(*t, "api.github.com", c.method, c.path);
    EXPECT_EQ(m.action, c.action) << c.method << " " << c.path;
  }
  RouteMatch file =
      MatchOk(*t, "api.github.com", "PUT", "/repos/acme/api/contents/a/b.txt");
  EXPECT_EQ(file.context.at("file_path").as_string(), "a/b.txt");
  RouteMatch host = MatchOk(*t, "api.github.com", "GET", "/user");
  EXPECT_EQ(host.resource_type, "Host");
  EXPECT_EQ(host.resource_id, "api.github.com");
}

TEST(Routes, GitSmartHttp) {
  auto t = Shipped();
  RouteMatch refs = MatchOk(*t, "github.com", "GET", "/acme/api.git/info/refs",
                            "service=git-upload-pack");
  EXPECT_EQ(refs.action, "git.fetch");
  EXPECT_EQ(refs.resource_id, "acme/api");
  RouteMatch pack =
      MatchOk(*t, "github.com", "POST", "/acme/api.git/git-upload-pack");
  EXPECT_EQ(pack.action, "git.fetch");
  RouteMatch push =
      MatchOk(*t, "github.com", "POST", "/acme/api/git-receive-pack");
  EXPECT_EQ(push.action, "git.push");
  EXPECT_TRUE(push.git_receive_pack);
  RouteMatch page = MatchOk(*t, "github.com", "GET", "/acme/api/issues");
  EXPECT_EQ(page.action, "http.request");
}

TEST(Routes, HostsWithoutRoutesAndEscapedParametersDoNotMatch) {
  auto t = Shipped();
  auto none = t->Match("example.com", "GET", "/", "", nullptr);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_FALSE(t->HasHost("example.com"));
  // A parameter with an escape falls through to the catch-all, on the host.
  RouteMatch m = MatchOk(*t, "api.github.com", "DELETE", "/repos/acme/a%20pi");
  EXPECT_EQ(m.action, "github.write");
  EXPECT_EQ(m.resource_type, "Host");
}

TEST(Routes, QueryRequirementsAndSources) {
  auto t = RouteTable::Parse(R"({"hosts": ["Example.COM."], "routes": [
    {"method": "get", "path": "/x/{a}", "query": {"mode": "fast"},
     "action": "http.request", "resource": {"type": "Host", "id": "example.com"},
     "context": {"a": "{a}", "q": "query:who", "lit": "v-{a}"}},
    {"method": "*", "path": "/{rest*}", "action": "http.request",
     "resource": {"type": "Host", "id": "example.com"}}]})",
                             "t.json");
  ASSERT_TRUE(t) << t.error().message;
  RouteMatch fast =
      MatchOk(**t, "example.com", "GET", "/x/1", "mode=fast&who=me");
  EXPECT_EQ(fast.route, "t.json#0");
  EXPECT_EQ(fast.context.at("q").as_string(), "me");
  EXPECT_EQ(fast.context.at("lit").as_string(), "v-1");
  RouteMatch slow = MatchOk(**t, "example.com", "GET", "/x/1", "mode=slow");
  EXPECT_EQ(slow.route, "t.json#1");
}

TEST(Routes, BadRouteFilesAreRefusedWithWhere) {
  const char* bad[] = {
      R"([])",
      R"({"hosts": [], "routes": []})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET"}]})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "x",
          "action": "a", "resource": {"type": "Host", "id": "a"}}]})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "/{r*}/x",
          "action": "a", "resource": {"type": "Host", "id": "a"}}]})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "/{a}/{a}",
          "action": "a", "resource": {"type": "Host", "id": "a"}}]})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "/x",
          "action": "a", "resource": {"type": "Repo", "id": "{owner}/x"}}]})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "/x",
          "action": "a", "resource": {"type": "Host", "id": "a"}, "git": "yes"}]})",
      R"({"hosts": ["a.example"], "routes": [], "extra": 1})",
      R"({"hosts": ["a.example", "A.example"], "routes": []})",
      R"({"hosts": ["a.example"], "routes": [{"method": "GET", "path": "/x",
          "action": "a", "resource": {"type": "Host", "id": "a"},
          "context": {"k": "body:x"}}]})",
  };
  for (const char* text : bad) {
    auto t = RouteTable::Parse(text, "bad.json");
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().code, "invalid_routes");
    EXPECT_EQ(t.error().message.rfind("bad.json", 0), 0u) << t.error().message;
  }
}

}  // namespace
}  // namespace tether::proxy
