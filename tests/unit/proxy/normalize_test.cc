#include "proxy/normalize.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace tether::proxy {
namespace {

struct Case {
  const char* target;
  const char* path;   // nullptr: rejected
  const char* query;  // or the message fragment when rejected
};

std::string Joined(const NormalizedTarget& t) {
  return t.query.empty() ? t.path : t.path + "?" + t.query;
}

TEST(NormalizeTargetTest, Table) {
  const Case cases[] = {
      // Dot segments, also percent-encoded, and runs of slashes.
      {"/", "/", ""},
      {"/repos/o/r/../../x", "/repos/x", ""},
      {"/a/%2e%2e/b", "/b", ""},
      {"/a/%2E%2E/b", "/b", ""},
      {"/a/.%2e/b", "/b", ""},
      {"/a/%2e/b", "/a/b", ""},
      {"//a///b/", "/a/b/", ""},
      {"/./a/./b/.", "/a/b/", ""},
      {"/a/b/..", "/a/", ""},
      {"/a/..", "/", ""},
      {"/a/b/../", "/a/", ""},
      {"/a/...", "/a/...", ""},
      {"/a/..b/.c", "/a/..b/.c", ""},
      {"/a//../b", "/b", ""},
      {"/a/./../b", "/b", ""},
      // Escapes: unreserved decoded, others upper-cased.
      {"/%7Euser", "/~user", ""},
      {"/%41", "/A", ""},
      {"/%61%2D%5f%2e%7e", "/a-_.~", ""},
      {"/a%3ab", "/a%3Ab", ""},
      {"/a%20b", "/a%20b", ""},
      {"/a%25b", "/a%25b", ""},
      {"/a%252Fb", "/a%252Fb", ""},
      {"/%c3%a9", "/%C3%A9", ""},
      {"/a%3F/b", "/a%3F/b", ""},
      {"/a%23b", "/a%23b", ""},
      // Characters that may not be raw are encoded; the allowed ones kept.
      {"/a|b", "/a%7Cb", ""},
      {"/a b", "/a%20b", ""},
      {"/{x}[y]^`\"<>", "/%7Bx%7D%5By%5D%5E%60%22%3C%3E", ""},
      {"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", ""},
      {"/a;b/c", "/a;b/c", ""},
      // Query: same escape rules; an encoded slash or backslash is data.
      {"/a?b=%2f", "/a", "b=%2F"},
      {"/a?b=%5c", "/a", "b=%5C"},
      {"/a?q=%7e%41&r=%3d", "/a", "q=~A&r=%3D"},
      {"/a?x=/../y?z", "/a", "x=/../y?z"},
      {"/a?q=a b|c", "/a", "q=a%20b%7Cc"},
      {"/a?", "/a", ""},
      {"/a/../b?", "/b", ""},
      {"/?x", "/", "x"},
      // Rejected.
      {"/a%2fb", nullptr, "encoded slash"},
      {"/a%2Fb", nullptr, "encoded slash"},
      {"/a%5cb", nullptr, "encoded backslash"},
      {"/a%5Cb", nullptr, "encoded backslash"},
      {"/a\\b", nullptr, "backslash"},
      {"/a?b\\c", nullptr, "backslash"},
      {"/a#f", nullptr, "fragment"},
      {"/a?b#f", nullptr, "fragment"},
      {"/a%00b", nullptr, "NUL"},
      {"/a?b=%00", nullptr, "NUL"},
      {"/a%0a", nullptr, "control character"},
      {"/a?b=%0D%0A", nullptr, "control character"},
      {"/a%7f", nullptr, "control character"},
      {"/a\tb", nullptr, "control character"},
      {"/a\x7f", nullptr, "control character"},
      {"/a?\x01", nullptr, "control character"},
      {"/a%", nullptr, "malformed percent escape"},
      {"/a%4", nullptr, "malformed percent escape"},
      {"/a%zz", nullptr, "malformed percent escape"},
      {"/a?b=%g1", nullptr, "malformed percent escape"},
      {"/a%%41", nullptr, "malformed percent escape"},
      {"/caf\xc3\xa9", nullptr, "non-ASCII"},
      {"/a?q=\xff", nullptr, "non-ASCII"},
      {"/..", nullptr, "climbs above the root"},
      {"/a/../..", nullptr, "climbs above the root"},
      {"/%2e%2e/etc", nullptr, "climbs above the root"},
      {"/a/../../b", nullptr, "climbs above the root"},
      {"/a/..;/b", nullptr, "dot segment with parameters"},
      {"/a/.;x/b", nullptr, "dot segment with parameters"},
      {"/a/%2e%2e;/b", nullptr, "dot segment with parameters"},
      {"", nullptr, "origin form"},
      {"a/b", nullptr, "origin form"},
      {"*", nullptr, "origin form"},
      {"http://example.com/a", nullptr, "origin form"},
      {"?a", nullptr, "origin form"},
  };
  for (const Case& c : cases) {
    auto r = NormalizeTarget(c.target);
    if (c.path == nullptr) {
      ASSERT_FALSE(r.ok()) << c.target << " -> " << Joined(*r);
      EXPECT_EQ(r.error().code, "invalid_target") << c.target;
      EXPECT_NE(r.error().message.find(c.query), std::string::npos)
          << c.target << ": " << r.error().message;
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.target << ": " << r.error().message;
    EXPECT_EQ(r->path, c.path) << c.target;
    EXPECT_EQ(r->query, c.query) << c.target;
  }
}

TEST(NormalizeTargetTest, RawNulIsRejected) {
  auto r = NormalizeTarget(std::string("/a\0b", 4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "NUL in request target");
  EXPECT_FALSE(NormalizeTarget(std::string("/a?\0", 4)).ok());
}

TEST(NormalizeTargetTest, NormalizedTargetNormalizesToItself) {
  for (const char* target : {"/repos/o/r/../../x", "/a/%2e%2e/b", "//a///b/",
                             "/%7Euser", "/%41", "/a?b=%2f", "/", "/./a/./b/.",
                             "/a|b?c d", "/%c3%a9?%e2%82%ac", "/a%252Fb"}) {
    auto once = NormalizeTarget(target);
    ASSERT_TRUE(once.ok()) << target;
    auto twice = NormalizeTarget(Joined(*once));
    ASSERT_TRUE(twice.ok()) << target;
    EXPECT_EQ(twice->path, once->path) << target;
    EXPECT_EQ(twice->query, once->query) << target;
  }
}

TEST(NormalizeTargetTest, SizeLimitHoldsBeforeAndAfter) {
  EXPECT_TRUE(NormalizeTarget("/" + std::string(kMaxTarget - 1, 'a')).ok());
  auto r = NormalizeTarget("/" + std::string(kMaxTarget, 'a'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "request target longer than 8 KiB");
  // Within the limit when sent, over it once encoded: still refused, so that
  // a normalized target is always a valid input.
  r = NormalizeTarget("/" + std::string(3000, '|'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "request target longer than 8 KiB");
  EXPECT_TRUE(NormalizeTarget("/" + std::string(2000, '|')).ok());
}

// Random targets over an alphabet rich in the characters that matter.
TEST(NormalizeTargetTest, PropertiesHoldForRandomTargets) {
  const std::vector<std::string> pieces = {
      "/",    "//",  ".",  "..",  "%2e", "%2E", "%2f", "%5c", "%41",
      "%7e",  "%",   "%3", "%3b", ";",   "a",   "b",   "~",   "?",
      "#",    "&",   "=",  "|",   " ",   "%00", "%25", "\\",  "\t",
      "\xc3", "%c3", "+",  ":",   "@",   "-",   "_",   "%2F"};
  std::mt19937 rng(20240611);
  int accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string target = "/";
    int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int k = 0; k < n; ++k) {
      target += pieces[std::uniform_int_distribution<std::size_t>(
          0, pieces.size() - 1)(rng)];
    }
    auto r = NormalizeTarget(target);
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "invalid_target");
      continue;
    }
    ++accepted;
    const std::string& path = r->path;
    ASSERT_FALSE(path.empty()) << target;
    EXPECT_EQ(path[0], '/') << target;
    for (const char* bad : {"//", "/./", "/../", "%2F", "%5C", "?", "#"}) {
      EXPECT_EQ(path.find(bad), std::string::npos) << target << " -> " << path;
    }
    EXPECT_FALSE(path.ends_with("/.") || path.ends_with("/..")) << target;
    EXPECT_EQ(r->query.find('#'), std::string::npos) << target;
    // No lower-case hex in escapes, and no escaped unreserved character.
    const std::string joined = Joined(*r);
    for (std::size_t at = joined.find('%'); at != std::string::npos;
         at = joined.find('%', at + 1)) {
      ASSERT_LE(at + 2, joined.size() - 1) << joined;
      std::string hex = joined.substr(at + 1, 2);
      EXPECT_EQ(hex.find_first_not_of("0123456789ABCDEF"), std::string::npos)
          << joined;
      char c = static_cast<char>(std::stoi(hex, nullptr, 16));
      EXPECT_FALSE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                   c == '.' || c == '_' || c == '~')
          << joined;
    }
    auto again = NormalizeTarget(joined);
    ASSERT_TRUE(again.ok()) << target << " -> " << joined;
    EXPECT_EQ(again->path, r->path) << target;
    EXPECT_EQ(again->query, r->query) << target;
  }
  // The generator must reach the accepting paths, or the test proves little.
  EXPECT_GT(accepted, 5000);
}

}  // namespace
}  // namespace tether::proxy
