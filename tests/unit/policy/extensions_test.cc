#include "policy/extensions.h"

#include <gtest/gtest.h>

namespace tether::policy {
namespace {

TEST(ParseIp, AcceptsCedarForms) {
  for (const char* ok :
       {"10.0.0.1", "0.0.0.0/0", "255.255.255.255/32", "::", "::1", "::/0",
        "fe80::1", "2001:db8::/32", "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "FFFF::1/128"}) {
    EXPECT_TRUE(ParseIp(ok).has_value()) << ok;
  }
}

TEST(ParseIp, RejectsWhatCedarRejects) {
  for (const char* bad :
       {"",          "1.2.3",        "1.2.3.4.5",        "010.0.0.1",
        "10.0.0.01", "256.0.0.1",    "10.0.0.1/33",      "10.0.0.1/08",
        "10.0.0.1/", "10.0.0.1/+8",  "::1/129",          "::ffff:1.2.3.4",
        "::1.2.3.4", "fe80::1%eth0", "1:2:3:4::5:6:7:8", "1::2::3",
        ":1::",      "1:::2",        "12345::",          " ::1",
        "[::1]",     "1.2.3.4:80",   "10.0.0.1/8/8"}) {
    EXPECT_FALSE(ParseIp(bad).has_value()) << bad;
  }
}

TEST(ParseIp, AddressWithoutPrefixIsOneHost) {
  EXPECT_EQ(ParseIp("10.0.0.1")->prefix, 32);
  EXPECT_EQ(ParseIp("::1")->prefix, 128);
}

TEST(IpOps, LoopbackAndMulticastNeedTheWholeRange) {
  EXPECT_TRUE(IpIsLoopback(*ParseIp("127.0.0.1")));
  EXPECT_TRUE(IpIsLoopback(*ParseIp("127.0.0.0/8")));
  EXPECT_FALSE(IpIsLoopback(*ParseIp("127.0.0.1/7")));
  EXPECT_TRUE(IpIsLoopback(*ParseIp("::1")));
  EXPECT_FALSE(IpIsLoopback(*ParseIp("::1/127")));
  EXPECT_TRUE(IpIsMulticast(*ParseIp("224.0.0.1")));
  EXPECT_FALSE(IpIsMulticast(*ParseIp("224.0.0.0/3")));
  EXPECT_TRUE(IpIsMulticast(*ParseIp("ff02::1")));
}

TEST(IpOps, InRangeComparesWholeRangesOfOneFamily) {
  EXPECT_TRUE(IpIsInRange(*ParseIp("10.1.0.0/16"), *ParseIp("10.0.0.0/8")));
  EXPECT_TRUE(IpIsInRange(*ParseIp("10.0.0.0/24"), *ParseIp("10.0.0.1/24")));
  EXPECT_FALSE(IpIsInRange(*ParseIp("10.0.0.0/8"), *ParseIp("10.0.0.1")));
  EXPECT_FALSE(IpIsInRange(*ParseIp("10.0.0.1"), *ParseIp("::/0")));
  EXPECT_TRUE(IpIsInRange(*ParseIp("2001:db8::1"), *ParseIp("2001:db8::/32")));
}

TEST(ParseDecimal, ScalesByTenThousand) {
  EXPECT_EQ(ParseDecimal("1.0"), 10000);
  EXPECT_EQ(ParseDecimal("-0.5"), -5000);
  EXPECT_EQ(ParseDecimal("0012.3456"), 123456);
  EXPECT_EQ(ParseDecimal("922337203685477.5807"), INT64_MAX);
  EXPECT_EQ(ParseDecimal("-922337203685477.5808"), INT64_MIN);
}

TEST(ParseDecimal, RejectsBadSyntaxAndOverflow) {
  for (const char* bad :
       {"1", "1.", ".5", "+1.0", "--1.0", "1.23456", "1e3", " 1.0",
        "922337203685477.5808", "-922337203685477.5809",
        "99999999999999999999.0", "١.٠"}) {
    EXPECT_FALSE(ParseDecimal(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace tether::policy
