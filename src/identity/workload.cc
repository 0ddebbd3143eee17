#include "identity/workload.h"

#include <boost/json.hpp>
#include <optional>

#include "core/entity_ids.h"
#include "core/files.h"
#include "net/http_client.h"

namespace tether::identity {
namespace {

namespace json = boost::json;

Error Rejected(const std::string& why) {
  return MakeError("identity_rejected", why);
}

bool IsIdentChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// A Cedar entity type: identifiers joined by `::`.
bool ValidEntityType(std::string_view t) {
  if (t.empty()) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t end = t.find("::", start);
    std::string_view part = t.substr(start, end - start);
    if (part.empty() || !IsIdentChar(part[0], true)) return false;
    for (char c : part) {
      if (!IsIdentChar(c, false)) return false;
    }
    if (end == std::string_view::npos) return true;
    start = end + 2;
  }
}

std::string ClaimText(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_bool()) return v.get_bool() ? "true" : "false";
  return {};
}

Result<std::string> Expand(std::string_view tmpl, const json::object& claims) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] != '{') {
      out += tmpl[i++];
      continue;
    }
    std::size_t close = tmpl.find('}', i);
    std::string name(tmpl.substr(i + 1, close - i - 1));
    const json::value* v = claims.if_contains(name);
    std::string text = v ? ClaimText(*v) : "";
    if (text.empty()) {
      return Rejected("the token lacks the claim `" + name +
                      "` its principal needs");
    }
    out += text;
    i = close + 1;
  }
  return out;
}

// A claim as a Cedar JSON attribute value; null when it has no Cedar form.
json::value ClaimAttr(const json::value& v) {
  if (v.is_string() || v.is_bool() || v.is_int64()) return v;
  if (v.is_array()) {
    json::array set;
    for (const json::value& item : v.get_array()) {
      if (!item.is_string()) return nullptr;
      set.push_back(item);
    }
    return set;
  }
  return nullptr;
}

Result<std::shared_ptr<const token::KeySet>> LoadJwks(const IssuerConfig& cfg) {
  std::string text;
  if (!cfg.jwks_file.empty()) {
    auto t = ReadFile(cfg.jwks_file, 1024 * 1024);
    if (!t) return t.error();
    text = std::move(*t);
  } else {
    net::HttpClientRequest req;
    req.url = cfg.jwks_uri;
    req.ca_file = cfg.ca_file;
    req.timeout = std::chrono::milliseconds(5000);
    req.max_response_bytes = 1024 * 1024;
    req.headers.emplace_back("Accept", "application/json");
    auto res = net::HttpFetch(req);
    if (!res) return res.error();
    if (res->status != 200) {
      return MakeError("jwks_unavailable", cfg.jwks_uri + " answered http " +
                                               std::to_string(res->status));
    }
    text = std::move(res->body);
  }
  auto keys = token::KeySet::FromJwks(text);
  if (!keys) return keys.error();
  return std::make_shared<const token::KeySet>(std::move(*keys));
}

}  // namespace

struct WorkloadVerifier::Issuer {
  IssuerConfig config;
  PrincipalTemplate principal;
  std::atomic<std::shared_ptr<const token::KeySet>> keys;
  std::mutex refresh_mu;
  std::int64_t fetched_at = 0;    // guarded by refresh_mu
  std::int64_t attempted_at = 0;  // guarded by refresh_mu
};

Result<PrincipalTemplate> PrincipalTemplate::Parse(std::string_view text) {
  std::size_t sep = text.find("::\"");
  if (sep == std::string_view::npos || text.size() < sep + 4 ||
      text.back() != '"') {
    return MakeError("invalid_config", "principal `" + std::string(text) +
                                           "` must look like Agent::\"{sub}\"");
  }
  PrincipalTemplate t;
  t.type = std::string(text.substr(0, sep));
  t.id_template = std::string(text.substr(sep + 3, text.size() - sep - 4));
  if (!ValidEntityType(t.type)) {
    return MakeError("invalid_config",
                     "principal type `" + t.type + "` is not an entity type");
  }
  if (t.type == "Task" || t.type == "Operator" || t.type == "Action") {
    return MakeError("invalid_config",
                     "a workload may not map to a `" + t.type + "` principal");
  }
  for (std::size_t i = 0; i < t.id_template.size(); ++i) {
    char c = t.id_template[i];
    if (c == '"' || c == '\\') {
      return MakeError("invalid_config",
                       "principal id templates may not contain quotes or "
                       "backslashes");
    }
    if (c == '{') {
      std::size_t close = t.id_template.find('}', i);
      if (close == std::string::npos || close == i + 1) {
        return MakeError("invalid_config",
                         "principal id template `" + t.id_template +
                             "` has an unclosed or empty {placeholder}");
      }
      i = close;
    }
  }
  if (t.id_template.find('{') == std::string::npos) {
    return MakeError("invalid_config", "principal `" + std::string(text) +
                                           "` must name at least one {claim}");
  }
  return t;
}

bool IsSpiffeId(std::string_view id) {
  constexpr std::string_view kScheme = "spiffe://";
  if (id.size() > 2048 || id.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = id.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  std::string_view td = rest.substr(0, slash);
  if (td.empty()) return false;
  for (char c : td) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  if (slash == std::string_view::npos) return true;
  std::string_view path = rest.substr(slash);
  // Segments: non-empty, not . or .., of [A-Za-z0-9.-_].
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t next = path.find('/', i + 1);
    std::string_view seg = path.substr(i + 1, next - i - 1);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
            c == '-' || c == '_')) {
        return false;
      }
    }
    if (next == std::string_view::npos) break;
    i = next;
  }
  return true;
}

std::string_view SpiffeTrustDomain(std::string_view id) {
  std::string_view rest = id.substr(9);
  return rest.substr(0, rest.find('/'));
}

WorkloadVerifier::~WorkloadVerifier() = default;

Result<std::unique_ptr<WorkloadVerifier>> WorkloadVerifier::Create(
    const IdentityConfig& config, std::string_view reserved_issuer) {
  std::unique_ptr<WorkloadVerifier> v(new WorkloadVerifier());
  v->config_ = config;
  for (const IssuerConfig& ic : config.issuers) {
    if (ic.issuer == reserved_issuer) {
      return MakeError("invalid_config",
                       "identity issuer `" + ic.issuer +
                           "` is tether's own url; task tokens are not "
                           "workload identities");
    }
    auto tmpl = PrincipalTemplate::Parse(ic.principal);
    if (!tmpl) {
      return MakeError("invalid_config", "identity issuer " + ic.name + ": " +
                                             tmpl.error().message);
    }
    auto issuer = std::make_unique<Issuer>();
    issuer->config = ic;
    issuer->principal = std::move(*tmpl);
    if (!ic.jwks_file.empty()) {
      auto keys = LoadJwks(ic);
      if (!keys) {
        return MakeError("invalid_config", "identity issuer " + ic.name + ": " +
                                               keys.error().message);
      }
      issuer->keys.store(*keys);
    }
    v->issuers_.push_back(std::move(issuer));
  }
  return v;
}

std::shared_ptr<const token::KeySet> WorkloadVerifier::Keys(Issuer& issuer,
                                                            std::int64_t now,
                                                            bool unknown_kid) {
  auto keys = issuer.keys.load();
  if (issuer.config.jwks_uri.empty()) return keys;
  std::unique_lock lock(issuer.refresh_mu, std::defer_lock);
  if (keys) {
    // Someone else refreshing: use what we have.
    if (!lock.try_lock()) return keys;
  } else {
    lock.lock();
    if ((keys = issuer.keys.load())) return keys;
  }
  bool stale = now - issuer.fetched_at >= issuer.config.jwks_refresh_seconds;
  bool may_retry =
      now - issuer.attempted_at >= issuer.config.jwks_min_refresh_seconds;
  if ((stale || unknown_kid || !keys) && may_retry) {
    issuer.attempted_at = now;
    auto fresh = LoadJwks(issuer.config);
    if (fresh) {
      issuer.fetched_at = now;
      issuer.keys.store(*fresh);
      keys = *fresh;
    }
  }
  return keys;
}

Result<Principal> WorkloadVerifier::Verify(std::string_view token,
                                           std::int64_t now) {
  auto peek = token::PeekJwt(token);
  if (!peek) return Rejected(peek.error().message);
  Issuer* issuer = nullptr;
  for (auto& i : issuers_) {
    if (i->config.kind == "oidc" && !peek->iss.empty() &&
        peek->iss == i->config.issuer) {
      issuer = i.get();
      break;
    }
  }
  if (!issuer && IsSpiffeId(peek->sub)) {
    std::string_view td = SpiffeTrustDomain(peek->sub);
    for (auto& i : issuers_) {
      if (i->config.kind == "spiffe" && i->config.trust_domain == td) {
        issuer = i.get();
        break;
      }
    }
  }
  if (!issuer) return Rejected("the token's issuer is not trusted here");
  auto keys = Keys(*issuer, now, false);
  if (keys && !peek->kid.empty() && !keys->Find(peek->kid)) {
    keys = Keys(*issuer, now, true);
  }
  if (!keys) return Rejected("the issuer's keys are unavailable");
  token::VerifyPolicy policy;
  policy.issuer = issuer->config.issuer;
  policy.check_issuer = issuer->config.kind == "oidc";
  policy.audience = issuer->config.audience;
  policy.now = now;
  policy.leeway = config_.leeway_seconds;
  auto jwt = token::VerifyJwt(token, *keys, policy);
  if (!jwt) return Rejected(jwt.error().message);
  if (jwt->sub.empty()) return Rejected("the token has no `sub`");
  if (issuer->config.kind == "spiffe") {
    // JWT-SVID: sub is the SPIFFE ID, in the issuer's trust domain.
    if (!IsSpiffeId(jwt->sub) ||
        SpiffeTrustDomain(jwt->sub) != issuer->config.trust_domain) {
      return Rejected(
          "the token's subject is not a SPIFFE ID of the trust "
          "domain");
    }
    // JWT-SVIDs carry a single audience's worth of authority; tether accepts
    // only tokens issued for it, which VerifyJwt checked.
  }
  auto id = Expand(issuer->principal.id_template, jwt->claims);
  if (!id) return id.error();
  Principal p;
  p.kind = PrincipalKind::kWorkload;
  p.type = issuer->principal.type;
  p.id = std::move(*id);
  p.subject = jwt->sub;
  p.issuer = issuer->config.name;
  for (const auto& [attr, claim] : issuer->config.attributes) {
    const json::value* v = jwt->claims.if_contains(claim);
    if (!v) continue;
    json::value a = ClaimAttr(*v);
    if (!a.is_null()) p.attrs[attr] = std::move(a);
  }
  if (!issuer->config.repo_claim.empty()) {
    const json::value* v = jwt->claims.if_contains(issuer->config.repo_claim);
    if (!v || !v->is_string()) {
      return Rejected("the token lacks the claim `" +
                      issuer->config.repo_claim + "` naming its repository");
    }
    auto repo = CanonicalRepo(v->get_string());
    if (!repo)
      return Rejected("the token's repository claim is not owner/name");
    p.attrs["repo"] = json::object{
        {"__entity", json::object{{"type", "Repo"}, {"id", *repo}}}};
  }
  p.attrs["issuer"] = issuer->config.name;
  p.attrs["subject"] = jwt->sub;
  return p;
}

Result<Principal> WorkloadVerifier::FromX509Svid(
    std::string_view spiffe_id) const {
  if (!IsSpiffeId(spiffe_id)) {
    return Rejected("the client certificate has no valid SPIFFE ID");
  }
  std::string_view td = SpiffeTrustDomain(spiffe_id);
  bool trusted = false;
  for (const std::string& d : config_.x509_trust_domains) trusted |= d == td;
  if (!trusted) {
    return Rejected("the client certificate's trust domain is not trusted");
  }
  Principal p;
  p.kind = PrincipalKind::kWorkload;
  p.type = "Agent";
  p.id = std::string(spiffe_id);
  p.subject = std::string(spiffe_id);
  p.issuer = "x509-svid";
  p.attrs["issuer"] = "x509-svid";
  p.attrs["subject"] = std::string(spiffe_id);
  return p;
}

}  // namespace tether::identity
