#include "policy/entities.h"

#include <gtest/gtest.h>

#include <string>

namespace tether::policy {
namespace {

std::string LoadError(const char* json) {
  auto store = EntityStore::FromJsonText(json);
  return store.ok() ? "" : store.error().message;
}

TEST(Entities, ComputesTransitiveAncestors) {
  auto store = EntityStore::FromJsonText(R"([
    {"uid": {"type": "User", "id": "a"}, "attrs": {},
     "parents": [{"type": "Group", "id": "g1"}]},
    {"uid": {"__entity": {"type": "Group", "id": "g1"}}, "attrs": {},
     "parents": [{"type": "Group", "id": "g2"}, {"type": "Group", "id": "ext"}]},
    {"uid": {"type": "Group", "id": "g2"}, "attrs": {}, "parents": []}
  ])");
  ASSERT_TRUE(store.ok()) << store.error().message;
  Arena arena;
  const Entity* a = (*store)->Find(*MakeUid(arena, "User", "a"));
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(EntityStore::HasAncestor(*a, *MakeUid(arena, "Group", "g2")));
  EXPECT_TRUE(EntityStore::HasAncestor(*a, *MakeUid(arena, "Group", "ext")));
  EXPECT_FALSE(EntityStore::HasAncestor(*a, *MakeUid(arena, "User", "a")));
}

TEST(Entities, RejectsCycles) {
  EXPECT_NE(LoadError(R"([
    {"uid": {"type": "G", "id": "a"}, "attrs": {}, "parents": [{"type": "G", "id": "b"}]},
    {"uid": {"type": "G", "id": "b"}, "attrs": {}, "parents": [{"type": "G", "id": "a"}]}
  ])")
                .find("cycle"),
            std::string::npos);
  EXPECT_NE(LoadError(R"([{"uid": {"type": "G", "id": "a"}, "attrs": {},
                           "parents": [{"type": "G", "id": "a"}]}])")
                .find("cycle"),
            std::string::npos);
}

TEST(Entities, DuplicatesMustBeIdentical) {
  EXPECT_EQ(LoadError(R"([
    {"uid": {"type": "U", "id": "a"}, "attrs": {"x": 1}, "parents": []},
    {"uid": {"type": "U", "id": "a"}, "attrs": {"x": 1}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([
    {"uid": {"type": "U", "id": "a"}, "attrs": {"x": 1}, "parents": []},
    {"uid": {"type": "U", "id": "a"}, "attrs": {"x": 2}, "parents": []}])")
                .find("duplicate entity"),
            std::string::npos);
}

TEST(Entities, ActionsHaveOnlyActionParents) {
  EXPECT_NE(LoadError(R"([{"uid": {"type": "Action", "id": "a"}, "attrs": {},
                           "parents": [{"type": "Group", "id": "g"}]}])")
                .find("non-action parent"),
            std::string::npos);
  EXPECT_EQ(LoadError(R"([{"uid": {"type": "NS::Action", "id": "a"},
     "attrs": {}, "parents": [{"type": "Action", "id": "g"}]}])"),
            "");
}

TEST(Entities, RequiredFieldsAndValueRules) {
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"}, "parents": []}])")
                .find("missing field `attrs`"),
            std::string::npos);
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"}, "attrs": {}}])")
                .find("missing field `parents`"),
            std::string::npos);
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"},
                           "attrs": {"x": 1.5}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"},
                           "attrs": {"x": null}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"},
                           "attrs": {"x": 9223372036854775808}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([{"uid": {"type": "if", "id": "a"}, "attrs": {},
                           "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"},
      "attrs": {"x": {"__extn": {"fn": "ip", "arg": "1.2.3"}}}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"([{"uid": {"type": "U", "id": "a"},
      "attrs": {"x": {"__expr": "1 + 1"}}, "parents": []}])"),
            "");
  EXPECT_NE(LoadError(R"({"not": "an array"})"), "");
  // Extra members are ignored and malformed escapes are plain records.
  EXPECT_EQ(LoadError(R"([{"uid": {"type": "U", "id": "a", "x": 1},
      "attrs": {"r": {"__entity": {"type": "U"}}}, "parents": [], "note": 1}])"),
            "");
}

}  // namespace
}  // namespace tether::policy
