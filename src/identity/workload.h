// Workload identity: OIDC ID tokens (GitHub Actions, Kubernetes, any issuer
// with a JWKS), SPIFFE JWT-SVIDs and X.509-SVIDs, verified and mapped to a
// principal entity by the issuer's configured template.
//
// A token is routed to an issuer by what it claims (`iss`, or the trust
// domain of a spiffe:// `sub`) and then verified strictly with that issuer's
// keys only (token/jwt.h): the issuer, audience and expiry must match. Keys
// come from a file read at start or from a `jwks_uri` fetched at first use,
// refreshed every jwks_refresh_seconds, and refetched when a token names an
// unknown `kid` — at most once per jwks_min_refresh_seconds, so a flood of
// forged kids cannot turn tether into a request amplifier.
//
// Thread-safe. Errors have code "identity_rejected" and never echo the token.
#ifndef TETHER_IDENTITY_WORKLOAD_H_
#define TETHER_IDENTITY_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "identity/principal.h"
#include "token/jwt.h"

namespace tether::identity {

// `Type::"template"` with {claim} placeholders, parsed once.
struct PrincipalTemplate {
  std::string type;
  std::string id_template;
  static Result<PrincipalTemplate> Parse(std::string_view text);
};

// True for a syntactically valid SPIFFE ID (spiffe://trust-domain/path).
bool IsSpiffeId(std::string_view id);
std::string_view SpiffeTrustDomain(std::string_view id);

class WorkloadVerifier {
 public:
  // Fails (code "invalid_config") on a bad template or an unreadable or
  // invalid jwks_file. `reserved_issuer` (tether's own URL) may not be
  // configured as an issuer.
  static Result<std::unique_ptr<WorkloadVerifier>> Create(
      const IdentityConfig& config, std::string_view reserved_issuer);
  ~WorkloadVerifier();

  Result<Principal> Verify(std::string_view token, std::int64_t now);

  // An X.509-SVID's SPIFFE ID (from a verified client certificate).
  Result<Principal> FromX509Svid(std::string_view spiffe_id) const;

  bool empty() const { return issuers_.empty(); }

 private:
  struct Issuer;
  WorkloadVerifier() = default;
  std::shared_ptr<const token::KeySet> Keys(Issuer& issuer, std::int64_t now,
                                            bool unknown_kid);
  std::vector<std::unique_ptr<Issuer>> issuers_;
  IdentityConfig config_;
};

}  // namespace tether::identity

#endif  // TETHER_IDENTITY_WORKLOAD_H_
