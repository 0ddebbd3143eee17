// The broker: tasks, task tokens, request-time authorization and revocation
// (DESIGN.md, "Flow"). Every edge turns a request into one call here; the
// broker decides with the policy engine and leaves one audit event.
//
// Decisions are made from memory (active tasks, revocations, the verified
// token cache and the policy bundle); tether.db is written when tasks start
// and end and when revocations arrive, before the answer is given, so a
// restart loses nothing acknowledged. Revocation takes effect for the very
// next request.
//
// Thread-safe. Calls may block on durable audit writes (and, when a cached
// ticket state is stale, on the ticket provider).
#ifndef TETHER_BROKER_BROKER_H_
#define TETHER_BROKER_BROKER_H_

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "audit/query.h"
#include "audit/setup.h"
#include "broker/approvals.h"
#include "broker/catalog.h"
#include "broker/keyring.h"
#include "broker/metrics.h"
#include "broker/notifier.h"
#include "broker/tickets.h"
#include "core/config.h"
#include "core/result.h"
#include "identity/operator_token.h"
#include "identity/principal.h"
#include "identity/workload.h"
#include "secrets/secret_store.h"
#include "store/state.h"

namespace tether::broker {

// A verified task token.
struct TaskCaller {
  std::string task_id;
  std::string jti;
  std::string subject;
  std::int64_t exp = 0;
};

// A result that is an answer, not an error, but not a success either (a
// denied task.create): the API sends `body` with `status`.
struct Reply {
  int status = 200;
  boost::json::object body;
};

// A request one of tether's own edges (the proxy) has parsed into an
// action, a resource and context, including the keys that edge sets
// (DESIGN.md, entity model: method, path, query, host, ref, old, new, ...).
struct EdgeRequest {
  std::string edge = "proxy";
  std::string action;
  std::string resource_type, resource_id;
  boost::json::object context;
  // SHA-256 (hex) of the request body: an approval binds it.
  std::string body_sha256;
  std::string approval_id;
  std::int64_t wait_seconds = 0;
};

struct BrokerOptions {
  Config config;
  std::string url;  // the broker's public URL (token issuer and audience)
  // Shortens the reaper's period (tests).
  std::int64_t reap_interval_ms = 1000;
};

class Broker {
 public:
  // Opens tether.db and the audit log, loads keys, policies and catalogs.
  // Error codes: "invalid_config", "invalid_policy", "invalid_catalog",
  // "insecure_key_file", store errors.
  static Result<std::unique_ptr<Broker>> Open(BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The admin token created at first start (empty afterwards).
  const std::string& bootstrap_admin_token() const { return bootstrap_token_; }
  const std::string& url() const { return options_.url; }

  // --- identity ---------------------------------------------------------
  // An operator token or a workload identity JWT. "identity_rejected"
  // (audited) on failure.
  Result<identity::Principal> AuthenticateBearer(std::string_view token,
                                                 std::string_view edge,
                                                 std::string_view remote);
  // A client certificate's SPIFFE ID (mTLS).
  Result<identity::Principal> AuthenticateX509(std::string_view spiffe_id,
                                               std::string_view remote);
  // A task token: signature, type, issuer, audience, expiry. Revocation and
  // task state are checked by each operation. "invalid_token" (audited).
  Result<TaskCaller> AuthenticateTask(std::string_view token,
                                      std::string_view remote);
  // True if `token` claims to be one of tether's task tokens (by its
  // header), so the API can route it without trying every verifier.
  static bool LooksLikeTaskToken(std::string_view token);

  // --- tasks ------------------------------------------------------------
  Result<Reply> CreateTask(const identity::Principal& caller,
                           const boost::json::value& body);
  Result<boost::json::object> GetTask(std::string_view id);
  // Query: active=true|false, limit, after.
  Result<boost::json::object> ListTasks(bool active_only, std::size_t limit,
                                        std::string_view after);
  Result<boost::json::object> EndTask(std::string_view id,
                                      std::string_view actor,
                                      std::string_view reason);
  Result<boost::json::object> Heartbeat(std::string_view id);
  // "task_inactive" when the caller's task has ended, expired or was
  // revoked (so a task token cannot even read its own task then).
  Status CheckTaskActive(const TaskCaller& caller);

  // --- decisions --------------------------------------------------------
  // The Decision JSON of DESIGN.md, once its audit event is durable.
  // Errors: "invalid_request" (400).
  Result<boost::json::object> Authorize(const TaskCaller& caller,
                                        const boost::json::value& body);
  // The same decision without blocking the calling thread: returns false at
  // once if deciding would block (a ticket lookup or a store read is due;
  // use Authorize on a thread that may block). Otherwise `done` runs exactly
  // once, with the answer, after the audit event is durable — possibly on
  // the audit log's writer thread, so it must be quick.
  // The same for a request an edge of tether's own parsed: its context may
  // carry that edge's keys, and the body's digest binds an approval.
  Result<boost::json::object> AuthorizeEdge(const TaskCaller& caller,
                                            const EdgeRequest& request);
  bool AuthorizeAsync(const TaskCaller& caller, const boost::json::value& body,
                      std::function<void(Result<boost::json::object>)> done);
  // A task token verified earlier and still cached (no verification here).
  std::optional<TaskCaller> CachedTaskToken(std::string_view token) const;

  // --- approvals (docs/approvals.md) ------------------------------------
  // {"approvals": [...], "next": id}; newest first. `state` may be empty.
  Result<boost::json::object> ListApprovals(std::string_view state,
                                            std::string_view task,
                                            std::size_t limit,
                                            std::string_view after);
  Result<boost::json::object> GetApproval(std::string_view id);
  // An approver's word: approve ({"reason", "uses"}) or deny ({"reason"}).
  // Errors: "not_found", "forbidden" (role, group, the task's own owner or
  // agent), "conflict" (already decided, expired, already approved by this
  // operator), "invalid_request", "audit_unavailable".
  Result<boost::json::object> DecideApproval(const identity::Principal& actor,
                                             std::string_view id, bool approve,
                                             const boost::json::value& body);
  // Whether operator or OIDC identity `subject` has been revoked (console
  // sessions and open streams check before each use).
  bool IdentityRevoked(std::string_view subject) const;
  // Whether an operator token names this operator (an OIDC sign-in may not
  // take the same name: it would count as that operator).
  bool OperatorNameTaken(std::string_view name) const {
    return operators_.HasName(name);
  }
  // Wakes every request waiting for an approval, for good (shutdown).
  void StopWaiting();
  const std::string& console_url() const { return console_url_; }

  // A proxied call's outcome, after its decision: `proxy.request` with the
  // upstream status (or the failure), bytes each way and the secret
  // injected (its name). Written without waiting (the decision was already
  // durable); a failure to record it is counted in metrics.
  struct ProxyCall {
    std::string task_id, decision_id, action, resource;
    std::string method, host, path;
    int status = 0;
    std::string error;  // upstream_unreachable, upstream_timeout, ...
    std::string secret;
    std::uint64_t bytes_up = 0, bytes_down = 0;
    std::int64_t latency_us = 0;
  };
  void RecordProxyCall(const ProxyCall& call);

  // What an agent's hook reports after a tool ran (`tether hook`): a
  // durable `tool.result` event on the task's trail. Body: {"tool",
  // "tool_use_id", "session", "agent", "ok", "output"}; the output is kept
  // as its SHA-256, its size and (redacted) its first 2 KiB.
  Result<boost::json::object> RecordToolResult(const TaskCaller& caller,
                                               const boost::json::value& body);

  // How agents reach the enforcement proxy (GET /v1/proxy): {"url",
  // "ca_pem", "hosts"}; empty when the proxy is off. Set once at start.
  void SetProxyInfo(boost::json::object info) {
    std::lock_guard lock(proxy_info_mu_);
    proxy_info_ = std::move(info);
  }
  boost::json::object ProxyInfo() const {
    std::lock_guard lock(proxy_info_mu_);
    return proxy_info_;
  }

  // --- upstream credentials (admin) ------------------------------------
  // {"value", "format": "bearer"|"basic"|"header", "user", "header",
  //  "bindings": [{"host", "path_prefix"}]}. Never returns a value; the
  // value is registered with the audit redactor before the answer.
  Result<boost::json::object> PutSecret(const identity::Principal& actor,
                                        std::string_view name,
                                        const boost::json::value& body);
  Result<boost::json::object> ListSecrets();
  Result<boost::json::object> DeleteSecret(const identity::Principal& actor,
                                           std::string_view name);
  secrets::SecretStore& secret_store() { return *secrets_; }
  // Every secret, decrypted once and swapped whole on each put or delete:
  // the proxy reads it per call without touching the store.
  std::shared_ptr<const std::vector<secrets::Secret>> Secrets() const {
    return secrets_cache_.load();
  }

  // --- administration ---------------------------------------------------
  Result<boost::json::object> Revoke(const identity::Principal& actor,
                                     const boost::json::value& body);
  Result<boost::json::object> Reload(std::string_view actor);
  Result<boost::json::object> RotateKeys(std::string_view actor);
  Result<boost::json::object> CreateOperatorToken(
      const identity::Principal& actor, const boost::json::value& body);

  // The audit log, read back (auditors): {"events": [...], "next": seq}.
  Result<boost::json::object> QueryAudit(audit::EventFilter filter);
  // Verifies the whole chain and its checkpoints.
  Result<boost::json::object> VerifyAudit();

  std::string Jwks() const { return keyring_->Jwks(); }
  // Whether the action catalog in force has `action`.
  bool HasAction(std::string_view action) const {
    return bundle_.load()->actions->Has(action);
  }
  std::string MetricsText() const;
  // Ready: policies loaded and the audit log writable.
  bool Ready() const;
  Metrics& metrics() { return metrics_; }
  audit::AuditLog& audit_log() { return *audit_.log; }

 private:
  struct TaskState;
  // A decision made, with its audit event not yet written.
  struct Decided {
    boost::json::object decision;
    audit::Event event;
    Outcome outcome = Outcome::kDeny;
    std::chrono::steady_clock::time_point started;
    // approval_required: what an approval binds and needs.
    std::vector<ApprovalRequirement> requirements;
    boost::json::object bound_context;
    std::string resource_type, resource_id;
    boost::json::object resource_attrs;
    std::string body_sha256;
    std::string approval_id;  // named by the caller
    std::int64_t wait_ms = 0;
  };
  // What an edge of tether's own adds to a request it parsed.
  struct EdgeFacts {
    std::string edge;
    std::string body_sha256;
  };
  Result<Decided> Decide(const TaskCaller& caller,
                         const boost::json::value& body, bool may_block,
                         const EdgeFacts* facts = nullptr);
  Result<boost::json::object> AuthorizeBlocking(const TaskCaller& caller,
                                                const boost::json::value& body,
                                                const EdgeFacts* facts);
  // The answer once the event's fate is known (deny if it was not written).
  boost::json::object Finish(const Decided& d,
                             const Result<std::uint64_t>& audited);
  bool TicketRefreshDue(const TaskState& task, std::int64_t now_ms) const;
  // Turns an approval_required decision into its answer: uses a matching
  // approved approval (allow), joins a pending one, refuses a denied or
  // spent one, or raises a new approval. Writes the approval's state and
  // events before returning. Blocks.
  void ResolveApproval(const TaskCaller& caller, Decided& d);
  // Waits (up to `until`) while approval `id` is pending; false if it is
  // still pending.
  bool WaitForApproval(const std::string& task_id, const std::string& id,
                       std::chrono::steady_clock::time_point until);
  // Ends approvals past their expiry or whose task is over.
  void ExpireApprovals(std::int64_t now_ms);
  Status LoadApprovals();
  // Records and stores an approval's new state: the audit event first (no
  // state without its record), then tether.db. Caller holds approvals_mu_.
  Status CommitApproval(const Approval& a, audit::Event event);
  audit::Event ApprovalEvent(const Approval& a, std::string type) const;
  std::string ApprovalKey(std::string_view task, std::string_view digest) const;
  struct Revoked {
    std::set<std::string, std::less<>> tasks, tokens, subjects;
    std::int64_t all_before_ms = 0;
  };

  explicit Broker(BrokerOptions options);
  Status Init();
  void ReapLoop();
  void ReapOnce(std::int64_t now_ms);
  std::shared_ptr<const TaskState> FindActive(std::string_view id) const;
  // Why the task may not act, or "" if it may.
  std::string InactiveReason(const TaskState& t, const TaskCaller* caller,
                             std::int64_t now_ms) const;
  Status EndTaskLocked(const std::string& id, std::int64_t now_ms,
                       std::string_view actor, std::string_view reason);
  Result<std::uint64_t> Audit(audit::Event event);
  std::shared_ptr<const TaskState> RefreshTicket(
      std::shared_ptr<const TaskState> task, std::int64_t now_ms);
  boost::json::object TaskJson(const store::TaskRecord& t) const;
  void RejectIdentity(std::string_view edge, std::string_view remote,
                      const std::string& why);

  BrokerOptions options_;
  std::unique_ptr<store::StateStore> state_;
  std::unique_ptr<secrets::SecretStore> secrets_;
  std::mutex secrets_mu_;  // serializes puts with their redactor swaps
  std::atomic<std::shared_ptr<const std::vector<secrets::Secret>>>
      secrets_cache_;
  Status ReloadSecrets();
  mutable std::mutex proxy_info_mu_;
  boost::json::object proxy_info_;
  audit::AuditSystem audit_;
  std::unique_ptr<SigningKeyring> keyring_;
  std::unique_ptr<identity::WorkloadVerifier> workloads_;
  identity::OperatorDirectory operators_;
  std::unique_ptr<TicketProviders> tickets_;
  std::atomic<std::shared_ptr<const PolicyBundle>> bundle_;
  std::mutex reload_mu_;
  Metrics metrics_;
  std::string bootstrap_token_;

  // Active tasks and revocations: read on every decision.
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TaskState>>
      tasks_;        // guarded by mu_
  Revoked revoked_;  // guarded by mu_
  // Serializes task ends and revocations (state DB writes + map updates).
  std::mutex write_mu_;

  // Verified task tokens by SHA-256 of the token text.
  struct CachedToken {
    TaskCaller caller;
  };
  mutable std::mutex cache_mu_;
  std::unordered_map<std::string, CachedToken> token_cache_;  // guarded

  // identity.reject audit records per remote address (rate-limited).
  struct RejectWindow {
    std::int64_t last_ms = 0;
    std::uint64_t suppressed = 0;
  };
  std::mutex reject_mu_;
  std::unordered_map<std::string, RejectWindow> reject_log_;  // guarded

  // Approvals not yet past their expiry (pending, approved, denied), by id,
  // and by task + request digest. Requests waiting for a decision wait on
  // approvals_cv_.
  std::string console_url_;
  std::mutex approvals_mu_;
  std::condition_variable approvals_cv_;
  std::map<std::string, Approval, std::less<>> approvals_;         // guarded
  std::map<std::string, std::string, std::less<>> approval_keys_;  // guarded
  std::int64_t waiters_ = 0;  // guarded by approvals_mu_
  std::map<std::string, std::int64_t, std::less<>> task_waiters_;  // guarded
  bool stop_waiting_ = false;  // guarded by approvals_mu_
  std::unique_ptr<ApprovalNotifier> notifier_;

  std::mutex reap_mu_;
  std::condition_variable reap_cv_;
  bool stop_ = false;  // guarded by reap_mu_
  std::thread reaper_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_BROKER_H_
