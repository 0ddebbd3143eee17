#include "core/entity_ids.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(EntityIdsTest, RepoIsLowerCasedWithoutDotGit) {
  EXPECT_EQ(*CanonicalRepo("Acme/API.git"), "acme/api");
  EXPECT_EQ(*CanonicalRepo("acme/api"), "acme/api");
  EXPECT_EQ(*CanonicalRepo("a-b_c/d.e"), "a-b_c/d.e");
}

TEST(EntityIdsTest, CanonicalRepoIsIdempotent) {
  for (const char* repo : {"Acme/API.git", "acme/api", "a.b/c.d"}) {
    std::string once = *CanonicalRepo(repo);
    EXPECT_EQ(*CanonicalRepo(once), once) << repo;
  }
}

TEST(EntityIdsTest, MalformedRepoIsRefused) {
  for (const char* bad :
       {"", "acme", "acme/", "/api", "acme/api/x", "../x", "acme/..",
        "acme/ap i", "acme/api?", "a\\b/c", "acme/api.git.git", "acme/.git"}) {
    EXPECT_FALSE(CanonicalRepo(bad)) << bad;
  }
  EXPECT_EQ(CanonicalRepo("acme").error().code, "invalid_request");
}

TEST(EntityIdsTest, HostIsLowerCasedWithoutTrailingDot) {
  EXPECT_EQ(*CanonicalHost("API.GitHub.com."), "api.github.com");
  EXPECT_EQ(*CanonicalHost("localhost"), "localhost");
  for (const char* bad :
       {"", ".", "a..b", "-a.com", "a-.com", "a b.com", "a/b", "a:443"}) {
    EXPECT_FALSE(CanonicalHost(bad)) << bad;
  }
  EXPECT_FALSE(CanonicalHost(std::string(300, 'a')));
}

TEST(EntityIdsTest, RefsAreAlwaysFull) {
  EXPECT_EQ(*CanonicalRef("main"), "refs/heads/main");
  EXPECT_EQ(*CanonicalRef("feature/x"), "refs/heads/feature/x");
  EXPECT_EQ(*CanonicalRef("refs/tags/v1.0"), "refs/tags/v1.0");
}

TEST(EntityIdsTest, RefsFollowCheckRefFormat) {
  for (const char* bad :
       {"refs/heads/a..b", "refs/heads/a/", "refs/heads/a.lock",
        "refs/heads/x.lock/y", "refs/heads/a@{1}", "refs/heads/a b",
        "refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?",
        "refs/heads/a*", "refs/heads/a[", "refs/heads/a\\b", "refs/heads//a",
        "refs/heads/.hidden", "refs/heads/a.", "refs/x", "refs/heads/@",
        "refs/heads/\x01"}) {
    EXPECT_FALSE(CanonicalRef(bad)) << bad;
  }
}

TEST(EntityIdsTest, RefTaskNamesTheNamespaceOwner) {
  const std::string id = "t0123456789abcdef01234567";
  EXPECT_TRUE(IsTaskId(id));
  EXPECT_EQ(RefTask("refs/heads/agent/" + id + "/fix"), id);
  EXPECT_EQ(RefTask("refs/heads/agent/" + id + "/a/b"), id);
  EXPECT_EQ(RefTask("refs/heads/agent/" + id), "");  // no branch in it
  EXPECT_EQ(RefTask("refs/heads/agent/" + id + "/"), "");
  EXPECT_EQ(RefTask("refs/heads/agent/not-a-task/fix"), "");
  EXPECT_EQ(RefTask("refs/tags/agent/" + id + "/fix"), "");
  EXPECT_EQ(RefTask("refs/heads/main"), "");
  EXPECT_FALSE(IsTaskId("t0123456789ABCDEF01234567"));
  EXPECT_FALSE(IsTaskId("x0123456789abcdef01234567"));
}

}  // namespace
}  // namespace tether
