#include "api/console.h"

#include "core/crypto.h"

namespace tether::api {
namespace {

std::string Digest(std::string_view cookie_value) {
  return HexEncode(Sha256(cookie_value));
}

}  // namespace

ConsoleSessions::Created ConsoleSessions::Create(identity::Principal principal,
                                                 std::int64_t now_ms) {
  Created c;
  c.cookie_value = Base64UrlEncode(RandomBytes(32));
  c.session.principal = std::move(principal);
  c.session.csrf_token = Base64UrlEncode(RandomBytes(32));
  c.session.expires_ms = now_ms + ttl_ms_;
  std::lock_guard lock(mu_);
  if (by_digest_.size() >= max_sessions_) {
    std::erase_if(by_digest_, [&](const auto& kv) {
      return kv.second.expires_ms <= now_ms;
    });
  }
  if (by_digest_.size() >= max_sessions_) {
    // Still full: drop the session closest to its end.
    auto oldest = by_digest_.begin();
    for (auto it = by_digest_.begin(); it != by_digest_.end(); ++it) {
      if (it->second.expires_ms < oldest->second.expires_ms) oldest = it;
    }
    by_digest_.erase(oldest);
  }
  by_digest_[Digest(c.cookie_value)] = c.session;
  return c;
}

std::optional<ConsoleSession> ConsoleSessions::Find(
    std::string_view cookie_value, std::int64_t now_ms) {
  if (cookie_value.empty() || cookie_value.size() > 128) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = by_digest_.find(Digest(cookie_value));
  if (it == by_digest_.end()) return std::nullopt;
  if (it->second.expires_ms <= now_ms) {
    by_digest_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void ConsoleSessions::Remove(std::string_view cookie_value) {
  std::lock_guard lock(mu_);
  by_digest_.erase(Digest(cookie_value));
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      std::string_view v = pair.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return v;
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

std::string SessionCookie(std::string_view value, std::int64_t max_age_s,
                          bool secure) {
  std::string c = std::string(SessionCookieName(secure)) + "=" +
                  std::string(value) +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                  std::to_string(max_age_s);
  if (secure) c += "; Secure";
  return c;
}

}  // namespace tether::api
