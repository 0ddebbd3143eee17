// Console sign-in through an OIDC provider (docs/approvals.md, "Signing in
// with OIDC"): the authorization code flow with PKCE (RFC 7636) for human
// approvers. The ID token's claims name the operator and their groups.
//
// Begin() makes a random state, nonce and code verifier, remembers them for
// ten minutes, and returns the provider's authorization URL; the state is
// also set in a cookie so a callback completes only in the browser that
// started it. Finish() takes the callback's code, redeems it at the token
// endpoint (with the client secret and the code verifier), verifies the ID
// token against the provider's JWKS (issuer, audience, expiry, nonce), and
// returns an operator principal with the configured role.
//
// The provider's discovery document and JWKS are fetched on first use and
// refreshed hourly (and at most once a minute on an unknown key id), so the
// server starts while the provider is down.
#ifndef TETHER_API_CONSOLE_OIDC_H_
#define TETHER_API_CONSOLE_OIDC_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/result.h"
#include "identity/principal.h"
#include "token/jwt.h"

namespace tether::api {

inline constexpr std::string_view kOidcStateCookie = "tether_oidc";

class ConsoleOidc {
 public:
  // Reads the client secret (a 0600 file). Error code "invalid_config".
  static Result<std::unique_ptr<ConsoleOidc>> Create(ConsoleOidcConfig config,
                                                     std::string redirect_uri);

  struct Redirect {
    std::string location;  // the provider's authorization URL
    std::string state;     // for the state cookie
  };
  // Whether `iss` (a callback's RFC 9207 parameter) names our provider.
  bool IssuerIs(std::string_view iss) const;
  // Error code "oidc_unavailable" when the provider cannot be reached.
  Result<Redirect> Begin(std::int64_t now_ms);
  // Error codes "oidc_rejected" (a bad or replayed callback, a token that
  // does not verify, claims that do not name an operator, an unverified
  // email as the name, none of the required groups) and
  // "oidc_unavailable".
  Result<identity::Principal> Finish(std::string_view code,
                                     std::string_view state,
                                     std::string_view state_cookie,
                                     std::int64_t now_ms);

 private:
  ConsoleOidc(ConsoleOidcConfig config, std::string redirect_uri,
              std::string client_secret)
      : config_(std::move(config)),
        redirect_uri_(std::move(redirect_uri)),
        client_secret_(std::move(client_secret)) {}
  struct Provider {
    std::string issuer;  // exactly as the provider writes it
    std::string authorization_endpoint, token_endpoint, jwks_uri;
    std::shared_ptr<const token::KeySet> keys;
    std::int64_t fetched_ms = 0;
  };
  // The discovery document and keys, fetched if missing or stale (or,
  // with `refresh_keys`, if the keys were fetched over a minute ago).
  Result<Provider> Discover(std::int64_t now_ms, bool refresh_keys);
  Result<Provider> Fetch(std::int64_t now_ms);

  struct Pending {
    std::string verifier, nonce;
    std::int64_t expires_ms = 0;
  };
  ConsoleOidcConfig config_;
  std::string redirect_uri_;
  std::string client_secret_;
  std::mutex mu_;
  std::optional<Provider> provider_;  // guarded by mu_
  // A failed discovery is remembered for a while, and one fetch runs at a
  // time, so sign-in attempts cannot hold every handler while the provider
  // is down or slow.
  std::optional<Error> failure_;                         // guarded by mu_
  std::int64_t failed_ms_ = 0;                           // guarded by mu_
  bool fetching_ = false;                                // guarded by mu_
  std::map<std::string, Pending, std::less<>> pending_;  // guarded, by state
};

}  // namespace tether::api

#endif  // TETHER_API_CONSOLE_OIDC_H_
