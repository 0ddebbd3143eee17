#include "broker/broker.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "audit/setup.h"
#include "audit/verify.h"
#include "broker/fields.h"
#include "core/canonical_json.h"
#include "core/crypto.h"
#include "core/entity_ids.h"
#include "core/json.h"
#include "core/time.h"
#include "policy/authorizer.h"
#include "policy/request.h"
#include "policy/value_json.h"
#include "token/jwt.h"

namespace tether::broker {
namespace {

namespace json = boost::json;
using identity::Principal;
using identity::PrincipalKind;

constexpr std::string_view kTaskTokenType = "tether-task+jwt";
const policy::RecordData kEmptyRecord{};

// Context keys tether sets or an edge parses; a caller may state only `ref`
// (DESIGN.md, entity model).
const std::set<std::string, std::less<>> kReservedContextKeys = {
    "now",    "edge", "ref_task", "old",  "new",  "is_create", "is_delete",
    "method", "path", "query",    "host", "base", "head",      "file_path"};

json::value EntityJson(std::string_view type, std::string_view id) {
  return json::object{{"__entity", json::object{{"type", type}, {"id", id}}}};
}

bool ValidLabel(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
          c == '.' || c == ':')) {
      return false;
    }
  }
  return true;
}

bool ValidEnvironment(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

std::string NewId(char prefix) {
  return std::string(1, prefix) + HexEncode(RandomBytes(12));
}

std::string TokenDigest(std::string_view token) {
  Sha256Digest d = Sha256(token);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::int64_t Seconds(std::int64_t ms) { return ms / 1000; }

// Decide() without blocking found it would have to (a store read, a ticket
// lookup): the caller retries where blocking is allowed.
constexpr std::string_view kWouldBlock = "would_block";
Error WouldBlock() {
  return MakeError(std::string(kWouldBlock), "would block");
}

}  // namespace

// An active task as policy sees it, built once from its record: the Task
// and Agent entities' uids and attributes live in the state's own storage,
// sized exactly (100,000 of these are held in memory), so a decision borrows
// them instead of rebuilding them. Immutable; a change (heartbeat, ticket
// refresh) makes a new state.
struct Broker::TaskState {
  explicit TaskState(std::size_t bytes)
      : storage(new char[bytes]), arena(storage.get(), bytes) {}

  // What the broker consults about an active task (the rest of its record
  // is in tether.db); strings point into `arena`.
  struct Facts {
    std::string_view id, subject, token_jti, ticket_provider, ticket_id;
    std::int64_t created_ms = 0, expires_ms = 0, lease_seconds = 0,
                 heartbeat_ms = 0, ticket_checked_ms = 0;
  };
  Facts rec;
  std::unique_ptr<char[]> storage;  // before `arena`, which lives in it
  Arena arena;
  const policy::EntityUid* task = nullptr;
  const policy::EntityUid* agent = nullptr;
  const policy::EntityUid* owner = nullptr;
  const policy::EntityUid* repo = nullptr;
  const policy::EntityUid* environment = nullptr;
  const policy::RecordData* task_attrs = &kEmptyRecord;
  const policy::RecordData* agent_attrs = &kEmptyRecord;

  static std::shared_ptr<const TaskState> Make(const store::TaskRecord& rec);
  // Builds the entities into `a`, setting the pointers of `into`.
  static void Build(const store::TaskRecord& r, Arena& a, TaskState& into);
};

void Broker::TaskState::Build(const store::TaskRecord& r, Arena& a,
                              TaskState& into) {
  into.rec.id = a.CopyString(r.id);
  into.rec.subject = a.CopyString(r.subject);
  into.rec.token_jti = a.CopyString(r.token_jti);
  into.rec.ticket_provider = a.CopyString(r.ticket_provider);
  into.rec.ticket_id = a.CopyString(r.ticket_id);
  into.rec.created_ms = r.created_ms;
  into.rec.expires_ms = r.expires_ms;
  into.rec.lease_seconds = r.lease_seconds;
  into.rec.heartbeat_ms = r.heartbeat_ms;
  into.rec.ticket_checked_ms = r.ticket_checked_ms;
  into.task = policy::MakeUid(a, "Task", r.id);
  into.agent = policy::MakeUid(a, r.agent_type, r.agent_id);
  into.owner = policy::MakeUid(a, r.owner_type, r.owner_id);
  into.repo = policy::MakeUid(a, "Repo", r.repo);
  into.environment = policy::MakeUid(a, "Environment", r.environment);
  auto labels = ParseJson(r.labels);
  json::object attrs{
      {"agent", EntityJson(r.agent_type, r.agent_id)},
      {"owner", EntityJson(r.owner_type, r.owner_id)},
      {"repo", EntityJson("Repo", r.repo)},
      {"environment", EntityJson("Environment", r.environment)},
      {"labels", labels && labels->is_array() ? *labels : json::array{}},
      {"intent", r.intent},
      {"ticket", json::object{{"id", r.ticket_id},
                              {"state", r.ticket_state},
                              {"verified", r.ticket_verified}}}};
  // Both were validated when the task started; a record that no longer
  // converts leaves the attributes empty, which policy treats as missing.
  if (auto v = policy::ValueFromJson(json::value(attrs), a, "the task");
      v && v->is(policy::ValueKind::kRecord)) {
    into.task_attrs = &v->AsRecord();
  }
  auto agent = ParseJson(r.agent_attrs);
  if (agent && agent->is_object()) {
    if (auto v = policy::ValueFromJson(*agent, a, "the agent");
        v && v->is(policy::ValueKind::kRecord)) {
      into.agent_attrs = &v->AsRecord();
    }
  }
}

std::shared_ptr<const Broker::TaskState> Broker::TaskState::Make(
    const store::TaskRecord& rec) {
  // Once to learn the size, once into storage of exactly that size.
  std::size_t bytes;
  {
    TaskState probe(0);
    Arena scratch;
    Build(rec, scratch, probe);
    bytes = scratch.used();
  }
  auto t = std::make_shared<TaskState>(bytes);
  Build(rec, t->arena, *t);
  return t;
}

Broker::Broker(BrokerOptions options) : options_(std::move(options)) {}

Broker::~Broker() {
  StopWaiting();
  {
    std::lock_guard lock(reap_mu_);
    stop_ = true;
  }
  reap_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

Result<std::unique_ptr<Broker>> Broker::Open(BrokerOptions options) {
  std::unique_ptr<Broker> b(new Broker(std::move(options)));
  if (Status s = b->Init(); !s) return s.error();
  return b;
}

Status Broker::Init() {
  const Config& config = options_.config;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return MakeError("store_io",
                     "cannot create " + config.data_dir + ": " + ec.message());
  }
  auto bundle = LoadPolicyBundle(config);
  if (!bundle) return bundle.error();
  bundle_.store(*bundle);
  auto state = store::StateStore::Open(config.data_dir + "/tether.db");
  if (!state) return state.error();
  state_ = std::move(*state);
  // Upstream credentials, encrypted at rest; their values are registered
  // with the audit redactor before the first event is written.
  auto secret_store = secrets::SecretStore::Open(config.data_dir + "/tether.db",
                                                 secrets::KeyPath(config));
  if (!secret_store) return secret_store.error();
  secrets_ = std::move(*secret_store);
  auto values = secrets_->AllValues();
  if (!values) return values.error();
  if (Status s = ReloadSecrets(); !s) return s;
  auto audit = audit::OpenAuditSystem(config, std::move(*values));
  if (!audit) return audit.error();
  audit_ = std::move(*audit);
  std::string keys_dir =
      config.keys.dir.empty() ? audit::KeysDir(config) : config.keys.dir;
  std::int64_t retain_ms = (config.server.max_task_ttl_seconds +
                            config.identity.leeway_seconds + 60) *
                           1000;
  auto ring = SigningKeyring::Open(*state_, keys_dir, retain_ms, NowMs());
  if (!ring) return ring.error();
  keyring_ = std::move(*ring);
  auto workloads =
      identity::WorkloadVerifier::Create(config.identity, options_.url);
  if (!workloads) return workloads.error();
  workloads_ = std::move(*workloads);
  auto tickets = TicketProviders::Create(config.tickets);
  if (!tickets) return tickets.error();
  tickets_ = std::move(*tickets);

  auto ops = state_->Operators();
  if (!ops) return ops.error();
  for (auto& op : *ops) operators_.Put(std::move(op));
  if (operators_.size() == 0) {
    auto made = identity::MakeOperatorToken("admin", "admin", {}, NowMs());
    if (!made) return made.error();
    if (Status s = state_->InsertOperator(made->record); !s) return s;
    operators_.Put(made->record);
    bootstrap_token_ = made->token;
    audit::Event e;
    e.type = "token.create";
    e.principal = Uid("Operator", "admin");
    e.detail["name"] = "admin";
    e.detail["role"] = "admin";
    e.detail["bootstrap"] = true;
    (void)Audit(std::move(e));
  }

  auto revocations = state_->Revocations();
  if (!revocations) return revocations.error();
  for (const auto& r : *revocations) {
    if (r.kind == "task") revoked_.tasks.insert(r.value);
    if (r.kind == "token") revoked_.tokens.insert(r.value);
    if (r.kind == "identity") revoked_.subjects.insert(r.value);
    if (r.kind == "all")
      revoked_.all_before_ms = std::max(revoked_.all_before_ms, r.before_ms);
  }
  auto active = state_->ActiveTasks();
  if (!active) return active.error();
  for (auto& rec : *active) {
    std::string id = rec.id;
    tasks_.emplace(std::move(id), TaskState::Make(std::move(rec)));
  }
  console_url_ = config.approvals.console_url.empty()
                     ? options_.url + "/ui/"
                     : config.approvals.console_url;
  if (console_url_.back() != '/') console_url_ += '/';
  if (Status s = LoadApprovals(); !s) return s;
  notifier_ =
      std::make_unique<ApprovalNotifier>(config.approvals.webhooks, metrics_);
  reaper_ = std::thread([this] { ReapLoop(); });
  return {};
}

// --- identity ---------------------------------------------------------------

void Broker::RejectIdentity(std::string_view edge, std::string_view remote,
                            const std::string& why) {
  metrics_.IdentityReject();
  // Every rejection is counted; the audit records at most one per remote
  // address per second (with how many it stands for), so a client without
  // credentials cannot turn bad tokens into unbounded durable writes.
  std::int64_t now = NowMs();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(reject_mu_);
    if (reject_log_.size() > 10'000) reject_log_.clear();
    RejectWindow& w = reject_log_[std::string(remote)];
    if (now - w.last_ms < 1000) {
      ++w.suppressed;
      return;
    }
    suppressed = w.suppressed;
    w = {now, 0};
  }
  audit::Event e;
  if (suppressed) e.detail["suppressed_since_last"] = suppressed;
  e.type = "identity.reject";
  e.edge = std::string(edge);
  e.reasons = {why};
  if (!remote.empty()) e.detail["remote"] = std::string(remote);
  (void)Audit(std::move(e));
}

Result<Principal> Broker::AuthenticateBearer(std::string_view token,
                                             std::string_view edge,
                                             std::string_view remote) {
  Result<Principal> p = identity::LooksLikeOperatorToken(token)
                            ? operators_.Verify(token)
                            : workloads_->Verify(token, Seconds(NowMs()));
  if (!p) {
    RejectIdentity(edge, remote, p.error().message);
    return p;
  }
  bool revoked;
  {
    std::shared_lock lock(mu_);
    revoked = revoked_.subjects.count(p->subject) > 0;
  }
  if (revoked) {
    RejectIdentity(edge, remote, "the identity has been revoked");
    return MakeError("identity_rejected", "the identity has been revoked");
  }
  return p;
}

bool Broker::IdentityRevoked(std::string_view subject) const {
  std::shared_lock lock(mu_);
  return revoked_.subjects.count(subject) > 0;
}

Result<Principal> Broker::AuthenticateX509(std::string_view spiffe_id,
                                           std::string_view remote) {
  auto p = workloads_->FromX509Svid(spiffe_id);
  if (!p) {
    RejectIdentity("api", remote, p.error().message);
    return p;
  }
  std::shared_lock lock(mu_);
  if (revoked_.subjects.count(p->subject)) {
    lock.unlock();
    RejectIdentity("api", remote, "the identity has been revoked");
    return MakeError("identity_rejected", "the identity has been revoked");
  }
  return p;
}

bool Broker::LooksLikeTaskToken(std::string_view token) {
  std::size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot > 4096) return false;
  auto header = Base64UrlDecode(token.substr(0, dot));
  return header && header->find(kTaskTokenType) != std::string::npos;
}

std::optional<TaskCaller> Broker::CachedTaskToken(
    std::string_view token) const {
  std::string digest = TokenDigest(token);
  std::int64_t now = NowMs();
  std::lock_guard lock(cache_mu_);
  auto it = token_cache_.find(digest);
  if (it == token_cache_.end() || it->second.caller.exp * 1000 <= now) {
    return std::nullopt;
  }
  return it->second.caller;
}

Result<TaskCaller> Broker::AuthenticateTask(std::string_view token,
                                            std::string_view remote) {
  if (std::optional<TaskCaller> cached = CachedTaskToken(token)) {
    return *cached;
  }
  std::int64_t now = NowMs();
  token::VerifyPolicy policy;
  policy.issuer = options_.url;
  policy.audience = options_.url;
  policy.type = std::string(kTaskTokenType);
  policy.now = Seconds(now);
  policy.leeway = 5;
  auto keys = keyring_->verify_keys();
  auto jwt = token::VerifyJwt(token, *keys, policy);
  if (!jwt) {
    RejectIdentity("api", remote, jwt.error().message);
    return MakeError("invalid_token", jwt.error().message);
  }
  const json::value* tid = jwt->claims.if_contains("tid");
  if (!tid || !tid->is_string() || jwt->jti.empty()) {
    RejectIdentity("api", remote, "the task token lacks tid or jti");
    return MakeError("invalid_token", "the task token lacks tid or jti");
  }
  TaskCaller caller{std::string(tid->get_string()), jwt->jti, jwt->sub,
                    jwt->exp};
  {
    std::lock_guard lock(cache_mu_);
    // A bounded cache: verification is only a cost, never a decision.
    if (token_cache_.size() >= 200'000) token_cache_.clear();
    token_cache_[TokenDigest(token)] = {caller};
  }
  return caller;
}

// --- tasks ------------------------------------------------------------------

std::shared_ptr<const Broker::TaskState> Broker::FindActive(
    std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = tasks_.find(std::string(id));
  return it == tasks_.end() ? nullptr : it->second;
}

std::string Broker::InactiveReason(const TaskState& t, const TaskCaller* caller,
                                   std::int64_t now_ms) const {
  const TaskState::Facts& r = t.rec;
  if (now_ms >= r.expires_ms) return "the task has expired";
  if (r.lease_seconds > 0 && now_ms > r.heartbeat_ms + r.lease_seconds * 1000)
    return "the task's lease lapsed without a heartbeat";
  std::shared_lock lock(mu_);
  if (revoked_.tasks.count(r.id)) return "the task was revoked";
  if (revoked_.subjects.count(r.subject))
    return "the task's identity was revoked";
  if (r.created_ms < revoked_.all_before_ms)
    return "every task started before " +
           FormatRfc3339(revoked_.all_before_ms) + " was revoked";
  if (caller &&
      (revoked_.tokens.count(caller->jti) || caller->jti != r.token_jti)) {
    return "the task token was revoked";
  }
  return {};
}

Status Broker::CheckTaskActive(const TaskCaller& caller) {
  auto t = FindActive(caller.task_id);
  if (!t) return MakeError("task_inactive", "the task is not active");
  std::string why = InactiveReason(*t, &caller, NowMs());
  if (!why.empty()) return MakeError("task_inactive", why);
  return {};
}

json::object Broker::TaskJson(const store::TaskRecord& t) const {
  json::object o;
  o["id"] = t.id;
  o["state"] = t.ended_ms ? "ended" : "active";
  o["agent"] = Uid(t.agent_type, t.agent_id);
  o["owner"] = Uid(t.owner_type, t.owner_id);
  o["subject"] = t.subject;
  o["issuer"] = t.issuer;
  o["repo"] = t.repo;
  o["environment"] = t.environment;
  o["intent"] = t.intent;
  // Stored as a JSON array of strings, validated when the task started.
  auto labels = ParseJson(t.labels);
  o["labels"] = labels && labels->is_array() ? *labels : json::array{};
  if (!t.ticket_id.empty()) {
    o["ticket"] = json::object{{"id", t.ticket_id},
                               {"state", t.ticket_state},
                               {"verified", t.ticket_verified},
                               {"provider", t.ticket_provider}};
  } else {
    o["ticket"] = nullptr;
  }
  o["created_at"] = FormatRfc3339(t.created_ms);
  o["expires_at"] = FormatRfc3339(t.expires_ms);
  if (t.lease_seconds) {
    o["lease_seconds"] = t.lease_seconds;
    o["heartbeat_at"] = FormatRfc3339(t.heartbeat_ms);
  }
  if (t.ended_ms) {
    o["ended_at"] = FormatRfc3339(t.ended_ms);
    o["end_reason"] = t.end_reason;
  }
  return o;
}

Result<Reply> Broker::CreateTask(const Principal& caller,
                                 const json::value& body) {
  auto started = std::chrono::steady_clock::now();
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s =
          OnlyMembers(b,
                      {"repo", "ticket", "environment", "intent", "labels",
                       "ttl_seconds", "lease_seconds", "agent"},
                      "the task");
      !s) {
    return s.error();
  }
  const ServerConfig& sc = options_.config.server;
  auto repo_text = StringField(b, "repo", true, 300);
  if (!repo_text) return repo_text.error();
  auto repo = CanonicalRepo(*repo_text);
  if (!repo) return repo.error();
  auto env = StringField(b, "environment", false, 64);
  if (!env) return env.error();
  if (env->empty()) *env = "dev";
  if (!ValidEnvironment(*env))
    return BadRequest("`environment` must be 1-64 letters, digits, - _ .");
  auto intent = StringField(b, "intent", false, 4096);
  if (!intent) return intent.error();
  auto ttl = IntField(b, "ttl_seconds", sc.task_ttl_seconds);
  if (!ttl) return ttl.error();
  if (*ttl < 1) return BadRequest("`ttl_seconds` must be at least 1");
  *ttl = std::min(*ttl, sc.max_task_ttl_seconds);
  auto lease = IntField(b, "lease_seconds", 0);
  if (!lease) return lease.error();
  if (*lease > *ttl)
    return BadRequest("`lease_seconds` may not exceed the task's ttl");
  std::vector<std::string> labels;
  if (const json::value* lv = b.if_contains("labels")) {
    if (!lv->is_array() || lv->get_array().size() > 64)
      return BadRequest("`labels` must be a list of at most 64 strings");
    for (const json::value& l : lv->get_array()) {
      if (!l.is_string() || !ValidLabel(l.get_string())) {
        return BadRequest("a label is 1-64 characters of a-z 0-9 _ - . :");
      }
      labels.emplace_back(l.get_string());
    }
    std::sort(labels.begin(), labels.end());
    labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  }
  // Ticket: what the caller claims, then what the provider says.
  std::string ticket_id, ticket_state, ticket_provider, ticket_note;
  bool ticket_verified = false;
  std::int64_t now = NowMs();
  if (const json::value* tv = b.if_contains("ticket")) {
    if (!tv->is_object()) return BadRequest("`ticket` must be an object");
    const json::object& t = tv->get_object();
    if (Status s = OnlyMembers(t, {"id", "state", "provider"}, "the ticket");
        !s) {
      return s.error();
    }
    auto id = StringField(t, "id", true, 128);
    if (!id) return id.error();
    if (!ValidTicketId(*id))
      return BadRequest("a ticket id is 1-128 of A-Z a-z 0-9 # . _ / -");
    auto claimed = StringField(t, "state", false, 64);
    if (!claimed) return claimed.error();
    auto provider = StringField(t, "provider", false, 64);
    if (!provider) return provider.error();
    ticket_id = *id;
    ticket_state = *claimed;
    ticket_provider = tickets_->Resolve(*provider);
    if (!provider->empty() && ticket_provider.empty())
      return BadRequest("unknown ticket provider `" + *provider + "`");
    if (!ticket_provider.empty()) {
      auto state = tickets_->Lookup(ticket_provider, ticket_id, *repo);
      if (state) {
        ticket_state = std::move(*state);
        ticket_verified = true;
      } else {
        ticket_note = state.error().message;
      }
    }
  }
  // Active tasks are held in memory: past the configured bound, refuse
  // (and say so in the audit log) rather than grow without limit.
  std::size_t active;
  {
    std::shared_lock lock(mu_);
    active = tasks_.size();
  }
  if (active >= static_cast<std::size_t>(sc.max_active_tasks)) {
    audit::Event full;
    full.type = "authz.decision";
    full.principal = Uid(caller.type, caller.id);
    full.action = "task.create";
    full.resource = Uid("Repo", *repo);
    full.decision = "deny";
    full.edge = "api";
    full.reasons = {"the server holds server.max_active_tasks active tasks"};
    full.detail["subject"] = caller.subject;
    (void)Audit(std::move(full));
    metrics_.Decision(Outcome::kError, 0);
    return MakeError("too_many_tasks",
                     "the server already holds " + std::to_string(active) +
                         " active tasks (server.max_active_tasks)");
  }
  // Who the agent is: a workload is its own agent; an operator may name one.
  std::string agent_type = caller.type, agent_id = caller.id;
  json::object agent_attrs = caller.attrs;
  auto agent_name = StringField(b, "agent", false, 256);
  if (!agent_name) return agent_name.error();
  if (!agent_name->empty()) {
    if (caller.kind != PrincipalKind::kOperator)
      return BadRequest("only an operator may name the task's agent");
    agent_type = "Agent";
    agent_id = *agent_name;
    agent_attrs = json::object{{"started_by", caller.id}};
  }

  // Policy decides task.create: principal = the caller, resource = the Repo.
  auto bundle = bundle_.load();
  policy::EntityStore entities;
  Arena& arena = entities.arena();
  if (Status s = bundle->actions->AddEntities("task.create", entities); !s) {
    return MakeError("invalid_catalog",
                     "the action catalog has no task.create");
  }
  const policy::EntityUid* principal_uid =
      policy::MakeUid(arena, caller.type, caller.id);
  auto principal_attrs =
      policy::ValueFromJson(json::value(caller.attrs), arena, "the caller");
  if (!principal_attrs) return principal_attrs.error();
  std::vector<const policy::EntityUid*> principal_parents;
  for (const std::string& g : caller.groups) {
    const policy::EntityUid* group = policy::MakeUid(arena, "Group", g);
    principal_parents.push_back(group);
    (void)entities.Add(group, &kEmptyRecord, &kEmptyRecord, {});
  }
  (void)entities.Add(principal_uid, &principal_attrs->AsRecord(), &kEmptyRecord,
                     principal_parents);
  const policy::EntityUid* repo_uid = policy::MakeUid(arena, "Repo", *repo);
  if (const policy::Entity* e = bundle->resources->Find(*repo_uid)) {
    (void)entities.Add(repo_uid, e->attrs, &kEmptyRecord, e->parents);
  } else {
    (void)entities.Add(repo_uid, &kEmptyRecord, &kEmptyRecord, {});
  }
  if (Status s = entities.Finalize(); !s) return s.error();
  json::array label_json;
  for (const auto& l : labels) label_json.emplace_back(l);
  json::object ctx{{"now", Seconds(now)},
                   {"edge", "api"},
                   {"environment", *env},
                   {"intent", *intent},
                   {"labels", label_json},
                   {"ttl_seconds", *ttl},
                   {"ticket", json::object{{"id", ticket_id},
                                           {"state", ticket_state},
                                           {"verified", ticket_verified}}}};
  auto ctx_value = policy::ValueFromJson(json::value(ctx), arena, "context");
  if (!ctx_value) return ctx_value.error();
  policy::Request request{principal_uid, bundle->actions->Uid("task.create"),
                          repo_uid, &ctx_value->AsRecord()};
  policy::Response response =
      policy::Authorize(*bundle->policies, request, entities);
  json::object decision = policy::ResponseToJson(response);
  std::string decision_id = NewId('d');
  decision["decision_id"] = decision_id;

  std::string task_id = NewId('t');
  std::string jti = NewId('j');
  audit::Event e;
  e.type = "authz.decision";
  e.principal = Uid(caller.type, caller.id);
  e.action = "task.create";
  e.resource = Uid("Repo", *repo);
  e.decision = std::string(policy::DecisionName(response.decision));
  for (const auto* p : response.determining) {
    e.determining_policies.emplace_back(p->id);
  }
  e.reasons = policy::Reasons(response);
  e.policy_set_sha256 = bundle->policies->sha256();
  e.decision_id = decision_id;
  e.edge = "api";
  e.detail["context"] = ctx;
  e.detail["subject"] = caller.subject;
  e.detail["issuer"] = caller.issuer;
  if (!ticket_note.empty()) e.detail["ticket_lookup"] = ticket_note;
  bool allowed = response.decision == policy::Decision::kAllow;
  if (allowed) e.task_id = task_id;
  auto latency = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - started)
        .count();
  };
  e.latency_us = latency();
  if (auto seq = Audit(std::move(e)); !seq) {
    metrics_.Decision(Outcome::kError, latency());
    return MakeError("audit_unavailable",
                     "the audit log is unavailable; no task can start");
  }
  if (!allowed) {
    metrics_.Decision(response.decision == policy::Decision::kDeny
                          ? Outcome::kDeny
                          : Outcome::kApprovalRequired,
                      latency());
    Reply r;
    r.status = 403;
    r.body["error"] =
        json::object{{"code", "denied"},
                     {"message", "policy does not allow this task to start"}};
    r.body["decision"] = std::move(decision);
    return r;
  }

  store::TaskRecord rec;
  rec.id = task_id;
  rec.subject = caller.subject;
  rec.issuer = caller.issuer;
  rec.agent_type = agent_type;
  rec.agent_id = agent_id;
  rec.agent_attrs = SerializeJson(agent_attrs);
  rec.owner_type = caller.type;
  rec.owner_id = caller.id;
  rec.repo = *repo;
  rec.environment = *env;
  rec.intent = *intent;
  rec.labels = SerializeJson(label_json);
  rec.ticket_provider = ticket_provider;
  rec.ticket_id = ticket_id;
  rec.ticket_state = ticket_state;
  rec.ticket_verified = ticket_verified;
  rec.ticket_checked_ms = ticket_id.empty() ? 0 : now;
  rec.created_ms = now;
  rec.expires_ms = now + *ttl * 1000;
  rec.lease_seconds = *lease;
  rec.heartbeat_ms = now;
  rec.token_jti = jti;

  json::object claims{{"iss", options_.url},
                      {"aud", options_.url},
                      {"sub", caller.subject},
                      {"tid", task_id},
                      {"jti", jti},
                      {"iat", Seconds(now)},
                      {"nbf", Seconds(now)},
                      {"exp", Seconds(rec.expires_ms)}};
  auto token = keyring_->Sign(claims, kTaskTokenType);
  if (!token) return token.error();
  if (Status s = state_->InsertTask(rec); !s) return s.error();
  audit::Event started_event;
  started_event.type = "task.start";
  started_event.task_id = task_id;
  started_event.principal = Uid(caller.type, caller.id);
  started_event.decision_id = decision_id;
  started_event.detail["task"] = TaskJson(rec);
  started_event.detail["jti"] = jti;
  started_event.detail["kid"] = keyring_->active_kid();
  if (auto seq = Audit(std::move(started_event)); !seq) {
    // The task exists but was never handed out: end it.
    (void)state_->EndTask(task_id, NowMs(), "audit_unavailable");
    metrics_.Decision(Outcome::kError, latency());
    return MakeError("audit_unavailable",
                     "the audit log is unavailable; no task can start");
  }
  auto state = TaskState::Make(rec);
  {
    std::unique_lock lock(mu_);
    tasks_.emplace(task_id, std::move(state));
  }
  metrics_.Decision(Outcome::kAllow, latency());
  metrics_.TaskStarted();
  Reply r;
  r.status = 201;
  r.body["task"] = TaskJson(rec);
  r.body["token"] = *token;
  r.body["expires_at"] = FormatRfc3339(rec.expires_ms);
  r.body["decision"] = std::move(decision);
  return r;
}

Result<json::object> Broker::GetTask(std::string_view id) {
  auto rec = state_->GetTask(id);
  if (!rec) return rec.error();
  if (!*rec) return MakeError("not_found", "no such task");
  json::object o = TaskJson(**rec);
  if (auto t = FindActive(id)) {
    std::string why = InactiveReason(*t, nullptr, NowMs());
    if (!why.empty()) {
      o["state"] = "inactive";
      o["inactive_reason"] = why;
    }
  }
  return json::object{{"task", std::move(o)}};
}

Result<json::object> Broker::ListTasks(bool active_only, std::size_t limit,
                                       std::string_view after) {
  store::TaskFilter f;
  f.active_only = active_only;
  f.limit = std::clamp<std::size_t>(limit, 1, 1000);
  f.after_id = std::string(after);
  auto rows = state_->ListTasks(f);
  if (!rows) return rows.error();
  json::array tasks;
  for (const auto& r : *rows) tasks.emplace_back(TaskJson(r));
  json::object o{{"tasks", std::move(tasks)}};
  if (rows->size() == f.limit) o["next"] = rows->back().id;
  return o;
}

Status Broker::EndTaskLocked(const std::string& id, std::int64_t now_ms,
                             std::string_view actor, std::string_view reason) {
  auto ended = state_->EndTask(id, now_ms, reason);
  if (!ended) return ended.error();
  {
    std::unique_lock lock(mu_);
    tasks_.erase(id);
  }
  if (*ended) {
    audit::Event e;
    e.type = "task.end";
    e.task_id = id;
    e.principal = std::string(actor);
    e.reasons = {std::string(reason)};
    if (!Audit(std::move(e))) metrics_.AuditFailure();
  }
  return {};
}

Result<json::object> Broker::EndTask(std::string_view id,
                                     std::string_view actor,
                                     std::string_view reason) {
  {
    std::lock_guard lock(write_mu_);
    auto rec = state_->GetTask(id);
    if (!rec) return rec.error();
    if (!*rec) return MakeError("not_found", "no such task");
    if ((*rec)->ended_ms == 0) {
      // Ending a task revokes everything it holds: its token dies with it.
      if (Status s = EndTaskLocked(std::string(id), NowMs(), actor, reason);
          !s) {
        return s.error();
      }
    }
  }
  return GetTask(id);
}

Result<json::object> Broker::Heartbeat(std::string_view id) {
  std::int64_t now = NowMs();
  std::lock_guard lock(write_mu_);
  auto t = FindActive(id);
  if (!t) return MakeError("task_inactive", "the task is not active");
  std::string why = InactiveReason(*t, nullptr, now);
  if (!why.empty()) return MakeError("task_inactive", why);
  if (Status s = state_->Heartbeat(id, now); !s) return s.error();
  auto full = state_->GetTask(id);
  if (!full) return full.error();
  if (!*full) return MakeError("not_found", "no such task");
  store::TaskRecord rec = std::move(**full);
  rec.heartbeat_ms = now;
  auto next = TaskState::Make(rec);
  {
    std::unique_lock l(mu_);
    tasks_[std::string(id)] = next;
  }
  json::object o{{"task", TaskJson(rec)}};
  return o;
}

bool Broker::TicketRefreshDue(const TaskState& task,
                              std::int64_t now_ms) const {
  const TaskState::Facts& r = task.rec;
  if (r.ticket_id.empty() || r.ticket_provider.empty()) return false;
  return now_ms - r.ticket_checked_ms >= tickets_->cache_ms(r.ticket_provider);
}

std::shared_ptr<const Broker::TaskState> Broker::RefreshTicket(
    std::shared_ptr<const TaskState> task, std::int64_t now_ms) {
  if (!TicketRefreshDue(*task, now_ms)) return task;
  std::string id(task->rec.id);
  // The lookup may take a while; nothing is held during it.
  auto state = tickets_->Lookup(task->rec.ticket_provider, task->rec.ticket_id,
                                task->repo->id);
  // Apply it to the record as it is now (a heartbeat may have come in).
  std::lock_guard write(write_mu_);
  auto full = state_->GetTask(id);
  if (!full || !*full || (*full)->ended_ms != 0) return task;
  store::TaskRecord rec = std::move(**full);
  rec.ticket_checked_ms = now_ms;
  if (state) {
    rec.ticket_state = *state;
    rec.ticket_verified = true;
  } else {
    // Unknown now: policy sees the ticket as unverified until a lookup
    // succeeds again.
    rec.ticket_verified = false;
  }
  (void)state_->UpdateTicket(rec.id, rec.ticket_state, rec.ticket_verified,
                             now_ms);
  auto next = TaskState::Make(rec);
  std::unique_lock lock(mu_);
  auto it = tasks_.find(id);
  if (it != tasks_.end()) it->second = next;
  return next;
}

// --- decisions --------------------------------------------------------------

Result<Broker::Decided> Broker::Decide(const TaskCaller& caller,
                                       const json::value& body, bool may_block,
                                       const EdgeFacts* facts) {
  Decided out;
  out.started = std::chrono::steady_clock::now();
  auto latency = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - out.started)
        .count();
  };
  auto invalid = [&](const std::string& message) -> Error {
    metrics_.Decision(Outcome::kInvalid, 0);
    return BadRequest(message);
  };
  if (!body.is_object()) return invalid("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(b,
                             {"action", "resource", "context", "via",
                              "approval_id", "wait_seconds"},
                             "the request");
      !s) {
    return invalid(s.error().message);
  }
  auto approval_id = StringField(b, "approval_id", false, 64);
  if (!approval_id) return invalid(approval_id.error().message);
  if (!approval_id->empty() && !IsApprovalId(*approval_id))
    return invalid("`approval_id` is not an approval id");
  if (const json::value* w = b.if_contains("wait_seconds")) {
    const ApprovalsConfig& ac = options_.config.approvals;
    if (!w->is_int64() || w->get_int64() < 0 ||
        w->get_int64() > ac.max_wait_seconds) {
      return invalid("`wait_seconds` must be an integer 0 .. " +
                     std::to_string(ac.max_wait_seconds));
    }
    out.wait_ms = w->get_int64() * 1000;
  }
  out.approval_id = std::move(*approval_id);
  auto action = StringField(b, "action", true, 128);
  if (!action) return invalid(action.error().message);
  auto via = StringField(b, "via", false, 16);
  if (!via) return invalid(via.error().message);
  std::string edge = "api";
  if (facts) {
    // One of tether's own edges parsed this request: `via` is not a
    // caller's to set.
    if (!via->empty()) return invalid("`via` is for callers of the API");
    edge = facts->edge;
  } else if (*via == "hook") {
    edge = "hook";
  } else if (!via->empty() && *via != "api") {
    return invalid("`via` must be \"api\" or \"hook\"");
  }
  const json::value* rv = b.if_contains("resource");
  if (!rv || !rv->is_object())
    return invalid("`resource` must be an object {type, id, attrs}");
  const json::object& ro = rv->get_object();
  if (Status s = OnlyMembers(ro, {"type", "id", "attrs"}, "the resource"); !s) {
    return invalid(s.error().message);
  }
  auto rtype = StringField(ro, "type", true, 128);
  if (!rtype) return invalid(rtype.error().message);
  auto rid = StringField(ro, "id", true, 1024);
  if (!rid) return invalid(rid.error().message);
  if (*rtype == "Repo") {
    auto c = CanonicalRepo(*rid);
    if (!c) return invalid(c.error().message);
    *rid = std::move(*c);
  } else if (*rtype == "Host") {
    auto c = CanonicalHost(*rid);
    if (!c) return invalid(c.error().message);
    *rid = std::move(*c);
  }
  const json::value* rattrs = ro.if_contains("attrs");
  if (rattrs && !rattrs->is_object())
    return invalid("`resource.attrs` must be an object");
  // The caller's context, copied once: tether adds its keys to it, policy
  // reads it, and the audit event takes it.
  json::value ctx_json = json::object{};
  if (const json::value* cv = b.if_contains("context")) {
    if (!cv->is_object()) return invalid("`context` must be an object");
    ctx_json = cv->get_object();
  }
  json::object& ctx = ctx_json.get_object();
  for (const auto& [k, v] : ctx) {
    // An edge of tether's own sets the keys it parses; never now, edge or
    // ref_task, which the broker computes.
    bool edge_key = facts && k != "now" && k != "edge" && k != "ref_task";
    if (kReservedContextKeys.count(k) && !edge_key) {
      return invalid("the context key `" + std::string(k) +
                     "` is set by tether, not by a caller");
    }
  }
  std::string ref_task;
  if (const json::value* refv = ctx.if_contains("ref")) {
    if (!refv->is_string()) return invalid("`context.ref` must be a string");
    auto ref = CanonicalRef(refv->get_string());
    if (!ref) return invalid(ref.error().message);
    ref_task = RefTask(*ref);
    ctx["ref"] = *ref;
  }
  // The request as the caller stated it, canonicalized: what an approval
  // will be bound to.
  // RFC 8785 of {"action", "context", "resource", "task"}, written
  // directly (members in that order) rather than through a copied object.
  std::string canonical = "{\"action\":";
  AppendCanonicalString(canonical, *action);
  if (facts && !facts->body_sha256.empty()) {
    // A proxied call binds its body too (members stay in RFC 8785 order).
    canonical += ",\"body_sha256\":";
    AppendCanonicalString(canonical, facts->body_sha256);
    out.body_sha256 = facts->body_sha256;
  }
  canonical += ",\"context\":";
  bool canonical_ok = AppendCanonicalJson(canonical, ctx_json);
  canonical += ",\"resource\":";
  json::value resource_json = json::object{{"type", *rtype}, {"id", *rid}};
  if (rattrs) resource_json.get_object()["attrs"] = *rattrs;
  canonical_ok = canonical_ok && AppendCanonicalJson(canonical, resource_json);
  canonical += ",\"task\":";
  AppendCanonicalString(canonical, caller.task_id);
  canonical += '}';
  if (!canonical_ok) return invalid("the request cannot be canonicalized");
  std::string request_digest = HexEncode(Sha256(canonical));
  out.bound_context = ctx;
  out.resource_type = *rtype;
  out.resource_id = *rid;
  if (rattrs) out.resource_attrs = rattrs->get_object();

  std::int64_t now = NowMs();
  ctx["now"] = Seconds(now);
  ctx["edge"] = edge;
  if (!ref_task.empty()) ctx["ref_task"] = EntityJson("Task", ref_task);

  auto bundle = bundle_.load();
  std::string decision_id = NewId('d');
  audit::Event e;
  e.type = "authz.decision";
  e.task_id = caller.task_id;
  e.principal = Uid("Task", caller.task_id);
  e.action = *action;
  e.resource = Uid(*rtype, *rid);
  e.policy_set_sha256 = bundle->policies->sha256();
  e.decision_id = decision_id;
  e.request_digest = request_digest;
  e.edge = edge;
  if (rattrs) e.detail["resource_attrs"] = *rattrs;

  // Denials decided before policy: inactive task, unknown action or type.
  auto deny = [&](const std::string& reason) -> Decided {
    out.decision = json::object{{"decision", "deny"},
                                {"determining_policies", json::array{}},
                                {"errors", json::array{}},
                                {"reasons", json::array{json::value(reason)}},
                                {"approval", nullptr},
                                {"decision_id", decision_id}};
    out.outcome = Outcome::kDeny;
    e.decision = "deny";
    e.reasons = {reason};
    e.latency_us = latency();
    e.detail["context"] = std::move(ctx_json);
    out.event = std::move(e);
    return std::move(out);
  };
  auto task = FindActive(caller.task_id);
  if (!task) {
    // Say why, from the record (a rare path: the task is over).
    if (!may_block) return WouldBlock();
    auto rec = state_->GetTask(caller.task_id);
    if (rec && *rec && (*rec)->ended_ms) {
      return deny("the task has ended (" + (*rec)->end_reason + ")");
    }
    return deny("the task is not active");
  }
  if (std::string why = InactiveReason(*task, &caller, now); !why.empty()) {
    return deny(why);
  }
  if (!bundle->actions->Has(*action)) {
    return deny("`" + *action + "` is not in the action catalog");
  }
  if (!bundle->resources->KnownType(*rtype)) {
    return deny("`" + *rtype + "` is not a resource type in the catalog");
  }
  if (rattrs && !bundle->resources->OpenType(*rtype)) {
    return invalid("resource type `" + *rtype +
                   "` does not accept attributes from a caller");
  }
  if (TicketRefreshDue(*task, now)) {
    if (!may_block) return WouldBlock();
    task = RefreshTicket(std::move(task), now);
  }

  // Entities: the task, its agent and owner, repo, environment, the
  // resource (catalog attributes, plus a caller's for open types) and the
  // action with its groups.
  policy::EntityStore entities;
  Arena& arena = entities.arena();
  if (Status s = bundle->actions->AddEntities(*action, entities); !s) {
    return s.error();
  }
  const policy::EntityUid* resource_uid = policy::MakeUid(arena, *rtype, *rid);
  std::vector<const policy::EntityUid*> catalog_todo;
  auto add_catalog = [&](const policy::EntityUid* uid,
                         const policy::RecordData* extra) -> Status {
    if (entities.Find(*uid)) return {};  // the task, its agent, or seen
    const policy::Entity* ce = bundle->resources->Find(*uid);
    const policy::RecordData* attrs = ce ? ce->attrs : &kEmptyRecord;
    if (extra && extra->size) {
      // Caller attributes add to the catalog's, never override them.
      std::vector<policy::RecordEntry> merged(attrs->span().begin(),
                                              attrs->span().end());
      for (const policy::RecordEntry& x : extra->span()) {
        if (!attrs->Find(x.key)) merged.push_back(x);
      }
      attrs = policy::MakeRecord(arena, merged);
    }
    std::vector<const policy::EntityUid*> parents;
    if (ce) {
      parents = ce->parents;
      for (const auto* p : ce->parents) catalog_todo.push_back(p);
    }
    return entities.Add(uid, attrs, &kEmptyRecord, std::move(parents));
  };
  // The task and its agent first: a resource naming one of them refers to
  // the real entity, never to an attribute-less stand-in.
  (void)entities.Add(task->task, task->task_attrs, &kEmptyRecord,
                     {task->agent});
  if (!entities.Find(*task->agent)) {
    (void)entities.Add(task->agent, task->agent_attrs, &kEmptyRecord, {});
  }
  if (!entities.Find(*task->owner)) {
    (void)entities.Add(task->owner, &kEmptyRecord, &kEmptyRecord, {});
  }
  const policy::RecordData* extra = nullptr;
  if (rattrs) {
    auto v = policy::ValueFromJson(*rattrs, arena, "resource attributes");
    if (!v) return invalid(v.error().message);
    extra = &v->AsRecord();
  }
  if (Status s = add_catalog(resource_uid, extra); !s) {
    return invalid(s.error().message);
  }
  (void)add_catalog(task->repo, nullptr);
  (void)add_catalog(task->environment, nullptr);
  while (!catalog_todo.empty()) {
    const policy::EntityUid* p = catalog_todo.back();
    catalog_todo.pop_back();
    if (bundle->resources->Find(*p)) (void)add_catalog(p, nullptr);
  }
  if (Status s = entities.Finalize(); !s) return invalid(s.error().message);
  auto ctx_value = policy::ValueFromJson(ctx_json, arena, "context");
  if (!ctx_value) return invalid(ctx_value.error().message);
  e.detail["context"] = std::move(ctx_json);
  policy::Request request{task->task, bundle->actions->Uid(*action),
                          resource_uid, &ctx_value->AsRecord()};
  policy::Response response =
      policy::Authorize(*bundle->policies, request, entities);
  json::object decision = policy::ResponseToJson(response);
  decision["decision_id"] = decision_id;
  e.decision = std::string(policy::DecisionName(response.decision));
  for (const auto* p : response.determining) {
    e.determining_policies.emplace_back(p->id);
  }
  e.reasons = policy::Reasons(response);
  e.latency_us = latency();
  out.decision = std::move(decision);
  out.outcome = response.decision == policy::Decision::kAllow ? Outcome::kAllow
                : response.decision == policy::Decision::kDeny
                    ? Outcome::kDeny
                    : Outcome::kApprovalRequired;
  if (out.outcome == Outcome::kApprovalRequired) {
    // Approvals are read and written in tether.db: not on a network thread.
    if (!may_block) return WouldBlock();
    for (const policy::Policy* p : response.approvals) {
      ApprovalRequirement req;
      req.policy = p->id;
      req.groups = p->approval->groups;
      req.approvers = p->approval->approvers;
      if (auto it = bundle->approval_text.find(p->id);
          it != bundle->approval_text.end()) {
        req.text = it->second;
      }
      out.requirements.push_back(std::move(req));
    }
  }
  out.event = std::move(e);
  return out;
}

json::object Broker::Finish(const Decided& d,
                            const Result<std::uint64_t>& audited) {
  std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - d.started)
                        .count();
  if (!audited) {
    // Fail closed: no durable record, no permission.
    metrics_.AuditFailure();
    metrics_.Decision(Outcome::kError, us);
    return json::object{
        {"decision", "deny"},
        {"determining_policies", json::array{}},
        {"errors", json::array{}},
        {"reasons",
         json::array{json::value("the audit log is unavailable; nothing is "
                                 "allowed until it is repaired")}},
        {"approval", nullptr},
        {"decision_id", d.decision.at("decision_id")}};
  }
  metrics_.Decision(d.outcome, us);
  return d.decision;
}

Result<json::object> Broker::Authorize(const TaskCaller& caller,
                                       const json::value& body) {
  return AuthorizeBlocking(caller, body, nullptr);
}

Result<json::object> Broker::AuthorizeEdge(const TaskCaller& caller,
                                           const EdgeRequest& r) {
  json::object body{{"action", r.action},
                    {"resource", json::object{{"type", r.resource_type},
                                              {"id", r.resource_id}}},
                    {"context", r.context}};
  if (!r.approval_id.empty()) body["approval_id"] = r.approval_id;
  if (r.wait_seconds > 0) body["wait_seconds"] = r.wait_seconds;
  EdgeFacts facts{r.edge, r.body_sha256};
  return AuthorizeBlocking(caller, body, &facts);
}

Result<json::object> Broker::AuthorizeBlocking(const TaskCaller& caller,
                                               const json::value& body,
                                               const EdgeFacts* facts) {
  auto started = std::chrono::steady_clock::now();
  while (true) {
    auto d = Decide(caller, body, true, facts);
    if (!d) return d.error();
    if (d->outcome == Outcome::kApprovalRequired) ResolveApproval(caller, *d);
    auto seq = audit_.log->Append(std::move(d->event));
    json::object answer = Finish(*d, seq);
    // With wait_seconds, hold a pending approval's request until it is
    // decided, then decide the request again.
    const json::value* approval = answer.if_contains("approval");
    if (!seq || d->wait_ms <= 0 || d->outcome != Outcome::kApprovalRequired ||
        !approval || !approval->is_object()) {
      return answer;
    }
    const json::value* id = approval->get_object().if_contains("id");
    if (!id || !id->is_string()) return answer;
    if (!WaitForApproval(caller.task_id, std::string(id->get_string()),
                         started + std::chrono::milliseconds(d->wait_ms))) {
      return answer;
    }
  }
}

bool Broker::AuthorizeAsync(const TaskCaller& caller, const json::value& body,
                            std::function<void(Result<json::object>)> done) {
  auto d = Decide(caller, body, false);
  if (!d && d.error().code == kWouldBlock) return false;
  if (!d) {
    done(d.error());
    return true;
  }
  auto decided = std::make_shared<Decided>(std::move(*d));
  audit::Event event = std::move(decided->event);
  audit_.log->AppendAsync(
      std::move(event),
      [this, decided, done = std::move(done)](Result<std::uint64_t> seq) {
        done(Finish(*decided, seq));
      });
  return true;
}

// --- secrets ----------------------------------------------------------------

namespace {

json::object SecretMetaJson(const secrets::SecretMeta& m) {
  json::array bindings;
  for (const secrets::Binding& b : m.bindings) {
    json::object o{{"host", b.host}};
    if (!b.path_prefix.empty()) o["path_prefix"] = b.path_prefix;
    bindings.push_back(std::move(o));
  }
  json::object o{{"name", m.name},
                 {"format", secrets::FormatName(m.format)},
                 {"bindings", std::move(bindings)},
                 {"version", m.version},
                 {"created_at", FormatRfc3339(m.created_ms)},
                 {"updated_at", FormatRfc3339(m.updated_ms)},
                 {"created_by", m.created_by}};
  if (m.format == secrets::Format::kBasic) o["user"] = m.basic_user;
  if (m.format == secrets::Format::kHeader) o["header"] = m.header_name;
  return o;
}

}  // namespace

Result<json::object> Broker::PutSecret(const Principal& actor,
                                       std::string_view name,
                                       const json::value& body) {
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(
          b, {"value", "format", "user", "header", "bindings"}, "the secret");
      !s) {
    return s.error();
  }
  auto value = StringField(b, "value", true, secrets::kMaxValueBytes);
  if (!value) return value.error();
  auto format = StringField(b, "format", false, 16);
  if (!format) return format.error();
  secrets::SecretMeta meta;
  meta.name = std::string(name);
  if (!format->empty()) {
    auto f = secrets::ParseFormat(*format);
    if (!f) return BadRequest(f.error().message);
    meta.format = *f;
  }
  auto user = StringField(b, "user", false, 256);
  if (!user) return user.error();
  meta.basic_user = *user;
  auto header = StringField(b, "header", false, 256);
  if (!header) return header.error();
  meta.header_name = *header;
  const json::value* bv = b.if_contains("bindings");
  if (!bv || !bv->is_array()) {
    return BadRequest(
        "`bindings` lists where the secret may be sent: "
        "[{\"host\": \"api.github.com\"}]");
  }
  for (const json::value& x : bv->get_array()) {
    if (!x.is_object()) return BadRequest("a binding is {host, path_prefix}");
    if (Status s =
            OnlyMembers(x.get_object(), {"host", "path_prefix"}, "a binding");
        !s) {
      return s.error();
    }
    auto host = StringField(x.get_object(), "host", true, 256);
    if (!host) return host.error();
    auto prefix = StringField(x.get_object(), "path_prefix", false, 1024);
    if (!prefix) return prefix.error();
    meta.bindings.push_back({*host, *prefix});
  }
  meta.created_by = Uid(actor.type, actor.id);
  std::lock_guard lock(secrets_mu_);
  auto put = secrets_->Put(std::move(meta), *value, NowMs());
  if (!put) return put.error();
  // From now on the value is redacted wherever the audit log would see it.
  auto values = secrets_->AllValues();
  if (!values) return values.error();
  auto redactor = audit::MakeRedactor(options_.config, std::move(*values));
  if (!redactor) return redactor.error();
  audit_.log->SetRedactor(*redactor);
  if (Status s = ReloadSecrets(); !s) return s.error();
  audit::Event e;
  e.type = "secret.put";
  e.principal = Uid(actor.type, actor.id);
  e.detail["secret"] = SecretMetaJson(*put);
  if (auto seq = Audit(std::move(e)); !seq) {
    return MakeError("audit_unavailable",
                     "the secret is stored but its audit event was not "
                     "written: " +
                         seq.error().message);
  }
  return json::object{{"secret", SecretMetaJson(*put)}};
}

Result<json::object> Broker::ListSecrets() {
  auto list = secrets_->List();
  if (!list) return list.error();
  json::array out;
  for (const secrets::SecretMeta& m : *list) out.push_back(SecretMetaJson(m));
  return json::object{{"secrets", std::move(out)}};
}

Result<json::object> Broker::DeleteSecret(const Principal& actor,
                                          std::string_view name) {
  std::lock_guard lock(secrets_mu_);
  auto meta = secrets_->Meta(name);
  if (!meta) return meta.error();
  if (!*meta) return MakeError("not_found", "no such secret");
  audit::Event e;
  e.type = "secret.put";
  e.principal = Uid(actor.type, actor.id);
  e.detail["secret"] = SecretMetaJson(**meta);
  e.detail["deleted"] = true;
  if (auto seq = Audit(std::move(e)); !seq) {
    return MakeError("audit_unavailable", seq.error().message);
  }
  if (Status s = secrets_->Delete(name); !s) return s.error();
  if (Status s = ReloadSecrets(); !s) return s.error();
  // The old value stays in the redactor until restart: forgetting it
  // would only make logs less safe.
  return json::object{{"deleted", std::string(name)}};
}

Status Broker::ReloadSecrets() {
  auto metas = secrets_->List();
  if (!metas) return metas.error();
  auto all = std::make_shared<std::vector<secrets::Secret>>();
  for (const secrets::SecretMeta& m : *metas) {
    auto got = secrets_->Get(m.name);
    if (!got) return got.error();
    if (*got) all->push_back(std::move(**got));
  }
  secrets_cache_.store(std::move(all));
  return {};
}

void Broker::RecordProxyCall(const ProxyCall& c) {
  audit::Event e;
  e.type = "proxy.request";
  e.task_id = c.task_id;
  e.principal = Uid("Task", c.task_id);
  e.action = c.action;
  e.resource = c.resource;
  e.decision_id = c.decision_id;
  e.edge = "proxy";
  e.latency_us = c.latency_us;
  e.detail["method"] = c.method;
  e.detail["host"] = c.host;
  e.detail["path"] = c.path;
  if (c.status) e.detail["status"] = c.status;
  if (!c.error.empty()) e.detail["error"] = c.error;
  if (!c.secret.empty()) e.detail["secret"] = c.secret;
  e.detail["bytes_up"] = c.bytes_up;
  e.detail["bytes_down"] = c.bytes_down;
  // The call's decision is already durable; its outcome joins the next
  // group commit without holding the agent's answer.
  audit_.log->AppendAsync(std::move(e), [this](Result<std::uint64_t> seq) {
    if (!seq) metrics_.AuditFailure();
  });
}

Result<json::object> Broker::RecordToolResult(const TaskCaller& caller,
                                              const json::value& body) {
  if (Status s = CheckTaskActive(caller); !s) return s.error();
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(b,
                             {"tool", "tool_use_id", "session", "agent", "ok",
                              "output", "output_bytes"},
                             "the tool result");
      !s) {
    return s.error();
  }
  auto tool = StringField(b, "tool", true, 256);
  if (!tool) return tool.error();
  audit::Event e;
  e.type = "tool.result";
  e.task_id = caller.task_id;
  e.principal = Uid("Task", caller.task_id);
  e.action = "tool.call";
  e.resource = Uid("Tool", *tool);
  e.edge = "hook";
  for (const char* k : {"tool_use_id", "session", "agent"}) {
    auto v = StringField(b, k, false, 256);
    if (!v) return v.error();
    if (!v->empty()) e.detail[k] = *v;
  }
  if (const json::value* ok = b.if_contains("ok")) {
    if (!ok->is_bool()) return BadRequest("`ok` must be true or false");
    e.detail["ok"] = ok->get_bool();
  }
  if (const json::value* out = b.if_contains("output")) {
    if (!out->is_string()) return BadRequest("`output` must be a string");
    std::string_view text = out->get_string();
    e.detail["output_sha256"] = HexEncode(Sha256(text));
    e.detail["output_bytes"] = text.size();
    // A hook sends at most the first 64 KiB of a larger output, with its
    // whole size.
    if (const json::value* n = b.if_contains("output_bytes")) {
      if (!n->is_int64() ||
          n->get_int64() < static_cast<std::int64_t>(text.size())) {
        return BadRequest("`output_bytes` is the whole output's size");
      }
      e.detail["output_bytes"] = n->get_int64();
      e.detail["output_sha256_of"] = text.size();
    }
    // Redacted whole, then cut: a secret the cut would split is already
    // masked. The cut never splits a UTF-8 sequence.
    std::string kept(text);
    if (auto redactor = audit_.log->redactor()) kept = redactor->Redact(kept);
    constexpr std::size_t kKept = 2048;
    if (kept.size() > kKept) {
      std::size_t n = kKept;
      while (n > 0 && (static_cast<unsigned char>(kept[n]) & 0xC0) == 0x80) --n;
      kept.resize(n);
    }
    std::string head = std::move(kept);
    e.detail["output"] = head;
  }
  auto seq = Audit(std::move(e));
  if (!seq) return seq.error();
  return json::object{{"recorded", true}, {"seq", *seq}};
}

Result<std::uint64_t> Broker::Audit(audit::Event event) {
  auto seq = audit_.log->Append(std::move(event));
  if (!seq) metrics_.AuditFailure();
  return seq;
}

// --- administration ---------------------------------------------------------

Result<json::object> Broker::Revoke(const Principal& actor,
                                    const json::value& body) {
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(
          b, {"task", "token", "identity", "all", "before", "reason"},
          "the revocation");
      !s) {
    return s.error();
  }
  int kinds = 0;
  store::RevocationRecord r;
  for (const char* k : {"task", "token", "identity"}) {
    if (const json::value* v = b.if_contains(k)) {
      if (!v->is_string() || v->get_string().empty() ||
          v->get_string().size() > 2048) {
        return BadRequest("`" + std::string(k) +
                          "` must be a non-empty string");
      }
      r.kind = k;
      r.value = std::string(v->get_string());
      ++kinds;
    }
  }
  std::int64_t now = NowMs();
  if (const json::value* v = b.if_contains("all")) {
    if (!v->is_bool() || !v->get_bool())
      return BadRequest("`all` must be true");
    r.kind = "all";
    r.before_ms = now;
    ++kinds;
    if (const json::value* bv = b.if_contains("before")) {
      if (!bv->is_string()) return BadRequest("`before` must be a time");
      auto t = ParseTimeMs(bv->get_string());
      if (!t) return BadRequest(t.error().message);
      r.before_ms = *t;
    }
  } else if (b.contains("before")) {
    return BadRequest("`before` goes with `all`");
  }
  if (kinds != 1) {
    return BadRequest(
        "name exactly one of `task`, `token`, `identity` or `all`");
  }
  auto reason = StringField(b, "reason", false, 1024);
  if (!reason) return reason.error();
  r.reason = *reason;
  r.created_ms = now;
  r.created_by = Uid(actor.type, actor.id);
  if (r.kind == "task") {
    auto rec = state_->GetTask(r.value);
    if (!rec) return rec.error();
    if (!*rec) return MakeError("not_found", "no such task");
  }
  std::vector<std::string> ended;
  {
    std::lock_guard lock(write_mu_);
    auto id = state_->InsertRevocation(r);
    if (!id) return id.error();
    r.id = *id;
    std::vector<std::string> affected;
    {
      std::unique_lock l(mu_);
      if (r.kind == "task") revoked_.tasks.insert(r.value);
      if (r.kind == "token") revoked_.tokens.insert(r.value);
      if (r.kind == "identity") revoked_.subjects.insert(r.value);
      if (r.kind == "all")
        revoked_.all_before_ms = std::max(revoked_.all_before_ms, r.before_ms);
      for (const auto& [tid, t] : tasks_) {
        bool hit = (r.kind == "task" && tid == r.value) ||
                   (r.kind == "token" && t->rec.token_jti == r.value) ||
                   (r.kind == "identity" && t->rec.subject == r.value) ||
                   (r.kind == "all" && t->rec.created_ms < r.before_ms);
        if (hit) affected.push_back(tid);
      }
    }
    audit::Event e;
    e.type = "revocation";
    e.principal = r.created_by;
    if (r.kind == "task") e.task_id = r.value;
    e.reasons = {r.reason};
    e.detail["kind"] = r.kind;
    e.detail["value"] = r.value;
    if (r.kind == "all") e.detail["before"] = FormatRfc3339(r.before_ms);
    e.detail["revocation_id"] = r.id;
    if (!Audit(std::move(e))) metrics_.AuditFailure();
    for (const std::string& tid : affected) {
      if (EndTaskLocked(tid, now, r.created_by, "revoked")) {
        ended.push_back(tid);
      }
    }
  }
  json::array ended_json;
  for (const auto& id : ended) ended_json.emplace_back(id);
  json::object out{
      {"revocation", json::object{{"id", r.id},
                                  {"kind", r.kind},
                                  {"value", r.value},
                                  {"created_at", FormatRfc3339(r.created_ms)},
                                  {"created_by", r.created_by},
                                  {"reason", r.reason}}},
      {"ended_tasks", std::move(ended_json)}};
  if (r.kind == "all") {
    out["revocation"].get_object()["before"] = FormatRfc3339(r.before_ms);
  }
  return out;
}

Result<json::object> Broker::Reload(std::string_view actor) {
  std::lock_guard lock(reload_mu_);
  auto bundle = LoadPolicyBundle(options_.config);
  audit::Event e;
  e.type = "policy.reload";
  e.principal = std::string(actor);
  if (!bundle) {
    // The old set stays in force.
    e.reasons = {"rejected: " + bundle.error().message};
    (void)Audit(std::move(e));
    return bundle.error();
  }
  std::string old_sha = bundle_.load()->policies->sha256();
  e.policy_set_sha256 = (*bundle)->policies->sha256();
  e.detail["previous_sha256"] = old_sha;
  e.detail["policies"] = (*bundle)->policies->size();
  if (!Audit(std::move(e))) {
    return MakeError("audit_unavailable",
                     "the audit log is unavailable; the policy set was not "
                     "changed");
  }
  bundle_.store(*bundle);
  return json::object{{"policy_set_sha256", (*bundle)->policies->sha256()},
                      {"previous_sha256", old_sha},
                      {"policies", (*bundle)->policies->size()}};
}

Result<json::object> Broker::RotateKeys(std::string_view actor) {
  // An admin change with no record is refused, as a reload is.
  if (audit_.log->failure()) {
    return MakeError("audit_unavailable",
                     "the audit log is unavailable; the keys were not rotated");
  }
  auto kid = keyring_->Rotate(NowMs());
  if (!kid) return kid.error();
  audit::Event e;
  e.type = "key.rotate";
  e.principal = std::string(actor);
  e.detail["kid"] = *kid;
  if (!Audit(std::move(e))) metrics_.AuditFailure();
  return json::object{{"kid", *kid}};
}

Result<json::object> Broker::CreateOperatorToken(const Principal& actor,
                                                 const json::value& body) {
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(b, {"name", "role", "groups"}, "the token"); !s)
    return s.error();
  auto name = StringField(b, "name", true, 64);
  if (!name) return name.error();
  auto role = StringField(b, "role", true, 16);
  if (!role) return role.error();
  std::vector<std::string> groups;
  if (const json::value* g = b.if_contains("groups")) {
    if (!g->is_array() || g->get_array().size() > 64)
      return BadRequest("`groups` must be a list of at most 64 strings");
    for (const json::value& v : g->get_array()) {
      if (!v.is_string()) return BadRequest("`groups` must be strings");
      groups.emplace_back(v.get_string());
    }
  }
  // One name, one operator: checked and inserted under the write lock.
  std::lock_guard write(write_mu_);
  if (operators_.HasName(*name)) {
    return MakeError("conflict",
                     "an operator named `" + *name + "` already exists");
  }
  auto made = identity::MakeOperatorToken(*name, *role, groups, NowMs());
  if (!made) return made.error();
  audit::Event e;
  e.type = "token.create";
  e.principal = Uid(actor.type, actor.id);
  e.detail["name"] = *name;
  e.detail["role"] = *role;
  json::array gj;
  for (const auto& g : groups) gj.emplace_back(g);
  e.detail["groups"] = gj;
  if (!Audit(std::move(e))) {
    return MakeError("audit_unavailable",
                     "the audit log is unavailable; no token was created");
  }
  if (Status s = state_->InsertOperator(made->record); !s) return s.error();
  operators_.Put(made->record);
  return json::object{
      {"name", *name}, {"role", *role}, {"groups", gj}, {"token", made->token}};
}

Result<json::object> Broker::QueryAudit(audit::EventFilter filter) {
  store::SqliteOptions o;
  o.read_only = true;
  auto db = store::SqliteDb::Open(audit::AuditDbPath(options_.config), o);
  if (!db) return db.error();
  filter.limit = std::clamp<std::int64_t>(filter.limit, 1, 10'000);
  auto rows = audit::QueryEvents(**db, filter);
  if (!rows) return rows.error();
  json::array events;
  for (const audit::EventRow& r : *rows) {
    auto body = ParseJson(r.body);
    json::object o =
        body && body->is_object() ? body->get_object() : json::object{};
    o["seq"] = r.seq;
    events.emplace_back(std::move(o));
  }
  json::object out{{"events", std::move(events)}};
  if (static_cast<std::int64_t>(rows->size()) == filter.limit) {
    out["next"] = rows->back().seq;
  }
  return out;
}

Result<json::object> Broker::VerifyAudit() {
  store::SqliteOptions o;
  o.read_only = true;
  auto db = store::SqliteDb::Open(audit::AuditDbPath(options_.config), o);
  if (!db) return db.error();
  audit::VerifyOptions vo;
  vo.public_keys = {audit_.log->public_key()};
  vo.threads = 1;
  auto report = audit::Verify(**db, vo);
  if (!report) return report.error();
  json::object out{{"ok", report->ok},
                   {"records", report->records},
                   {"last_seq", report->last_seq},
                   {"checkpoints", report->checkpoints},
                   {"last_checkpoint_seq", report->last_checkpoint_seq}};
  if (!report->ok) {
    out["first_bad_seq"] = report->first_bad_seq;
    out["problem"] = report->problem;
  }
  return out;
}

std::string Broker::MetricsText() const {
  std::int64_t active;
  {
    std::shared_lock lock(mu_);
    active = static_cast<std::int64_t>(tasks_.size());
  }
  return metrics_.Render(
      active, static_cast<std::int64_t>(bundle_.load()->policies->size()));
}

bool Broker::Ready() const {
  return bundle_.load() != nullptr && !audit_.log->failure().has_value();
}

// --- expiry -----------------------------------------------------------------

void Broker::ReapLoop() {
  std::unique_lock lock(reap_mu_);
  while (!stop_) {
    reap_cv_.wait_for(lock,
                      std::chrono::milliseconds(options_.reap_interval_ms));
    if (stop_) break;
    lock.unlock();
    ReapOnce(NowMs());
    lock.lock();
  }
}

void Broker::ReapOnce(std::int64_t now_ms) {
  ExpireApprovals(now_ms);
  std::vector<std::pair<std::string, std::string>> due;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, t] : tasks_) {
      if (now_ms >= t->rec.expires_ms) {
        due.emplace_back(id, "expired");
      } else if (t->rec.lease_seconds > 0 &&
                 now_ms > t->rec.heartbeat_ms + t->rec.lease_seconds * 1000) {
        due.emplace_back(id, "lease_lapsed");
      }
    }
  }
  if (due.empty()) return;
  std::lock_guard lock(write_mu_);
  for (const auto& [id, reason] : due) {
    (void)EndTaskLocked(id, now_ms, "tether", reason);
  }
}

}  // namespace tether::broker
