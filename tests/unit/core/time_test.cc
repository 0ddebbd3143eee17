#include "core/time.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(TimeTest, FormatsUtcWithMillisecondsWhenPresent) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1795740000000), "2026-11-27T00:40:00Z");
  EXPECT_EQ(FormatRfc3339(1795740000123), "2026-11-27T00:40:00.123Z");
}

TEST(TimeTest, ParsesRfc3339AndUnixSeconds) {
  EXPECT_EQ(*ParseTimeMs("2026-11-27T00:40:00Z"), 1795740000000);
  EXPECT_EQ(*ParseTimeMs("2026-11-27T00:40:00.5Z"), 1795740000500);
  EXPECT_EQ(*ParseTimeMs("2026-11-27T01:40:00+01:00"), 1795740000000);
  EXPECT_EQ(*ParseTimeMs("2026-11-26T23:40:00-01:00"), 1795740000000);
  EXPECT_EQ(*ParseTimeMs("1795740000"), 1795740000000);
  EXPECT_EQ(*ParseTimeMs(FormatRfc3339(1795740000123)), 1795740000123);
}

TEST(TimeTest, ParsesDurationsBeforeNow) {
  std::int64_t before = NowMs();
  std::int64_t t = *ParseTimeMs("2h");
  EXPECT_GE(t, before - 7'200'000);
  EXPECT_LE(t, NowMs() - 7'200'000);
  EXPECT_LE(*ParseTimeMs("30s"), NowMs() - 30'000);
  EXPECT_LE(*ParseTimeMs("7d"), NowMs() - 7 * 86'400'000LL);
  for (const char* bad : {"h", "2w", "-2h", "1.5h", "99999999999h"}) {
    EXPECT_FALSE(ParseTimeMs(bad)) << bad;
  }
}

TEST(TimeTest, RefusesEverythingElse) {
  for (const char* bad :
       {"", "yesterday", "2026-11-27", "2026-11-27 00:40:00Z",
        "2026-13-01T00:00:00Z", "2026-11-27T25:00:00Z", "2026-11-27T00:40:00",
        "2026-11-27T00:40:00.Z", "2026-11-27T00:40:00+0100",
        "2026-11-27T00:40:00Zjunk", "-5", "99999999999999"}) {
    EXPECT_FALSE(ParseTimeMs(bad)) << bad;
  }
}

}  // namespace
}  // namespace tether
