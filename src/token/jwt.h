// JSON Web Tokens, compact JWS serialization only, verified strictly.
//
// A token is accepted only if every one of these holds (each failure is a
// distinct "invalid_token" message that never echoes the token):
//  - at most max_bytes, three dot-separated parts, canonical base64url (no
//    padding, no stray bits), header and claims JSON objects without
//    duplicate members;
//  - the header names a known `kid` and an `alg` equal to that key's one
//    algorithm (so `none`, HS256-with-a-public-key and every other algorithm
//    confusion fail); no `jku`, `x5u`, `jwk`, `x5c`, `x5t`, `b64` or `crit`;
//  - the signature verifies;
//  - `typ` is the expected token type, `iss` the expected issuer, `aud`
//    contains the expected audience; `exp` is present and in the future,
//    `nbf` and `iat` (when present) not beyond now + leeway; all NumericDates
//    are integers.
// Keys: Ed25519 (EdDSA) for tether's own, RSA ≥ 2048 bits (RS256) and P-256
// (ES256) for external issuers. Everything here is pure: no I/O.
#ifndef TETHER_TOKEN_JWT_H_
#define TETHER_TOKEN_JWT_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/result.h"

namespace tether::token {

enum class Alg { kEdDSA, kRS256, kES256 };
std::string_view AlgName(Alg alg);

// A public key for verification, bound to exactly one algorithm.
struct VerifyKey {
  std::string kid;
  Alg alg = Alg::kEdDSA;
  std::shared_ptr<void> pkey;  // EVP_PKEY
  std::string jwk;             // its public JWK, as JSON
};

// An Ed25519 verification key from a raw 32-byte public key.
Result<VerifyKey> Ed25519VerifyKey(std::string kid,
                                   std::string_view public_key);

class KeySet {
 public:
  // Fails on a duplicate kid.
  Status Add(VerifyKey key);
  const VerifyKey* Find(std::string_view kid) const;
  std::size_t size() const { return keys_.size(); }

  // RFC 7517 JWK Set: OKP/Ed25519, RSA and EC/P-256 signing keys. Each key
  // needs a unique `kid`; an `alg` member, if present, must match its type;
  // `use`, if present, must be "sig". Private members are refused.
  static Result<KeySet> FromJwks(std::string_view json);
  // {"keys": [...]} with the public keys.
  std::string ToJwks() const;

 private:
  std::vector<VerifyKey> keys_;
};

struct VerifyPolicy {
  std::string issuer;
  // SPIFFE JWT-SVIDs need not carry `iss`; their trust comes from the key
  // set and the `sub` trust domain, which the caller checks.
  bool check_issuer = true;
  std::string audience;
  // Expected `typ`, e.g. "tether-task+jwt"; compared case-insensitively,
  // with an optional "application/" prefix. Empty: `typ` must be absent,
  // "JWT" or "JOSE".
  std::string type;
  std::int64_t now = 0;      // Unix seconds
  std::int64_t leeway = 30;  // seconds of clock skew tolerated
  std::size_t max_bytes = 16 * 1024;
};

struct Jwt {
  boost::json::object header;
  boost::json::object claims;
  std::string kid;
  std::string iss;
  std::string sub;
  std::string jti;
  std::int64_t exp = 0;
  std::int64_t iat = 0;  // 0 when absent
};

// What an unverified token says about itself, for routing it to the right
// issuer before verification. Nothing here may be trusted.
struct UnverifiedJwt {
  std::string kid;
  std::string iss;
  std::string sub;
};
Result<UnverifiedJwt> PeekJwt(std::string_view token,
                              std::size_t max_bytes = 16 * 1024);

Result<Jwt> VerifyJwt(std::string_view token, const KeySet& keys,
                      const VerifyPolicy& policy);

// Signs `claims` with tether's Ed25519 key: header {"alg":"EdDSA","kid",
// "typ"}; header and claims are written as canonical JSON.
Result<std::string> SignJwt(const boost::json::object& claims,
                            const Ed25519Key& key, std::string_view kid,
                            std::string_view type);

}  // namespace tether::token

#endif  // TETHER_TOKEN_JWT_H_
