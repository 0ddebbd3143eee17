// tether.toml: one file, sections as in DESIGN.md. Parsed once at start-up;
// a mistake (unknown key, wrong type, bad value) is an error naming
// file:line:col, never ignored.
#ifndef TETHER_CORE_CONFIG_H_
#define TETHER_CORE_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether {

struct SinkConfig {
  std::string type;  // "file" | "webhook"
  std::string name;
  std::string records = "events";  // "events" | "checkpoints" (a witness)
  // file
  std::string path;
  std::uint64_t max_bytes = 100 * 1024 * 1024;
  int max_files = 5;
  // webhook
  std::string url;
  std::map<std::string, std::string> headers;
  std::int64_t timeout_ms = 10'000;
  std::string ca_file;
};

struct AuditConfig {
  std::uint64_t checkpoint_every = 1000;
  std::int64_t checkpoint_seconds = 60;
  std::vector<std::string> hmac_fields;
  bool default_redact_patterns = true;
  std::vector<std::string> redact_patterns;  // in addition to the defaults
  std::string witness_file;                  // checkpoints as json lines
  std::vector<SinkConfig> sinks;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8700";  // host:port; port 0 picks one
  // The broker's public URL: issuer and audience of task tokens. Default
  // http(s)://<listen address>.
  std::string url;
  int io_threads = 2;       // network threads
  int worker_threads = 64;  // handlers (they wait for durable audit)
  std::string tls_cert;     // PEM chain; with tls_key enables HTTPS
  std::string tls_key;
  std::string client_ca;  // PEM bundle: verify client certificates (mTLS)
  bool require_client_cert = false;
  std::uint64_t max_body_bytes = 1024 * 1024;
  // Room for a 16 KiB token in a header, so it reaches the verifier.
  std::uint64_t max_header_bytes = 32 * 1024;
  std::int64_t request_timeout_ms = 30'000;
  std::int64_t max_connections = 4096;         // open at once; more are closed
  std::string policies = "examples/policies";  // directory of *.cedar
  bool metrics_public = false;                 // serve /metrics beyond loopback
  std::int64_t task_ttl_seconds = 3600;
  std::int64_t max_task_ttl_seconds = 24 * 3600;
  // Active tasks live in memory (~2.3 KB each); more are refused (429).
  std::int64_t max_active_tasks = 200'000;
};

struct KeysConfig {
  std::string dir;  // default <data_dir>/keys
};

// A workload identity issuer: OIDC ("oidc") or SPIFFE JWT-SVIDs ("spiffe").
struct IssuerConfig {
  std::string kind;
  std::string name;
  std::string issuer;        // oidc: the exact `iss`
  std::string trust_domain;  // spiffe: `sub` must be spiffe://<domain>/...
  std::string audience;
  std::string jwks_file;
  std::string jwks_uri;
  std::string ca_file;  // for an https jwks_uri; empty: system store
  std::int64_t jwks_refresh_seconds = 3600;
  // An unknown `kid` triggers at most one refresh per this interval.
  std::int64_t jwks_min_refresh_seconds = 30;
  // The principal entity: `Type::"template"` with {claim} placeholders.
  std::string principal = "Agent::\"{sub}\"";
  // Principal attributes from claims: attribute name -> claim name.
  std::map<std::string, std::string> attributes;
  // A claim naming the repository the identity is bound to (GitHub Actions:
  // `repository`); canonicalized and given to policy as the principal's
  // `repo` attribute, a Repo entity.
  std::string repo_claim;
};

struct IdentityConfig {
  std::vector<IssuerConfig> issuers;
  std::int64_t leeway_seconds = 30;
  // Accept X.509-SVIDs (client certificates with a spiffe:// URI SAN) from
  // these trust domains over mTLS, as principal Agent::"<spiffe id>".
  std::vector<std::string> x509_trust_domains;
};

struct ResourcesConfig {
  // Cedar entity JSON with the catalog's attributes and parents.
  std::string entities;
  // Resource types a request may name; others are denied.
  std::vector<std::string> types = {"Repo",   "Host",     "Secret",
                                    "Tool",   "Registry", "Environment",
                                    "Ticket", "Task"};
  // Types whose attributes a caller may add to (never override).
  std::vector<std::string> open_types = {"Host", "Tool"};
};

struct ActionsConfig {
  std::string catalog = "examples/actions.json";
};

// Where a task's ticket state is looked up (docs/quickstart.md).
struct TicketProviderConfig {
  std::string name;
  // {id} and {repo} are replaced (percent-encoded) by the ticket's id and
  // the task's repository.
  std::string url_template;
  std::string state_pointer = "/state";  // RFC 6901 JSON pointer
  // The credential: read from this environment variable or file at start,
  // sent as `<header>: <scheme> <credential>`.
  std::string credential_env;
  std::string credential_file;
  std::string header = "Authorization";
  std::string scheme = "Bearer";
  std::int64_t cache_seconds = 60;
  std::int64_t timeout_ms = 5000;
  std::string ca_file;
};

struct TicketsConfig {
  std::vector<TicketProviderConfig> providers;  // the first is the default
};

// Where new and decided approvals are announced (docs/approvals.md).
struct ApprovalWebhookConfig {
  std::string name;
  std::string url;
  std::string format = "json";  // "json" | "slack"
  // Which announcements: "requested", "decided" (approved, denied, expired).
  std::vector<std::string> events = {"requested", "decided"};
  std::map<std::string, std::string> headers;
  std::int64_t timeout_ms = 10'000;
  std::string ca_file;
  int max_attempts = 6;  // backoff 1 s, 2 s, 4 s ... between them
};

// Human sign-in to the console through an OIDC provider (authorization
// code flow with PKCE). The ID token's claims name the operator and groups.
struct ConsoleOidcConfig {
  std::string issuer;  // discovery at <issuer>/.well-known/openid-configuration
  std::string client_id;
  std::string client_secret_file;  // 0600; empty for a public client
  std::string scopes = "openid profile email";
  std::string name_claim = "email";
  std::string groups_claim = "groups";
  std::string role = "approver";  // the role every such sign-in gets
  // If set, only members of one of these groups may sign in.
  std::vector<std::string> required_groups;
  std::string ca_file;
};

struct ApprovalsConfig {
  std::int64_t ttl_seconds = 900;  // a new approval's lifetime
  std::int64_t max_pending_per_task = 10;
  std::int64_t max_uses = 100;  // the most uses an approver may grant
  // `wait_seconds` in /v1/authorize is capped at this, and at most
  // `max_waiters` requests wait at once (each holds a handler thread).
  std::int64_t max_wait_seconds = 300;
  std::int64_t max_waiters = 32;
  // The console's address in notifications; default <server url>/ui/.
  std::string console_url;
  std::int64_t session_ttl_seconds = 12 * 3600;  // console sign-in
  std::vector<ApprovalWebhookConfig> webhooks;
  std::vector<ConsoleOidcConfig> oidc;  // at most one
};

// The store of upstream credentials (src/secrets/secret_store.h).
// A named upstream for clients that take a base URL: requests to
// <proxy>/u/<name>/<path> go to <url>/<path>.
struct UpstreamConfig {
  std::string name;
  std::string url;  // http(s)://host[:port][/base]
};

// The enforcement proxy (docs/proxy.md).
struct ProxyConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:8701";  // host:port; port 0 picks one
  // How agents reach the proxy, as `tether run` is told (GET /v1/proxy);
  // default http://<listen address>:<port>.
  std::string public_url;
  // Route files (or directories of *.json).
  std::vector<std::string> routes = {"examples/routes"};
  std::vector<UpstreamConfig> upstreams;
  // Verifies upstream servers; empty: the system trust store.
  std::string upstream_ca_file;
  // tether's CA for intercepted tunnels (created at first start, key
  // 0600): proxy-ca.key and proxy-ca.pem in this directory. Default: the
  // key in the keys directory, the certificate in the data directory.
  std::string ca_dir;
  // Hosts that may resolve to loopback, private, link-local or metadata
  // addresses (by default such destinations are refused).
  std::vector<std::string> allow_private_hosts;
  // The largest body read whole to decide on (git push packs stream).
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;
  std::uint64_t max_header_bytes = 64 * 1024;
  std::int64_t upstream_timeout_ms = 60'000;
  std::int64_t idle_timeout_ms = 120'000;  // each read from a client
  // A whole request, from its first byte (large pushes included).
  std::int64_t request_timeout_ms = 300'000;
  std::int64_t max_connections = 1024;
};

struct SecretsConfig {
  // The AES-256 master key, a 0600 file created on first use. Default
  // <keys dir>/secrets.key.
  std::string key_file;
};

struct Config {
  std::string source;  // the file it came from, or "" for defaults
  std::string data_dir = "tether-data";
  ServerConfig server;
  KeysConfig keys;
  IdentityConfig identity;
  ResourcesConfig resources;
  ActionsConfig actions;
  TicketsConfig tickets;
  ApprovalsConfig approvals;
  ProxyConfig proxy;
  SecretsConfig secrets;
  AuditConfig audit;
};

// Parses TOML text; `name` is used in error messages (code
// "invalid_config", message "name:line:col: ...").
Result<Config> ParseConfig(std::string_view text, const std::string& name);
Result<Config> LoadConfig(const std::string& path);

}  // namespace tether

#endif  // TETHER_CORE_CONFIG_H_
