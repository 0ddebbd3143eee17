#include "token/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "core/canonical_json.h"
#include "core/json.h"

namespace tether::token {
namespace {

// A public key of `type` ("RSA", "EC") from the parameters in `bld`, which
// it frees; null if OpenSSL refuses them.
EVP_PKEY* PublicKeyFrom(const char* type, OSSL_PARAM_BLD* bld) {
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

namespace json = boost::json;

Error Invalid(std::string message) {
  return MakeError("invalid_token", std::move(message));
}

void FreePkey(void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); }

std::shared_ptr<void> Own(EVP_PKEY* pkey) {
  return std::shared_ptr<void>(static_cast<void*>(pkey), FreePkey);
}

// Token JSON is small and flat: tight limits.
Result<json::object> ParseObject(std::string_view b64, const char* what) {
  auto raw = Base64UrlDecode(b64);
  if (!raw) {
    return Invalid(std::string(what) + " is not canonical base64url");
  }
  JsonLimits limits;
  limits.max_bytes = 16 * 1024;
  limits.max_depth = 16;
  auto v = ParseJson(*raw, limits);
  if (!v)
    return Invalid(std::string(what) + " is not valid json (" +
                   v.error().message + ")");
  if (!v->is_object()) return Invalid(std::string(what) + " is not an object");
  return std::move(v->get_object());
}

bool Verify(const VerifyKey& key, std::string_view signing_input,
            std::string_view sig) {
  auto* pkey = static_cast<EVP_PKEY*>(key.pkey.get());
  std::string der;
  const EVP_MD* md = nullptr;
  switch (key.alg) {
    case Alg::kEdDSA:
      if (sig.size() != 64) return false;
      break;
    case Alg::kRS256:
      md = EVP_sha256();
      break;
    case Alg::kES256: {
      // JWS carries r ‖ s (32 bytes each); OpenSSL wants DER.
      if (sig.size() != 64) return false;
      ECDSA_SIG* es = ECDSA_SIG_new();
      BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()),
                            32, nullptr);
      BIGNUM* s = BN_bin2bn(
          reinterpret_cast<const unsigned char*>(sig.data() + 32), 32, nullptr);
      ECDSA_SIG_set0(es, r, s);
      unsigned char* buf = nullptr;
      int len = i2d_ECDSA_SIG(es, &buf);
      ECDSA_SIG_free(es);
      if (len <= 0) return false;
      der.assign(reinterpret_cast<char*>(buf), static_cast<std::size_t>(len));
      OPENSSL_free(buf);
      sig = der;
      md = EVP_sha256();
      break;
    }
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, pkey) == 1 &&
      EVP_DigestVerify(
          ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
          reinterpret_cast<const unsigned char*>(signing_input.data()),
          signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

bool TypeMatches(std::string_view got, std::string_view want) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (out.rfind("application/", 0) == 0) out.erase(0, 12);
    return out;
  };
  return lower(got) == lower(want);
}

// A NumericDate: an integer (RFC 7519 allows fractions; tether issues and
// accepts integers only).
Result<std::int64_t> Date(const json::object& claims, const char* name,
                          bool required) {
  const json::value* v = claims.if_contains(name);
  if (!v) {
    if (required)
      return Invalid(std::string("the `") + name + "` claim is missing");
    return std::int64_t{0};
  }
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() &&
      v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->get_uint64());
  }
  return Invalid(std::string("the `") + name +
                 "` claim is not an integer date");
}

Result<VerifyKey> KeyFromJwk(const json::object& jwk, std::size_t index) {
  std::string where = "jwks key #" + std::to_string(index);
  auto str = [&](const char* name) -> std::string {
    const json::value* v = jwk.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : "";
  };
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
    if (jwk.contains(priv)) {
      return MakeError("invalid_jwks", where + " holds private key material");
    }
  }
  VerifyKey key;
  key.kid = str("kid");
  if (key.kid.empty())
    return MakeError("invalid_jwks", where + " has no `kid`");
  if (jwk.contains("use") && str("use") != "sig") {
    return MakeError("invalid_jwks", where + ": `use` must be \"sig\"");
  }
  std::string kty = str("kty");
  std::string alg = str("alg");
  EVP_PKEY* pkey = nullptr;
  if (kty == "OKP") {
    auto x = Base64UrlDecode(str("x"));
    if (str("crv") != "Ed25519" || !x || x->size() != 32) {
      return MakeError("invalid_jwks", where +
                                           ": OKP keys must be Ed25519 "
                                           "with a 32-byte `x`");
    }
    key.alg = Alg::kEdDSA;
    pkey = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr,
        reinterpret_cast<const unsigned char*>(x->data()), 32);
  } else if (kty == "RSA") {
    auto n = Base64UrlDecode(str("n"));
    auto e = Base64UrlDecode(str("e"));
    if (!n || !e || n->empty() || e->empty()) {
      return MakeError("invalid_jwks", where + ": RSA keys need `n` and `e`");
    }
    if (n->size() * 8 < 2048) {
      return MakeError("invalid_jwks", where +
                                           ": RSA keys must have at least "
                                           "2048 bits");
    }
    key.alg = Alg::kRS256;
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                             static_cast<int>(n->size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                             static_cast<int>(e->size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    pkey = PublicKeyFrom("RSA", bld);
    BN_free(bn_n);
    BN_free(bn_e);
  } else if (kty == "EC") {
    auto x = Base64UrlDecode(str("x"));
    auto y = Base64UrlDecode(str("y"));
    if (str("crv") != "P-256" || !x || !y || x->size() != 32 ||
        y->size() != 32) {
      return MakeError("invalid_jwks", where +
                                           ": EC keys must be P-256 with "
                                           "32-byte `x` and `y`");
    }
    key.alg = Alg::kES256;
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                    "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    pkey = PublicKeyFrom("EC", bld);
    if (pkey) {
      // The point must be on the curve.
      EVP_PKEY_CTX* check = EVP_PKEY_CTX_new(pkey, nullptr);
      bool on_curve = EVP_PKEY_public_check(check) == 1;
      EVP_PKEY_CTX_free(check);
      if (!on_curve) {
        EVP_PKEY_free(pkey);
        return MakeError("invalid_jwks", where +
                                             ": the EC point is not on "
                                             "P-256");
      }
    }
  } else {
    return MakeError("invalid_jwks", where + ": unsupported key type `" + kty +
                                         "` (OKP, RSA and EC are)");
  }
  if (!pkey) return MakeError("invalid_jwks", where + ": not a valid key");
  if (!alg.empty() && alg != AlgName(key.alg)) {
    EVP_PKEY_free(pkey);
    return MakeError("invalid_jwks", where + ": `alg` " + alg +
                                         " does not fit a " + kty + " key");
  }
  key.pkey = Own(pkey);
  key.jwk = json::serialize(jwk);
  return key;
}

}  // namespace

std::string_view AlgName(Alg alg) {
  switch (alg) {
    case Alg::kEdDSA:
      return "EdDSA";
    case Alg::kRS256:
      return "RS256";
    case Alg::kES256:
      return "ES256";
  }
  return "";
}

Result<VerifyKey> Ed25519VerifyKey(std::string kid,
                                   std::string_view public_key) {
  if (public_key.size() != 32) {
    return MakeError("invalid_key", "an ed25519 public key has 32 bytes");
  }
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()), 32);
  if (!pkey) return MakeError("invalid_key", "not an ed25519 public key");
  VerifyKey key;
  key.kid = std::move(kid);
  key.alg = Alg::kEdDSA;
  key.pkey = Own(pkey);
  key.jwk = json::serialize(json::object{{"kty", "OKP"},
                                         {"crv", "Ed25519"},
                                         {"alg", "EdDSA"},
                                         {"use", "sig"},
                                         {"kid", key.kid},
                                         {"x", Base64UrlEncode(public_key)}});
  return key;
}

Status KeySet::Add(VerifyKey key) {
  if (Find(key.kid)) {
    return MakeError("invalid_jwks", "duplicate key id `" + key.kid + "`");
  }
  keys_.push_back(std::move(key));
  return {};
}

const VerifyKey* KeySet::Find(std::string_view kid) const {
  for (const VerifyKey& k : keys_) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

Result<KeySet> KeySet::FromJwks(std::string_view text) {
  auto v = ParseJson(text);
  if (!v) return MakeError("invalid_jwks", v.error().message);
  const json::value* keys =
      v->is_object() ? v->get_object().if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) {
    return MakeError("invalid_jwks", "a jwk set is {\"keys\": [...]}");
  }
  KeySet set;
  std::size_t index = 0;
  for (const json::value& k : keys->get_array()) {
    if (!k.is_object()) {
      return MakeError("invalid_jwks", "jwks key #" + std::to_string(index) +
                                           " is not an object");
    }
    auto key = KeyFromJwk(k.get_object(), index++);
    if (!key) return key.error();
    if (Status s = set.Add(std::move(*key)); !s) return s.error();
  }
  return set;
}

std::string KeySet::ToJwks() const {
  std::string out = "{\"keys\":[";
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (i) out += ',';
    out += keys_[i].jwk;
  }
  out += "]}";
  return out;
}

Result<UnverifiedJwt> PeekJwt(std::string_view token, std::size_t max_bytes) {
  if (token.size() > max_bytes) {
    return Invalid("the token exceeds " + std::to_string(max_bytes) + " bytes");
  }
  std::size_t dot1 = token.find('.');
  std::size_t dot2 =
      dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) {
    return Invalid("a token has three parts separated by dots (compact jws)");
  }
  auto header = ParseObject(token.substr(0, dot1), "the token header");
  if (!header) return header.error();
  auto claims =
      ParseObject(token.substr(dot1 + 1, dot2 - dot1 - 1), "the token claims");
  if (!claims) return claims.error();
  auto text = [](const json::object& o, const char* name) -> std::string {
    const json::value* v = o.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : "";
  };
  return UnverifiedJwt{text(*header, "kid"), text(*claims, "iss"),
                       text(*claims, "sub")};
}

Result<Jwt> VerifyJwt(std::string_view token, const KeySet& keys,
                      const VerifyPolicy& policy) {
  if (token.size() > policy.max_bytes) {
    return Invalid("the token exceeds " + std::to_string(policy.max_bytes) +
                   " bytes");
  }
  std::size_t dot1 = token.find('.');
  std::size_t dot2 =
      dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      token.find('.', dot2 + 1) != std::string_view::npos) {
    return Invalid("a token has three parts separated by dots (compact jws)");
  }
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view claims_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);
  auto header = ParseObject(header_b64, "the token header");
  if (!header) return header.error();
  const json::value* alg = header->if_contains("alg");
  if (!alg || !alg->is_string()) return Invalid("the header has no `alg`");
  if (alg->get_string() == "none") {
    return Invalid("unsigned tokens (alg none) are not accepted");
  }
  for (const char* banned :
       {"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit", "b64"}) {
    if (header->contains(banned)) {
      return Invalid(std::string("the header member `") + banned +
                     "` is not accepted");
    }
  }
  const json::value* kid = header->if_contains("kid");
  if (!kid || !kid->is_string()) return Invalid("the header has no `kid`");
  const VerifyKey* key = keys.Find(kid->get_string());
  if (!key) return Invalid("unknown key id");
  if (alg->get_string() != AlgName(key->alg)) {
    return Invalid("the token's algorithm does not match its key's");
  }
  const json::value* typ = header->if_contains("typ");
  if (typ && !typ->is_string()) return Invalid("`typ` is not a string");
  std::string_view typ_value = typ ? std::string_view(typ->get_string()) : "";
  if (policy.type.empty() ? (typ && !TypeMatches(typ_value, "JWT") &&
                             !TypeMatches(typ_value, "JOSE"))
                          : !TypeMatches(typ_value, policy.type)) {
    return Invalid("the token is not of the expected type");
  }
  auto sig = Base64UrlDecode(sig_b64);
  if (!sig) return Invalid("the signature is not canonical base64url");
  if (!Verify(*key, token.substr(0, dot2), *sig)) {
    return Invalid("the signature does not verify");
  }
  auto claims = ParseObject(claims_b64, "the token claims");
  if (!claims) return claims.error();

  Jwt jwt;
  auto exp = Date(*claims, "exp", true);
  if (!exp) return exp.error();
  auto nbf = Date(*claims, "nbf", false);
  if (!nbf) return nbf.error();
  auto iat = Date(*claims, "iat", false);
  if (!iat) return iat.error();
  if (*exp <= policy.now - policy.leeway)
    return Invalid("the token has expired");
  if (claims->contains("nbf") && *nbf > policy.now + policy.leeway) {
    return Invalid("the token is not valid yet (nbf)");
  }
  if (claims->contains("iat") && *iat > policy.now + policy.leeway) {
    return Invalid("the token was issued in the future (iat)");
  }
  const json::value* iss = claims->if_contains("iss");
  if (iss && !iss->is_string()) return Invalid("`iss` is not a string");
  if (policy.check_issuer && (!iss || iss->get_string() != policy.issuer)) {
    return Invalid("the token is from another issuer");
  }
  const json::value* aud = claims->if_contains("aud");
  bool aud_ok = false;
  if (aud && aud->is_string()) {
    aud_ok = aud->get_string() == policy.audience;
  } else if (aud && aud->is_array()) {
    for (const json::value& a : aud->get_array()) {
      if (a.is_string() && a.get_string() == policy.audience) aud_ok = true;
    }
  }
  if (!aud) return Invalid("the token has no audience");
  if (!aud_ok) return Invalid("the token is for another audience");
  auto text = [&](const char* name) -> std::string {
    const json::value* v = claims->if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : "";
  };
  jwt.kid = std::string(kid->get_string());
  if (iss) jwt.iss = std::string(iss->get_string());
  jwt.sub = text("sub");
  jwt.jti = text("jti");
  jwt.exp = *exp;
  jwt.iat = *iat;
  jwt.header = std::move(*header);
  jwt.claims = std::move(*claims);
  return jwt;
}

Result<std::string> SignJwt(const json::object& claims, const Ed25519Key& key,
                            std::string_view kid, std::string_view type) {
  json::object header{{"alg", "EdDSA"}, {"kid", kid}, {"typ", type}};
  auto h = CanonicalJson(header);
  auto c = CanonicalJson(claims);
  if (!h || !c) return MakeError("invalid_token", "claims have no json form");
  std::string input = Base64UrlEncode(*h) + "." + Base64UrlEncode(*c);
  std::string sig = key.Sign(input);
  return input + "." + Base64UrlEncode(sig);
}

}  // namespace tether::token
