// Fuzzes token verification (every check before and after the signature)
// and JWK Set parsing.
#include <cstdint>
#include <string_view>

#include "token/jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace tether;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const token::KeySet keys = [] {
    token::KeySet k;
    // A fixed public key: forged signatures never verify, so the fuzzer
    // explores everything up to the signature check, and the JWKS path.
    std::string pk(32, '\x11');
    (void)k.Add(*token::Ed25519VerifyKey("k1", pk));
    return k;
  }();
  token::VerifyPolicy policy;
  policy.issuer = "https://tether.example";
  policy.audience = "https://tether.example";
  policy.type = "tether-task+jwt";
  policy.now = 1'800'000'000;
  (void)token::VerifyJwt(text, keys, policy);
  if (auto set = token::KeySet::FromJwks(text); set.ok()) (void)set->ToJwks();
  return 0;
}
