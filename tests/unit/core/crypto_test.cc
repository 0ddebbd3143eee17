#include "core/crypto.h"

#include <gtest/gtest.h>

#include "core/canonical_json.h"
#include "core/json.h"

namespace tether {
namespace {

TEST(Crypto, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Hasher h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.Final(), Sha256("abc"));
  h.Update("abc");  // reusable after Final
  EXPECT_EQ(h.Final(), Sha256("abc"));
}

TEST(Crypto, HmacKnownAnswer) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, Ed25519SignVerifyAndPemRoundTrip) {
  auto key = Ed25519Key::Generate();
  ASSERT_TRUE(key.ok());
  std::string sig = key->Sign("message");
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(Ed25519Verify(key->PublicKey(), "message", sig));
  EXPECT_FALSE(Ed25519Verify(key->PublicKey(), "messagE", sig));
  sig[0] ^= 1;
  EXPECT_FALSE(Ed25519Verify(key->PublicKey(), "message", sig));
  auto again = Ed25519Key::FromPrivatePem(key->PrivatePem());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->PublicKey(), key->PublicKey());
  EXPECT_FALSE(Ed25519Key::FromPrivatePem("not a key").ok());
  EXPECT_FALSE(Ed25519Verify("short", "m", std::string(64, 'x')));
}

TEST(Crypto, HexAndBase64Url) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexDecode("0").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(*Base64UrlDecode(""), "");
  EXPECT_FALSE(Base64UrlDecode("-_9").ok());    // non-canonical trailing bits
  EXPECT_FALSE(Base64UrlDecode("ab==").ok());   // padding
  EXPECT_FALSE(Base64UrlDecode("a+b/").ok());   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("abcde").ok());  // impossible length
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(s)), s);
  }
}

TEST(Crypto, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_EQ(RandomBytes(32).size(), 32u);
  EXPECT_NE(RandomBytes(16), RandomBytes(16));
}

TEST(CanonicalJson, Rfc8785Rules) {
  auto canon = [](const char* text) {
    return *CanonicalJson(*ParseJson(text));
  };
  EXPECT_EQ(canon(R"({"b": 1, "a": [true, null, "x"], "A": {}})"),
            R"({"A":{},"a":[true,null,"x"],"b":1})");
  // Sorted by UTF-16 code units: U+E000 sorts before U+1F600 (a surrogate
  // pair D83D...), although its code point is smaller too; U+FB33 > D83D.
  EXPECT_EQ(canon("{\"\xef\xac\xb3\": 1, \"\xf0\x9f\x98\x80\": 2}"),
            "{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":1}");
  EXPECT_EQ(canon(R"(["\u0001\n\"\\/é"])"), "[\"\\u0001\\n\\\"\\\\/é\"]");
  EXPECT_EQ(canon("[1e21, 1e-7, 0.1, 123.0, -0.0, 1.5e300]"),
            "[1e+21,1e-7,0.1,123,0,1.5e+300]");
  EXPECT_EQ(canon("[9223372036854775807, -5]"), "[9223372036854775807,-5]");
}

}  // namespace
}  // namespace tether
