#include "token/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <boost/json.hpp>

#include "core/canonical_json.h"

namespace tether::token {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1'800'000'000;

// An external issuer's key pair (RSA or P-256), made with OpenSSL, signing
// tokens the way other JWT libraries do.
class ExternalKey {
 public:
  static ExternalKey Rsa(int bits = 2048) {
    return ExternalKey(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)),
        Alg::kRS256);
  }
  static ExternalKey P256() {
    return ExternalKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                       Alg::kES256);
  }
  ~ExternalKey() { EVP_PKEY_free(pkey_); }
  ExternalKey(ExternalKey&& o) noexcept : pkey_(o.pkey_), alg_(o.alg_) {
    o.pkey_ = nullptr;
  }

  json::object Jwk(const std::string& kid) const {
    if (alg_ == Alg::kRS256) {
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_RSA_E, &e);
      json::object o{
          {"kty", "RSA"}, {"kid", kid}, {"n", B64(n)}, {"e", B64(e)}};
      BN_free(n);
      BN_free(e);
      return o;
    }
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    json::object o{{"kty", "EC"},
                   {"crv", "P-256"},
                   {"kid", kid},
                   {"x", B64(x, 32)},
                   {"y", B64(y, 32)}};
    BN_free(x);
    BN_free(y);
    return o;
  }

  std::string Sign(const json::object& header, const json::object& claims,
                   bool der_signature = false) const {
    std::string input = Base64UrlEncode(json::serialize(header)) + "." +
                        Base64UrlEncode(json::serialize(claims));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_);
    std::size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len,
                   reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg_ == Alg::kES256 && !der_signature) {
      const unsigned char* p =
          reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      std::string raw(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(es),
                   reinterpret_cast<unsigned char*>(raw.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es),
                   reinterpret_cast<unsigned char*>(raw.data() + 32), 32);
      ECDSA_SIG_free(es);
      sig = raw;
    }
    return input + "." + Base64UrlEncode(sig);
  }

 private:
  ExternalKey(EVP_PKEY* pkey, Alg alg) : pkey_(pkey), alg_(alg) {}
  static std::string B64(const BIGNUM* n, int len = 0) {
    int size = std::max(len, BN_num_bytes(n));
    std::string out(static_cast<std::size_t>(size), '\0');
    BN_bn2binpad(n, reinterpret_cast<unsigned char*>(out.data()), size);
    return Base64UrlEncode(out);
  }
  EVP_PKEY* pkey_;
  Alg alg_;
};

json::object Claims(std::int64_t exp = kNow + 600) {
  return json::object{{"iss", "https://tether.example"},
                      {"aud", "https://tether.example"},
                      {"sub", "agent-1"},
                      {"tid", "t1"},
                      {"jti", "j1"},
                      {"iat", kNow},
                      {"nbf", kNow},
                      {"exp", exp}};
}

VerifyPolicy Policy(std::string type = "tether-task+jwt") {
  VerifyPolicy p;
  p.issuer = "https://tether.example";
  p.audience = "https://tether.example";
  p.type = std::move(type);
  p.now = kNow;
  return p;
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_.emplace(*Ed25519Key::Generate());
    ASSERT_TRUE(keys_.Add(*Ed25519VerifyKey("k1", key_->PublicKey())).ok());
  }
  std::string Sign(const json::object& claims,
                   std::string_view type = "tether-task+jwt") {
    return *SignJwt(claims, *key_, "k1", type);
  }
  // A token with this header and claims, signed by k1 over exactly the
  // given encodings.
  std::string Forge(const std::string& header_json,
                    const std::string& claims_json) {
    std::string input =
        Base64UrlEncode(header_json) + "." + Base64UrlEncode(claims_json);
    return input + "." + Base64UrlEncode(key_->Sign(input));
  }
  std::string Reason(std::string_view token, VerifyPolicy p = Policy()) {
    auto r = VerifyJwt(token, keys_, p);
    return r.ok() ? "ok" : r.error().message;
  }
  std::optional<Ed25519Key> key_;
  KeySet keys_;
};

TEST_F(JwtTest, AcceptsAGoodTaskToken) {
  auto r = VerifyJwt(Sign(Claims()), keys_, Policy());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sub, "agent-1");
  EXPECT_EQ(r->jti, "j1");
  EXPECT_EQ(r->claims.at("tid"), "t1");
}

TEST_F(JwtTest, RejectsAlgNone) {
  std::string input =
      Base64UrlEncode(R"({"alg":"none","kid":"k1","typ":"tether-task+jwt"})") +
      "." + Base64UrlEncode(json::serialize(Claims()));
  EXPECT_EQ(Reason(input + "."), "unsigned tokens (alg none) are not accepted");
}

TEST_F(JwtTest, RejectsAlgorithmConfusion) {
  // HS256 with the public key as the HMAC secret: the classic confusion.
  std::string input =
      Base64UrlEncode(R"({"alg":"HS256","kid":"k1","typ":"tether-task+jwt"})") +
      "." + Base64UrlEncode(json::serialize(Claims()));
  auto mac = HmacSha256(key_->PublicKey(), input);
  std::string token =
      input + "." +
      Base64UrlEncode(std::string(reinterpret_cast<char*>(mac.data()), 32));
  EXPECT_EQ(Reason(token), "the token's algorithm does not match its key's");
  EXPECT_EQ(
      Reason(Forge(R"({"alg":"RS256","kid":"k1","typ":"tether-task+jwt"})",
                   json::serialize(Claims()))),
      "the token's algorithm does not match its key's");
}

TEST_F(JwtTest, RejectsUnknownKidsAndKeyHeaders) {
  EXPECT_EQ(Reason(*SignJwt(Claims(), *key_, "other", "tether-task+jwt")),
            "unknown key id");
  for (const char* member : {"jku", "x5u", "jwk", "x5c", "crit"}) {
    std::string header =
        std::string(R"({"alg":"EdDSA","kid":"k1","typ":"tether-task+jwt",")") +
        member + R"(":"x"})";
    EXPECT_NE(Reason(Forge(header, json::serialize(Claims()))).find(member),
              std::string::npos)
        << member;
  }
}

TEST_F(JwtTest, RejectsDuplicateMembers) {
  EXPECT_NE(
      Reason(
          Forge(
              R"({"alg":"EdDSA","kid":"k1","kid":"k1","typ":"tether-task+jwt"})",
              json::serialize(Claims())))
          .find("duplicate"),
      std::string::npos);
  std::string claims = json::serialize(Claims());
  claims.insert(1, R"("sub":"admin",)");  // a second `sub`
  EXPECT_NE(
      Reason(Forge(R"({"alg":"EdDSA","kid":"k1","typ":"tether-task+jwt"})",
                   claims))
          .find("duplicate"),
      std::string::npos);
}

TEST_F(JwtTest, RejectsNonCanonicalEncodings) {
  std::string token = Sign(Claims());
  EXPECT_NE(Reason(token + "="), "ok");  // padding
  EXPECT_NE(Reason(token.substr(0, token.size() - 1) + "/"), "ok");
  std::string tampered = token;
  tampered[tampered.size() - 1] = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_NE(Reason(tampered), "ok");
  EXPECT_NE(Reason("a.b"), "ok");
  EXPECT_NE(Reason("a.b.c.d"), "ok");
  EXPECT_NE(Reason(""), "ok");
}

TEST_F(JwtTest, RejectsOversizedTokens) {
  json::object claims = Claims();
  claims["pad"] = std::string(20'000, 'x');
  EXPECT_EQ(Reason(Sign(claims)), "the token exceeds 16384 bytes");
}

TEST_F(JwtTest, ChecksTheClock) {
  EXPECT_EQ(Reason(Sign(Claims(kNow - 31))), "the token has expired");
  EXPECT_EQ(Reason(Sign(Claims(kNow - 10))), "ok");  // within the leeway
  json::object no_exp = Claims();
  no_exp.erase("exp");
  EXPECT_EQ(Reason(Sign(no_exp)), "the `exp` claim is missing");
  json::object future = Claims();
  future["nbf"] = kNow + 120;
  EXPECT_EQ(Reason(Sign(future)), "the token is not valid yet (nbf)");
  json::object issued = Claims();
  issued["iat"] = kNow + 120;
  EXPECT_EQ(Reason(Sign(issued)), "the token was issued in the future (iat)");
  json::object fractional = Claims();
  fractional["exp"] = kNow + 600.5;
  EXPECT_EQ(Reason(Sign(fractional)), "the `exp` claim is not an integer date");
}

TEST_F(JwtTest, ChecksIssuerAudienceAndType) {
  json::object other_iss = Claims();
  other_iss["iss"] = "https://evil.example";
  EXPECT_EQ(Reason(Sign(other_iss)), "the token is from another issuer");
  json::object no_aud = Claims();
  no_aud.erase("aud");
  EXPECT_EQ(Reason(Sign(no_aud)), "the token has no audience");
  json::object other_aud = Claims();
  other_aud["aud"] = json::array{"https://a.example", "https://b.example"};
  EXPECT_EQ(Reason(Sign(other_aud)), "the token is for another audience");
  json::object list_aud = Claims();
  list_aud["aud"] = json::array{"x", "https://tether.example"};
  EXPECT_EQ(Reason(Sign(list_aud)), "ok");
  // A token of one type presented as another.
  EXPECT_EQ(Reason(Sign(Claims(), "tether-operator+jwt")),
            "the token is not of the expected type");
  EXPECT_EQ(Reason(Sign(Claims(), "application/tether-task+JWT")), "ok");
}

TEST(Jwks, ExternalRsaAndEcKeys) {
  ExternalKey rsa = ExternalKey::Rsa();
  ExternalKey ec = ExternalKey::P256();
  json::object jwks{{"keys", json::array{rsa.Jwk("r1"), ec.Jwk("e1")}}};
  auto set = KeySet::FromJwks(json::serialize(jwks));
  ASSERT_TRUE(set.ok()) << set.error().message;
  VerifyPolicy p = Policy("");
  auto r1 =
      VerifyJwt(rsa.Sign({{"alg", "RS256"}, {"kid", "r1"}}, Claims()), *set, p);
  EXPECT_TRUE(r1.ok()) << r1.error().message;
  auto e1 = VerifyJwt(
      ec.Sign({{"alg", "ES256"}, {"kid", "e1"}, {"typ", "JWT"}}, Claims()),
      *set, p);
  EXPECT_TRUE(e1.ok()) << e1.error().message;
  // DER-encoded ECDSA signatures are not JWS signatures.
  EXPECT_FALSE(VerifyJwt(ec.Sign({{"alg", "ES256"}, {"kid", "e1"}}, Claims(),
                                 /*der_signature=*/true),
                         *set, p)
                   .ok());
  // One key, one algorithm: an RSA key cannot verify an ES256 token.
  EXPECT_FALSE(
      VerifyJwt(rsa.Sign({{"alg", "ES256"}, {"kid", "r1"}}, Claims()), *set, p)
          .ok());
  // Round trip of the public set.
  auto again = KeySet::FromJwks(set->ToJwks());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->size(), 2u);
}

TEST(Jwks, RejectsUnsafeKeySets) {
  ExternalKey weak = ExternalKey::Rsa(1024);
  auto r = KeySet::FromJwks(
      json::serialize(json::object{{"keys", json::array{weak.Jwk("w")}}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("2048"), std::string::npos);
  ExternalKey ec = ExternalKey::P256();
  json::object bad_point = ec.Jwk("e");
  bad_point["y"] = Base64UrlEncode(std::string(32, '\x01'));
  EXPECT_FALSE(KeySet::FromJwks(json::serialize(json::object{
                                    {"keys", json::array{bad_point}}}))
                   .ok());
  json::object private_member = ec.Jwk("e");
  private_member["d"] = "AAAA";
  EXPECT_FALSE(KeySet::FromJwks(json::serialize(json::object{
                                    {"keys", json::array{private_member}}}))
                   .ok());
  json::object wrong_alg = ec.Jwk("e");
  wrong_alg["alg"] = "RS256";
  EXPECT_FALSE(KeySet::FromJwks(json::serialize(json::object{
                                    {"keys", json::array{wrong_alg}}}))
                   .ok());
  json::object no_kid = ec.Jwk("e");
  no_kid.erase("kid");
  EXPECT_FALSE(KeySet::FromJwks(
                   json::serialize(json::object{{"keys", json::array{no_kid}}}))
                   .ok());
  EXPECT_FALSE(
      KeySet::FromJwks(json::serialize(json::object{
                           {"keys", json::array{ec.Jwk("d"), ec.Jwk("d")}}}))
          .ok());
  EXPECT_FALSE(
      KeySet::FromJwks(R"({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]})")
          .ok());
  EXPECT_FALSE(KeySet::FromJwks("[]").ok());
}

}  // namespace
}  // namespace tether::token
