#include "core/json.h"

#include <gtest/gtest.h>

#include <string>

namespace tether {
namespace {

TEST(ParseJson, AcceptsOneDocument) {
  auto v = ParseJson(R"( {"a": [1, "x", true, null]} )");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->at("a").as_array().size(), 4u);
}

TEST(ParseJson, RejectsDuplicateKeys) {
  auto v = ParseJson(R"({"a": 1, "b": {"c": 1, "c": 2}})");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "invalid_json");
  EXPECT_NE(v.error().message.find("duplicate key `c`"), std::string::npos);
}

TEST(ParseJson, SameKeyInSiblingObjectsIsFine) {
  EXPECT_TRUE(ParseJson(R"([{"a": 1}, {"a": 2}])").ok());
}

TEST(ParseJson, ReportsLineAndColumn) {
  LineCol where;
  auto v = ParseJson("{\n  \"a\": 1,\n  oops\n}", {}, &where);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(where.line, 3u);
  EXPECT_EQ(where.column, 3u);
}

TEST(ParseJson, RejectsTrailingData) {
  EXPECT_FALSE(ParseJson("{} {}").ok());
  EXPECT_FALSE(ParseJson("").ok());
}

TEST(ParseJson, BoundsDepth) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_FALSE(ParseJson(deep).ok());
  JsonLimits limits;
  limits.max_depth = 300;
  EXPECT_TRUE(ParseJson(deep, limits).ok());
}

TEST(ParseJson, BoundsSize) {
  JsonLimits limits;
  limits.max_bytes = 4;
  EXPECT_FALSE(ParseJson("[1,2,3]", limits).ok());
}

TEST(ParseJson, RejectsInvalidUtf8) {
  EXPECT_FALSE(ParseJson("\"\xff\"").ok());
}

}  // namespace
}  // namespace tether
