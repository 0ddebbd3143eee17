#include "core/config.h"

#include <toml++/toml.h>
#include <set>

#include "core/files.h"
#include "core/text.h"

namespace tether {
namespace {

// Sections that later parts of tether read; accepted here, not validated.
const std::set<std::string> kOtherSections = {"run"};

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  Error At(const toml::node& node, const std::string& message) const {
    const toml::source_region& src = node.source();
    return MakeError("invalid_config",
                     name_ + ":" + std::to_string(src.begin.line) + ":" +
                         std::to_string(src.begin.column) + ": " + message);
  }

  // Fails on keys of `table` not in `allowed`.
  Status OnlyKeys(const toml::table& table,
                  const std::set<std::string>& allowed,
                  const std::string& where) const {
    for (const auto& [key, node] : table) {
      if (!allowed.count(std::string(key.str()))) {
        return At(node,
                  "unknown key `" + std::string(key.str()) + "` in " + where);
      }
    }
    return {};
  }

  template <typename T>
  Status Get(const toml::table& table, const char* key, T& out,
             const std::string& where) const {
    const toml::node* node = table.get(key);
    if (!node) return {};
    if constexpr (std::is_same_v<T, std::string>) {
      if (!node->is_string())
        return At(*node, where + "." + key + " must be a string");
      out = node->as_string()->get();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!node->is_boolean())
        return At(*node, where + "." + key + " must be true or false");
      out = node->as_boolean()->get();
    } else if constexpr (std::is_integral_v<T>) {
      if (!node->is_integer())
        return At(*node, where + "." + key + " must be an integer");
      std::int64_t v = node->as_integer()->get();
      if (v < 0) return At(*node, where + "." + key + " must not be negative");
      out = static_cast<T>(v);
    } else if constexpr (std::is_same_v<T,
                                        std::map<std::string, std::string>>) {
      const toml::table* t = node->as_table();
      if (!t)
        return At(*node, where + "." + key + " must be a table of strings");
      out.clear();
      for (const auto& [k, v] : *t) {
        if (!v.is_string())
          return At(v, where + "." + key + " must be a table of strings");
        out[std::string(k.str())] = v.as_string()->get();
      }
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      const toml::array* arr = node->as_array();
      if (!arr)
        return At(*node, where + "." + key + " must be a list of strings");
      out.clear();
      for (const toml::node& item : *arr) {
        if (!item.is_string())
          return At(item, where + "." + key + " must be a list of strings");
        out.push_back(item.as_string()->get());
      }
    }
    return {};
  }

 private:
  std::string name_;
};

Status ReadSink(const Reader& r, const toml::table& t, SinkConfig& s) {
  if (Status st =
          r.OnlyKeys(t,
                     {"type", "name", "records", "path", "max_bytes",
                      "max_files", "url", "headers", "timeout_ms", "ca_file"},
                     "[[audit.sinks]]");
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "type", s.type, "sink"), r.Get(t, "name", s.name, "sink"),
        r.Get(t, "records", s.records, "sink"),
        r.Get(t, "path", s.path, "sink"),
        r.Get(t, "max_bytes", s.max_bytes, "sink"),
        r.Get(t, "max_files", s.max_files, "sink"),
        r.Get(t, "url", s.url, "sink"),
        r.Get(t, "timeout_ms", s.timeout_ms, "sink"),
        r.Get(t, "ca_file", s.ca_file, "sink")}) {
    if (!st) return st;
  }
  if (const toml::node* h = t.get("headers")) {
    const toml::table* ht = h->as_table();
    if (!ht) return r.At(*h, "sink headers must be a table of strings");
    for (const auto& [k, v] : *ht) {
      if (!v.is_string()) return r.At(v, "sink headers must be strings");
      s.headers[std::string(k.str())] = v.as_string()->get();
    }
  }
  if (s.type == "file") {
    if (s.path.empty()) return r.At(t, "a file sink needs `path`");
    if (s.name.empty()) s.name = "file:" + s.path;
  } else if (s.type == "webhook") {
    if (s.url.empty()) return r.At(t, "a webhook sink needs `url`");
    if (s.name.empty()) s.name = "webhook:" + s.url;
  } else {
    return r.At(t, "sink `type` must be \"file\" or \"webhook\"");
  }
  if (s.max_files < 1) return r.At(t, "sink max_files must be at least 1");
  if (s.records != "events" && s.records != "checkpoints") {
    return r.At(t, "sink `records` must be \"events\" or \"checkpoints\"");
  }
  if (s.records == "checkpoints") s.name += "#checkpoints";
  return {};
}

// The table under `key`, or null when absent; an error if it is not a table.
Result<const toml::table*> Section(const Reader& r, const toml::table& root,
                                   const char* key) {
  const toml::node* node = root.get(key);
  if (!node) return static_cast<const toml::table*>(nullptr);
  const toml::table* t = node->as_table();
  if (!t) return r.At(*node, "[" + std::string(key) + "] must be a table");
  return t;
}

Status ReadServer(const Reader& r, const toml::table& t, ServerConfig& s) {
  if (Status st = r.OnlyKeys(
          t,
          {"listen", "url", "io_threads", "worker_threads", "tls_cert",
           "tls_key", "client_ca", "require_client_cert", "max_body_bytes",
           "max_header_bytes", "request_timeout_ms", "max_connections",
           "policies", "metrics_public", "task_ttl_seconds",
           "max_task_ttl_seconds", "max_active_tasks"},
          "[server]");
      !st) {
    return st;
  }
  const std::string w = "server";
  for (Status st :
       {r.Get(t, "listen", s.listen, w), r.Get(t, "url", s.url, w),
        r.Get(t, "io_threads", s.io_threads, w),
        r.Get(t, "worker_threads", s.worker_threads, w),
        r.Get(t, "tls_cert", s.tls_cert, w), r.Get(t, "tls_key", s.tls_key, w),
        r.Get(t, "client_ca", s.client_ca, w),
        r.Get(t, "require_client_cert", s.require_client_cert, w),
        r.Get(t, "max_body_bytes", s.max_body_bytes, w),
        r.Get(t, "max_header_bytes", s.max_header_bytes, w),
        r.Get(t, "request_timeout_ms", s.request_timeout_ms, w),
        r.Get(t, "max_connections", s.max_connections, w),
        r.Get(t, "policies", s.policies, w),
        r.Get(t, "metrics_public", s.metrics_public, w),
        r.Get(t, "task_ttl_seconds", s.task_ttl_seconds, w),
        r.Get(t, "max_task_ttl_seconds", s.max_task_ttl_seconds, w),
        r.Get(t, "max_active_tasks", s.max_active_tasks, w)}) {
    if (!st) return st;
  }
  if (s.io_threads < 1 || s.io_threads > 64)
    return r.At(t, "server.io_threads must be between 1 and 64");
  if (s.worker_threads < 1 || s.worker_threads > 1024)
    return r.At(t, "server.worker_threads must be between 1 and 1024");
  if (s.tls_cert.empty() != s.tls_key.empty())
    return r.At(t, "server.tls_cert and server.tls_key go together");
  if (!s.client_ca.empty() && s.tls_cert.empty())
    return r.At(t, "server.client_ca needs tls_cert and tls_key");
  if (s.require_client_cert && s.client_ca.empty())
    return r.At(t, "server.require_client_cert needs client_ca");
  if (s.max_body_bytes < 1024 || s.max_header_bytes < 1024)
    return r.At(t, "server body and header limits must be at least 1024");
  if (s.max_connections < 1 || s.max_connections > 1'000'000)
    return r.At(t, "server.max_connections must be between 1 and 1000000");
  if (s.request_timeout_ms < 100)
    return r.At(t, "server.request_timeout_ms must be at least 100");
  if (s.max_active_tasks < 1)
    return r.At(t, "server.max_active_tasks must be at least 1");
  if (s.task_ttl_seconds < 1 || s.max_task_ttl_seconds < s.task_ttl_seconds)
    return r.At(t,
                "server.task_ttl_seconds must be at least 1 and at most "
                "max_task_ttl_seconds");
  return {};
}

Status ReadIssuer(const Reader& r, const toml::table& t, IssuerConfig& i) {
  const std::string w = "[[identity." + i.kind + "]]";
  if (Status st = r.OnlyKeys(
          t,
          {"name", "issuer", "trust_domain", "audience", "jwks_file",
           "jwks_uri", "ca_file", "jwks_refresh_seconds",
           "jwks_min_refresh_seconds", "principal", "attributes", "repo_claim"},
          w);
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "name", i.name, w), r.Get(t, "issuer", i.issuer, w),
        r.Get(t, "trust_domain", i.trust_domain, w),
        r.Get(t, "audience", i.audience, w),
        r.Get(t, "jwks_file", i.jwks_file, w),
        r.Get(t, "jwks_uri", i.jwks_uri, w), r.Get(t, "ca_file", i.ca_file, w),
        r.Get(t, "jwks_refresh_seconds", i.jwks_refresh_seconds, w),
        r.Get(t, "jwks_min_refresh_seconds", i.jwks_min_refresh_seconds, w),
        r.Get(t, "principal", i.principal, w),
        r.Get(t, "attributes", i.attributes, w),
        r.Get(t, "repo_claim", i.repo_claim, w)}) {
    if (!st) return st;
  }
  if (i.kind == "oidc" && i.issuer.empty())
    return r.At(t, w + " needs `issuer`");
  if (i.kind == "spiffe") {
    if (i.trust_domain.empty()) return r.At(t, w + " needs `trust_domain`");
    if (i.issuer.empty()) i.issuer = "spiffe://" + i.trust_domain;
  }
  if (i.audience.empty()) return r.At(t, w + " needs `audience`");
  if (i.jwks_file.empty() == i.jwks_uri.empty())
    return r.At(t, w + " needs exactly one of `jwks_file` and `jwks_uri`");
  if (i.jwks_refresh_seconds < 1 || i.jwks_min_refresh_seconds < 1)
    return r.At(t, w + " refresh intervals must be at least 1 second");
  if (i.name.empty()) i.name = i.issuer;
  return {};
}

Status ReadIdentity(const Reader& r, const toml::table& t, IdentityConfig& c) {
  if (Status st = r.OnlyKeys(
          t, {"oidc", "spiffe", "leeway_seconds", "x509_trust_domains"},
          "[identity]");
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "leeway_seconds", c.leeway_seconds, "identity"),
        r.Get(t, "x509_trust_domains", c.x509_trust_domains, "identity")}) {
    if (!st) return st;
  }
  if (c.leeway_seconds > 300)
    return r.At(t, "identity.leeway_seconds must be at most 300");
  for (const char* kind : {"oidc", "spiffe"}) {
    const toml::node* node = t.get(kind);
    if (!node) continue;
    const toml::array* arr = node->as_array();
    if (!arr) {
      return r.At(*node, "identity." + std::string(kind) +
                             " must be [[identity." + kind + "]] tables");
    }
    for (const toml::node& item : *arr) {
      const toml::table* it = item.as_table();
      if (!it) return r.At(item, "each identity issuer must be a table");
      IssuerConfig issuer;
      issuer.kind = kind;
      if (Status st = ReadIssuer(r, *it, issuer); !st) return st;
      for (const IssuerConfig& other : c.issuers) {
        if (other.name == issuer.name || other.issuer == issuer.issuer)
          return r.At(item,
                      "issuer `" + issuer.issuer + "` is configured twice");
      }
      c.issuers.push_back(std::move(issuer));
    }
  }
  return {};
}

Status ReadTicketProvider(const Reader& r, const toml::table& t,
                          TicketProviderConfig& p) {
  const std::string w = "[[tickets.providers]]";
  if (Status st =
          r.OnlyKeys(t,
                     {"name", "url_template", "state_pointer", "credential_env",
                      "credential_file", "header", "scheme", "cache_seconds",
                      "timeout_ms", "ca_file"},
                     w);
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "name", p.name, w),
        r.Get(t, "url_template", p.url_template, w),
        r.Get(t, "state_pointer", p.state_pointer, w),
        r.Get(t, "credential_env", p.credential_env, w),
        r.Get(t, "credential_file", p.credential_file, w),
        r.Get(t, "header", p.header, w), r.Get(t, "scheme", p.scheme, w),
        r.Get(t, "cache_seconds", p.cache_seconds, w),
        r.Get(t, "timeout_ms", p.timeout_ms, w),
        r.Get(t, "ca_file", p.ca_file, w)}) {
    if (!st) return st;
  }
  if (p.name.empty()) return r.At(t, w + " needs `name`");
  if (p.url_template.find("{id}") == std::string::npos)
    return r.At(t, w + " url_template must contain {id}");
  if (!p.state_pointer.empty() && p.state_pointer[0] != '/')
    return r.At(t, w + " state_pointer must be a JSON pointer such as /state");
  if (!p.credential_env.empty() && !p.credential_file.empty())
    return r.At(t, w + " takes credential_env or credential_file, not both");
  if (p.timeout_ms < 100)
    return r.At(t, w + " timeout_ms must be at least 100");
  return {};
}

Status ReadApprovalWebhook(const Reader& r, const toml::table& t,
                           ApprovalWebhookConfig& w) {
  const std::string where = "[[approvals.webhooks]]";
  if (Status st = r.OnlyKeys(t,
                             {"name", "url", "format", "events", "headers",
                              "timeout_ms", "ca_file", "max_attempts"},
                             where);
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "name", w.name, where), r.Get(t, "url", w.url, where),
        r.Get(t, "format", w.format, where),
        r.Get(t, "events", w.events, where),
        r.Get(t, "headers", w.headers, where),
        r.Get(t, "timeout_ms", w.timeout_ms, where),
        r.Get(t, "ca_file", w.ca_file, where),
        r.Get(t, "max_attempts", w.max_attempts, where)}) {
    if (!st) return st;
  }
  if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0)
    return r.At(t, where + " needs an http(s) `url`");
  if (w.name.empty()) {
    // Not the URL: a Slack incoming-webhook URL is itself a credential.
    std::string rest = w.url.substr(w.url.find("//") + 2);
    w.name = "webhook:" + rest.substr(0, rest.find_first_of("/?#"));
  }
  if (w.format != "json" && w.format != "slack")
    return r.At(t, where + " format must be \"json\" or \"slack\"");
  for (const std::string& e : w.events) {
    if (e != "requested" && e != "decided")
      return r.At(t, where + " events are \"requested\" and \"decided\"");
  }
  if (w.max_attempts < 1) return r.At(t, where + " max_attempts must be >= 1");
  if (w.timeout_ms < 100) return r.At(t, where + " timeout_ms must be >= 100");
  return {};
}

Status ReadConsoleOidc(const Reader& r, const toml::table& t,
                       ConsoleOidcConfig& o) {
  const std::string where = "[approvals.oidc]";
  if (Status st =
          r.OnlyKeys(t,
                     {"issuer", "client_id", "client_secret_file", "scopes",
                      "name_claim", "groups_claim", "role", "ca_file"},
                     where);
      !st) {
    return st;
  }
  for (Status st : {r.Get(t, "issuer", o.issuer, where),
                    r.Get(t, "client_id", o.client_id, where),
                    r.Get(t, "client_secret_file", o.client_secret_file, where),
                    r.Get(t, "scopes", o.scopes, where),
                    r.Get(t, "name_claim", o.name_claim, where),
                    r.Get(t, "groups_claim", o.groups_claim, where),
                    r.Get(t, "role", o.role, where),
                    r.Get(t, "required_groups", o.required_groups, where),
                    r.Get(t, "ca_file", o.ca_file, where)}) {
    if (!st) return st;
  }
  if (o.issuer.rfind("http://", 0) != 0 && o.issuer.rfind("https://", 0) != 0)
    return r.At(t, where + " needs an http(s) `issuer`");
  if (o.client_id.empty()) return r.At(t, where + " needs `client_id`");
  if (o.role != "approver" && o.role != "auditor")
    return r.At(t, where + " role must be \"approver\" or \"auditor\"");
  return {};
}

Status ReadApprovals(const Reader& r, const toml::table& t,
                     ApprovalsConfig& a) {
  if (Status st = r.OnlyKeys(t,
                             {"ttl_seconds", "max_pending_per_task", "max_uses",
                              "max_wait_seconds", "max_waiters", "console_url",
                              "session_ttl_seconds", "webhooks", "oidc"},
                             "[approvals]");
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "ttl_seconds", a.ttl_seconds, "approvals"),
        r.Get(t, "max_pending_per_task", a.max_pending_per_task, "approvals"),
        r.Get(t, "max_uses", a.max_uses, "approvals"),
        r.Get(t, "max_wait_seconds", a.max_wait_seconds, "approvals"),
        r.Get(t, "max_waiters", a.max_waiters, "approvals"),
        r.Get(t, "console_url", a.console_url, "approvals"),
        r.Get(t, "session_ttl_seconds", a.session_ttl_seconds, "approvals")}) {
    if (!st) return st;
  }
  if (a.ttl_seconds < 1 || a.ttl_seconds > 7 * 24 * 3600)
    return r.At(t, "approvals.ttl_seconds must be 1 .. 604800");
  if (a.max_pending_per_task < 1)
    return r.At(t, "approvals.max_pending_per_task must be at least 1");
  if (a.max_uses < 1) return r.At(t, "approvals.max_uses must be at least 1");
  if (a.max_wait_seconds > 3600)
    return r.At(t, "approvals.max_wait_seconds must be at most 3600");
  if (a.session_ttl_seconds < 60)
    return r.At(t, "approvals.session_ttl_seconds must be at least 60");
  if (const toml::node* hooks = t.get("webhooks")) {
    const toml::array* arr = hooks->as_array();
    if (!arr)
      return r.At(*hooks, "approvals.webhooks must be [[approvals.webhooks]]");
    for (const toml::node& item : *arr) {
      const toml::table* ht = item.as_table();
      if (!ht) return r.At(item, "each approval webhook must be a table");
      ApprovalWebhookConfig w;
      if (Status s = ReadApprovalWebhook(r, *ht, w); !s) return s;
      a.webhooks.push_back(std::move(w));
    }
  }
  if (const toml::node* oidc = t.get("oidc")) {
    const toml::table* ot = oidc->as_table();
    if (!ot) return r.At(*oidc, "approvals.oidc must be a table");
    ConsoleOidcConfig o;
    if (Status s = ReadConsoleOidc(r, *ot, o); !s) return s;
    a.oidc.push_back(std::move(o));
  }
  return {};
}

Status ReadProxy(const Reader& r, const toml::table& t, ProxyConfig& p) {
  if (Status st = r.OnlyKeys(
          t,
          {"enabled", "listen", "public_url", "routes", "upstreams",
           "upstream_ca_file", "ca_dir", "allow_private_hosts",
           "max_body_bytes", "max_header_bytes", "upstream_timeout_ms",
           "idle_timeout_ms", "request_timeout_ms", "max_connections"},
          "[proxy]");
      !st) {
    return st;
  }
  for (Status st :
       {r.Get(t, "enabled", p.enabled, "proxy"),
        r.Get(t, "listen", p.listen, "proxy"),
        r.Get(t, "public_url", p.public_url, "proxy"),
        r.Get(t, "routes", p.routes, "proxy"),
        r.Get(t, "upstream_ca_file", p.upstream_ca_file, "proxy"),
        r.Get(t, "ca_dir", p.ca_dir, "proxy"),
        r.Get(t, "allow_private_hosts", p.allow_private_hosts, "proxy"),
        r.Get(t, "max_body_bytes", p.max_body_bytes, "proxy"),
        r.Get(t, "max_header_bytes", p.max_header_bytes, "proxy"),
        r.Get(t, "upstream_timeout_ms", p.upstream_timeout_ms, "proxy"),
        r.Get(t, "idle_timeout_ms", p.idle_timeout_ms, "proxy"),
        r.Get(t, "request_timeout_ms", p.request_timeout_ms, "proxy"),
        r.Get(t, "max_connections", p.max_connections, "proxy")}) {
    if (!st) return st;
  }
  if (const toml::node* u = t.get("upstreams")) {
    const toml::array* arr = u->as_array();
    if (!arr) return r.At(*u, "proxy.upstreams must be [[proxy.upstreams]]");
    for (const toml::node& item : *arr) {
      const toml::table* ut = item.as_table();
      if (!ut) return r.At(item, "each upstream must be a table");
      UpstreamConfig up;
      if (Status st = r.OnlyKeys(*ut, {"name", "url"}, "[[proxy.upstreams]]");
          !st) {
        return st;
      }
      for (Status st : {r.Get(*ut, "name", up.name, "upstream"),
                        r.Get(*ut, "url", up.url, "upstream")}) {
        if (!st) return st;
      }
      if (up.name.empty() ||
          up.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
              std::string::npos) {
        return r.At(item,
                    "an upstream's name is lower-case letters, digits, "
                    "- and _");
      }
      if (up.url.rfind("http://", 0) != 0 && up.url.rfind("https://", 0) != 0)
        return r.At(item, "an upstream's url is http(s)://...");
      for (const UpstreamConfig& other : p.upstreams) {
        if (other.name == up.name)
          return r.At(item, "upstream `" + up.name + "` is configured twice");
      }
      p.upstreams.push_back(std::move(up));
    }
  }
  if (p.max_body_bytes < 1024)
    return r.At(t, "proxy.max_body_bytes must be at least 1024");
  if (p.max_header_bytes < 1024)
    return r.At(t, "proxy.max_header_bytes must be at least 1024");
  if (p.upstream_timeout_ms < 100 || p.idle_timeout_ms < 100 ||
      p.request_timeout_ms < 100)
    return r.At(t, "proxy timeouts must be at least 100 ms");
  return {};
}

// tether.toml must be ASCII (non-ASCII text in strings is written as
// \uXXXX escapes). toml++ 3.3 reaches an "unreachable" branch, undefined
// behaviour, on some non-ASCII characters in malformed input; ASCII input
// never gets there. Returns the offset of the first non-ASCII byte, or npos.
std::size_t FirstNonAscii(std::string_view t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (static_cast<unsigned char>(t[i]) >= 0x80) return i;
  }
  return std::string_view::npos;
}

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& name) {
  if (std::size_t bad = FirstNonAscii(text); bad != std::string_view::npos) {
    LineCol lc = ComputeLineCol(text, bad);
    return MakeError("invalid_config",
                     name + ":" + std::to_string(lc.line) + ":" +
                         std::to_string(lc.column) +
                         ": the configuration must be ASCII; write other "
                         "characters in strings as \\uXXXX escapes");
  }
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return MakeError("invalid_config", name + ":" + std::to_string(begin.line) +
                                           ":" + std::to_string(begin.column) +
                                           ": " + std::string(e.description()));
  }
  Reader r(name);
  Config c;
  c.source = name;
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (k == "store" || k == "audit" || k == "server" || k == "keys" ||
        k == "identity" || k == "resources" || k == "actions" ||
        k == "tickets" || k == "approvals" || k == "secrets" || k == "proxy") {
      continue;
    }
    if (!kOtherSections.count(k)) {
      return r.At(node, "unknown section or key `" + k + "`");
    }
  }
  if (const toml::node* store = root.get("store")) {
    const toml::table* t = store->as_table();
    if (!t) return r.At(*store, "[store] must be a table");
    if (Status s = r.OnlyKeys(*t, {"data_dir"}, "[store]"); !s)
      return s.error();
    if (Status s = r.Get(*t, "data_dir", c.data_dir, "store"); !s)
      return s.error();
    if (c.data_dir.empty())
      return r.At(*store, "store.data_dir must not be empty");
  }
  auto server = Section(r, root, "server");
  if (!server) return server.error();
  if (*server) {
    if (Status s = ReadServer(r, **server, c.server); !s) return s.error();
  }
  auto keys = Section(r, root, "keys");
  if (!keys) return keys.error();
  if (*keys) {
    if (Status s = r.OnlyKeys(**keys, {"dir"}, "[keys]"); !s) return s.error();
    if (Status s = r.Get(**keys, "dir", c.keys.dir, "keys"); !s)
      return s.error();
  }
  auto identity = Section(r, root, "identity");
  if (!identity) return identity.error();
  if (*identity) {
    if (Status s = ReadIdentity(r, **identity, c.identity); !s)
      return s.error();
  }
  auto resources = Section(r, root, "resources");
  if (!resources) return resources.error();
  if (*resources) {
    const toml::table& t = **resources;
    if (Status s =
            r.OnlyKeys(t, {"entities", "types", "open_types"}, "[resources]");
        !s) {
      return s.error();
    }
    for (Status s :
         {r.Get(t, "entities", c.resources.entities, "resources"),
          r.Get(t, "types", c.resources.types, "resources"),
          r.Get(t, "open_types", c.resources.open_types, "resources")}) {
      if (!s) return s.error();
    }
    for (const std::string& open : c.resources.open_types) {
      bool known = false;
      for (const std::string& type : c.resources.types) known |= type == open;
      if (!known) {
        return r.At(t, "resources.open_types names `" + open +
                           "`, which is not in resources.types");
      }
    }
  }
  auto actions = Section(r, root, "actions");
  if (!actions) return actions.error();
  if (*actions) {
    if (Status s = r.OnlyKeys(**actions, {"catalog"}, "[actions]"); !s)
      return s.error();
    if (Status s = r.Get(**actions, "catalog", c.actions.catalog, "actions");
        !s) {
      return s.error();
    }
  }
  auto tickets = Section(r, root, "tickets");
  if (!tickets) return tickets.error();
  if (*tickets) {
    if (Status s = r.OnlyKeys(**tickets, {"providers"}, "[tickets]"); !s)
      return s.error();
    if (const toml::node* p = (*tickets)->get("providers")) {
      const toml::array* arr = p->as_array();
      if (!arr)
        return r.At(*p, "tickets.providers must be [[tickets.providers]]");
      for (const toml::node& item : *arr) {
        const toml::table* pt = item.as_table();
        if (!pt) return r.At(item, "each ticket provider must be a table");
        TicketProviderConfig provider;
        if (Status s = ReadTicketProvider(r, *pt, provider); !s)
          return s.error();
        for (const auto& other : c.tickets.providers) {
          if (other.name == provider.name)
            return r.At(item, "ticket provider `" + provider.name +
                                  "` is configured twice");
        }
        c.tickets.providers.push_back(std::move(provider));
      }
    }
  }
  auto proxy = Section(r, root, "proxy");
  if (!proxy) return proxy.error();
  if (*proxy) {
    if (Status s = ReadProxy(r, **proxy, c.proxy); !s) return s.error();
  }
  auto approvals = Section(r, root, "approvals");
  if (!approvals) return approvals.error();
  if (*approvals) {
    if (Status s = ReadApprovals(r, **approvals, c.approvals); !s)
      return s.error();
  }
  auto secrets = Section(r, root, "secrets");
  if (!secrets) return secrets.error();
  if (*secrets) {
    if (Status s = r.OnlyKeys(**secrets, {"key_file"}, "[secrets]"); !s)
      return s.error();
    if (Status s = r.Get(**secrets, "key_file", c.secrets.key_file, "secrets");
        !s) {
      return s.error();
    }
    if (const toml::node* k = (*secrets)->get("key_file");
        k && c.secrets.key_file.empty()) {
      return r.At(*k, "secrets.key_file must not be empty");
    }
  }
  if (const toml::node* audit = root.get("audit")) {
    const toml::table* t = audit->as_table();
    if (!t) return r.At(*audit, "[audit] must be a table");
    AuditConfig& a = c.audit;
    if (Status s = r.OnlyKeys(*t,
                              {"checkpoint_every", "checkpoint_seconds",
                               "hmac_fields", "default_redact_patterns",
                               "redact_patterns", "witness_file", "sinks"},
                              "[audit]");
        !s) {
      return s.error();
    }
    for (Status s :
         {r.Get(*t, "checkpoint_every", a.checkpoint_every, "audit"),
          r.Get(*t, "checkpoint_seconds", a.checkpoint_seconds, "audit"),
          r.Get(*t, "hmac_fields", a.hmac_fields, "audit"),
          r.Get(*t, "default_redact_patterns", a.default_redact_patterns,
                "audit"),
          r.Get(*t, "redact_patterns", a.redact_patterns, "audit"),
          r.Get(*t, "witness_file", a.witness_file, "audit")}) {
      if (!s) return s.error();
    }
    if (a.checkpoint_every == 0) {
      return r.At(*t->get("checkpoint_every"),
                  "audit.checkpoint_every must be at least 1");
    }
    if (a.checkpoint_seconds == 0) {
      return r.At(*t->get("checkpoint_seconds"),
                  "audit.checkpoint_seconds must be at least 1");
    }
    if (const toml::node* sinks = t->get("sinks")) {
      const toml::array* arr = sinks->as_array();
      if (!arr)
        return r.At(*sinks, "audit.sinks must be [[audit.sinks]] tables");
      for (const toml::node& item : *arr) {
        const toml::table* st = item.as_table();
        if (!st) return r.At(item, "each audit sink must be a table");
        SinkConfig sink;
        if (Status s = ReadSink(r, *st, sink); !s) return s.error();
        a.sinks.push_back(std::move(sink));
      }
    }
  }
  return c;
}

Result<Config> LoadConfig(const std::string& path) {
  auto text = ReadFile(path, 1024 * 1024);
  if (!text) return MakeError("invalid_config", text.error().message);
  return ParseConfig(*text, path);
}

}  // namespace tether
