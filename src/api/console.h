// The web console's server side (docs/approvals.md, "Console"): sign-in
// sessions and their CSRF tokens.
//
// A session is created by signing in with an operator token (or through the
// configured OIDC provider) and lives in memory: a server restart signs
// everyone out. The cookie holds 32 random bytes; the server keeps only
// their SHA-256. Each session has its own CSRF token, which every
// state-changing request made with the cookie must echo in X-Tether-CSRF.
#ifndef TETHER_API_CONSOLE_H_
#define TETHER_API_CONSOLE_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "identity/principal.h"

namespace tether::api {

// Over TLS the cookie is `__Host-tether_session`: the browser then takes it
// only from this host, Secure, with Path=/, so a sibling subdomain cannot
// plant one. Without TLS (loopback, or TLS ended by a proxy) the prefix is
// not allowed, and the name is `tether_session`.
inline constexpr std::string_view kSessionCookie = "tether_session";
inline constexpr std::string_view kSecureSessionCookie =
    "__Host-tether_session";
inline std::string_view SessionCookieName(bool tls) {
  return tls ? kSecureSessionCookie : kSessionCookie;
}

struct ConsoleSession {
  identity::Principal principal;
  std::string csrf_token;
  std::int64_t expires_ms = 0;
};

class ConsoleSessions {
 public:
  explicit ConsoleSessions(std::int64_t ttl_ms,
                           std::size_t max_sessions = 10000)
      : ttl_ms_(ttl_ms), max_sessions_(max_sessions) {}

  struct Created {
    std::string cookie_value;
    ConsoleSession session;
  };
  Created Create(identity::Principal principal, std::int64_t now_ms);
  std::optional<ConsoleSession> Find(std::string_view cookie_value,
                                     std::int64_t now_ms);
  void Remove(std::string_view cookie_value);
  std::int64_t ttl_ms() const { return ttl_ms_; }

 private:
  std::int64_t ttl_ms_;
  std::size_t max_sessions_;
  std::mutex mu_;
  std::map<std::string, ConsoleSession, std::less<>> by_digest_;  // guarded
};

// The value of cookie `name` in a Cookie header, or "" if absent.
std::string_view CookieValue(std::string_view header, std::string_view name);

// The Set-Cookie value for a session (or, with an empty value, one that
// clears it). Secure when the console is served over TLS.
std::string SessionCookie(std::string_view value, std::int64_t max_age_s,
                          bool secure);

}  // namespace tether::api

#endif  // TETHER_API_CONSOLE_H_
