#include "api/console_oidc.h"

#include <boost/json.hpp>

#include "core/crypto.h"
#include "core/json.h"
#include "core/key_file.h"
#include "core/text.h"
#include "net/http_client.h"

namespace tether::api {
namespace {

namespace json = boost::json;

constexpr std::int64_t kPendingMs = 10 * 60 * 1000;
constexpr std::size_t kMaxPending = 10'000;
constexpr std::int64_t kProviderTtlMs = 3600 * 1000;

Error Rejected(const std::string& why) {
  return MakeError("oidc_rejected", why);
}
Error Unavailable(const std::string& why) {
  return MakeError("oidc_unavailable", why);
}

std::string Base64(std::string_view bytes) {
  std::string s = Base64UrlEncode(bytes);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4) s += '=';
  return s;
}

Result<json::object> FetchJson(const net::HttpClientRequest& req,
                               const std::string& what) {
  auto res = net::HttpFetch(req);
  if (!res) return Unavailable(what + ": " + res.error().message);
  if (res->status != 200) {
    return Unavailable(what + ": HTTP " + std::to_string(res->status));
  }
  JsonLimits limits;
  limits.max_bytes = 1024 * 1024;
  auto j = ParseJson(res->body, limits);
  if (!j || !j->is_object()) return Unavailable(what + ": not a JSON object");
  return j->get_object();
}

std::string Member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

Result<std::unique_ptr<ConsoleOidc>> ConsoleOidc::Create(
    ConsoleOidcConfig config, std::string redirect_uri) {
  std::string secret;
  if (!config.client_secret_file.empty()) {
    auto s = ReadKeyFile(config.client_secret_file);
    if (!s) {
      return MakeError("invalid_config", "approvals.oidc.client_secret_file: " +
                                             s.error().message);
    }
    secret = *s;
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
      secret.pop_back();
  }
  while (!config.issuer.empty() && config.issuer.back() == '/')
    config.issuer.pop_back();
  return std::unique_ptr<ConsoleOidc>(new ConsoleOidc(
      std::move(config), std::move(redirect_uri), std::move(secret)));
}

bool ConsoleOidc::IssuerIs(std::string_view iss) const {
  while (!iss.empty() && iss.back() == '/') iss.remove_suffix(1);
  return iss == config_.issuer;
}

// The client secret goes to the token endpoint and the keys decide what we
// trust: https, except to a provider on this machine.
static bool SafeEndpoint(std::string_view url) {
  auto u = net::ParseHttpUrl(url);
  if (!u) return false;
  return u->tls || u->host == "127.0.0.1" || u->host == "::1" ||
         u->host == "localhost";
}

Result<ConsoleOidc::Provider> ConsoleOidc::Discover(std::int64_t now_ms,
                                                    bool refresh_keys) {
  {
    std::lock_guard lock(mu_);
    if (provider_ && now_ms - provider_->fetched_ms < kProviderTtlMs &&
        !(refresh_keys && now_ms - provider_->fetched_ms > 60'000)) {
      return *provider_;
    }
    if (failure_ && now_ms - failed_ms_ < 30'000) return *failure_;
    if (fetching_) {
      if (provider_) return *provider_;  // the refresh in flight will do
      return Unavailable("the provider is being contacted; try again");
    }
    fetching_ = true;
  }
  auto fetched = Fetch(now_ms);
  std::lock_guard lock(mu_);
  fetching_ = false;
  if (!fetched) {
    failure_ = fetched.error();
    failed_ms_ = now_ms;
    return fetched.error();
  }
  failure_.reset();
  provider_ = *fetched;
  return fetched;
}

Result<ConsoleOidc::Provider> ConsoleOidc::Fetch(std::int64_t now_ms) {
  net::HttpClientRequest req;
  req.url = config_.issuer + "/.well-known/openid-configuration";
  req.ca_file = config_.ca_file;
  req.headers.emplace_back("Accept", "application/json");
  auto doc = FetchJson(req, "the provider's discovery document");
  if (!doc) return doc.error();
  Provider p;
  p.issuer = Member(*doc, "issuer");
  if (!IssuerIs(p.issuer)) {
    return Unavailable("the provider names itself `" + p.issuer +
                       "`, not the configured issuer");
  }
  p.authorization_endpoint = Member(*doc, "authorization_endpoint");
  p.token_endpoint = Member(*doc, "token_endpoint");
  p.jwks_uri = Member(*doc, "jwks_uri");
  for (const std::string* u :
       {&p.authorization_endpoint, &p.token_endpoint, &p.jwks_uri}) {
    if (!SafeEndpoint(*u)) {
      return Unavailable(
          "the provider's discovery document lacks an https "
          "endpoint");
    }
  }
  req.url = p.jwks_uri;
  auto jwks = net::HttpFetch(req);
  if (!jwks) return Unavailable("the provider's keys: " + jwks.error().message);
  if (jwks->status != 200) {
    return Unavailable("the provider's keys: HTTP " +
                       std::to_string(jwks->status));
  }
  auto keys = token::KeySet::FromJwks(jwks->body);
  if (!keys) return Unavailable("the provider's keys: " + keys.error().message);
  p.keys = std::make_shared<const token::KeySet>(std::move(*keys));
  p.fetched_ms = now_ms;
  return p;
}

Result<ConsoleOidc::Redirect> ConsoleOidc::Begin(std::int64_t now_ms) {
  auto p = Discover(now_ms, false);
  if (!p) return p.error();
  Redirect r;
  r.state = Base64UrlEncode(RandomBytes(32));
  Pending pending;
  pending.verifier = Base64UrlEncode(RandomBytes(32));
  pending.nonce = Base64UrlEncode(RandomBytes(16));
  pending.expires_ms = now_ms + kPendingMs;
  Sha256Digest challenge = Sha256(pending.verifier);
  std::string url = p->authorization_endpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url +=
      "response_type=code&client_id=" + PercentEncode(config_.client_id) +
      "&redirect_uri=" + PercentEncode(redirect_uri_) +
      "&scope=" + PercentEncode(config_.scopes) +
      "&state=" + PercentEncode(r.state) +
      "&nonce=" + PercentEncode(pending.nonce) + "&code_challenge=" +
      Base64UrlEncode(std::string_view(
          reinterpret_cast<const char*>(challenge.data()), challenge.size())) +
      "&code_challenge_method=S256";
  r.location = std::move(url);
  std::lock_guard lock(mu_);
  if (pending_.size() >= kMaxPending) {
    std::erase_if(pending_, [&](const auto& kv) {
      return kv.second.expires_ms <= now_ms;
    });
    if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
  }
  pending_[r.state] = std::move(pending);
  return r;
}

Result<identity::Principal> ConsoleOidc::Finish(std::string_view code,
                                                std::string_view state,
                                                std::string_view state_cookie,
                                                std::int64_t now_ms) {
  if (code.empty() || code.size() > 4096 || state.empty() ||
      state.size() > 256) {
    return Rejected("the sign-in callback is malformed");
  }
  if (state_cookie.empty() || !ConstantTimeEquals(state, state_cookie)) {
    return Rejected("the sign-in was not started in this browser");
  }
  Pending pending;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(state);
    if (it == pending_.end()) {
      return Rejected("the sign-in is unknown or was already used");
    }
    pending = std::move(it->second);
    pending_.erase(it);  // a state is good for one callback
  }
  if (pending.expires_ms <= now_ms)
    return Rejected("the sign-in took too long");
  auto p = Discover(now_ms, false);
  if (!p) return p.error();

  net::HttpClientRequest req;
  req.method = "POST";
  req.url = p->token_endpoint;
  req.ca_file = config_.ca_file;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  req.body = "grant_type=authorization_code&code=" + PercentEncode(code) +
             "&redirect_uri=" + PercentEncode(redirect_uri_) +
             "&code_verifier=" + PercentEncode(pending.verifier);
  if (client_secret_.empty()) {
    req.body += "&client_id=" + PercentEncode(config_.client_id);
  } else {
    // RFC 6749 2.3.1: the form-encoded id and secret, in Basic.
    req.headers.emplace_back(
        "Authorization",
        "Basic " + Base64(PercentEncode(config_.client_id) + ":" +
                          PercentEncode(client_secret_)));
  }
  auto res = net::HttpFetch(req);
  if (!res) return Unavailable("the token endpoint: " + res.error().message);
  auto body = ParseJson(res->body);
  if (res->status != 200 || !body || !body->is_object()) {
    std::string why = "HTTP " + std::to_string(res->status);
    if (body && body->is_object()) {
      std::string e = Member(body->get_object(), "error");
      if (!e.empty()) why += " (" + e + ")";
    }
    return Rejected("the provider refused the sign-in code: " + why);
  }
  std::string id_token = Member(body->get_object(), "id_token");
  if (id_token.empty()) return Rejected("the provider sent no ID token");

  token::VerifyPolicy policy;
  policy.issuer = p->issuer;
  policy.audience = config_.client_id;
  policy.now = now_ms / 1000;
  auto jwt = token::VerifyJwt(id_token, *p->keys, policy);
  if (!jwt && jwt.error().message.find("key") != std::string::npos) {
    // Perhaps the provider rotated its keys.
    auto fresh = Discover(now_ms, true);
    if (fresh) jwt = token::VerifyJwt(id_token, *fresh->keys, policy);
  }
  if (!jwt) return Rejected("the ID token: " + jwt.error().message);
  const json::object& c = jwt->claims;
  if (Member(c, "nonce").empty() ||
      !ConstantTimeEquals(Member(c, "nonce"), pending.nonce)) {
    return Rejected("the ID token is not for this sign-in (nonce)");
  }
  std::string name = Member(c, config_.name_claim);
  if (name.empty() || name.size() > 256 || !IsValidUtf8(name)) {
    return Rejected("the ID token has no usable `" + config_.name_claim +
                    "` claim");
  }
  if (config_.name_claim == "email") {
    // An address the user may set at will names nobody (OIDC Core 5.7).
    const json::value* v = c.if_contains("email_verified");
    if (!v || !v->is_bool() || !v->get_bool()) {
      return Rejected("the provider has not verified this email address");
    }
  }
  identity::Principal who;
  who.kind = identity::PrincipalKind::kOperator;
  who.type = "Operator";
  who.id = name;
  who.role = config_.role;
  who.issuer = "oidc";
  who.subject = "oidc:" + config_.issuer + "#" + jwt->sub;
  if (const json::value* g = c.if_contains(config_.groups_claim)) {
    auto add = [&](const json::value& v) {
      if (v.is_string() && !v.get_string().empty() &&
          v.get_string().size() <= 256 && who.groups.size() < 256) {
        who.groups.emplace_back(v.get_string());
      }
    };
    if (g->is_array()) {
      for (const json::value& v : g->get_array()) add(v);
    } else {
      add(*g);
    }
  }
  if (!config_.required_groups.empty()) {
    bool member = false;
    for (const std::string& g : who.groups) {
      for (const std::string& r : config_.required_groups) member |= g == r;
    }
    if (!member) {
      return Rejected("this account is in none of the groups that may sign in");
    }
  }
  return who;
}

}  // namespace tether::api
