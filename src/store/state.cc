#include "store/state.h"

#include <boost/json.hpp>

#include "core/json.h"

namespace tether::store {
namespace {

const Migration kStateMigrations[] = {
    {1, "tasks, revocations, operators, signing keys", R"sql(
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  parent_id TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  agent_type TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_attrs TEXT NOT NULL,
  owner_type TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  repo TEXT NOT NULL,
  environment TEXT NOT NULL,
  intent TEXT NOT NULL,
  labels TEXT NOT NULL,
  ticket_provider TEXT NOT NULL,
  ticket_id TEXT NOT NULL,
  ticket_state TEXT NOT NULL,
  ticket_verified INTEGER NOT NULL,
  ticket_checked_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  lease_seconds INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  token_jti TEXT NOT NULL,
  ended_ms INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_active ON tasks (ended_ms, created_ms);
CREATE INDEX tasks_subject ON tasks (subject, created_ms);
CREATE TABLE revocations (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('task', 'token', 'identity', 'all')),
  value TEXT NOT NULL,
  before_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TABLE operators (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'auditor')),
  groups TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  retired_ms INTEGER NOT NULL DEFAULT 0
);
)sql"},
    {2, "approvals", R"sql(
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
  request_digest TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  decided_ms INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX approvals_state ON approvals (state, id);
CREATE INDEX approvals_task ON approvals (task_id, id);
)sql"},
};

constexpr const char* kTaskColumns =
    "id, parent_id, subject, issuer, agent_type, agent_id, agent_attrs, "
    "owner_type, owner_id, repo, environment, intent, labels, "
    "ticket_provider, ticket_id, ticket_state, ticket_verified, "
    "ticket_checked_ms, created_ms, expires_ms, lease_seconds, heartbeat_ms, "
    "token_jti, ended_ms, end_reason";

TaskRecord ReadTask(const Statement& s) {
  TaskRecord t;
  int i = 0;
  auto text = [&] { return std::string(s.ColumnText(i++)); };
  auto num = [&] { return s.ColumnInt(i++); };
  t.id = text();
  t.parent_id = text();
  t.subject = text();
  t.issuer = text();
  t.agent_type = text();
  t.agent_id = text();
  t.agent_attrs = text();
  t.owner_type = text();
  t.owner_id = text();
  t.repo = text();
  t.environment = text();
  t.intent = text();
  t.labels = text();
  t.ticket_provider = text();
  t.ticket_id = text();
  t.ticket_state = text();
  t.ticket_verified = num() != 0;
  t.ticket_checked_ms = num();
  t.created_ms = num();
  t.expires_ms = num();
  t.lease_seconds = num();
  t.heartbeat_ms = num();
  t.token_jti = text();
  t.ended_ms = num();
  t.end_reason = text();
  return t;
}

std::string GroupsToJson(const std::vector<std::string>& groups) {
  boost::json::array a;
  for (const auto& g : groups) a.emplace_back(g);
  return SerializeJson(a);
}

std::vector<std::string> GroupsFromJson(std::string_view text) {
  std::vector<std::string> out;
  auto j = ParseJson(text);
  if (!j || !j->is_array()) return out;
  for (const auto& v : j->get_array()) {
    if (v.is_string()) out.emplace_back(v.get_string());
  }
  return out;
}

}  // namespace

Status MigrateStateSchema(SqliteDb& db) {
  return Migrate(db, kStateMigrations, "tether.db");
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  auto db = SqliteDb::Open(path, {});
  if (!db) return db.error();
  if (Status s = MigrateStateSchema(**db); !s) return s.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(*db)));
}

Status StateStore::InsertTask(const TaskRecord& t) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("INSERT INTO tasks (") + kTaskColumns +
                        ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                        "?,?,?,?)");
  if (!s) return s.error();
  s->Bind(1, t.id)
      .Bind(2, t.parent_id)
      .Bind(3, t.subject)
      .Bind(4, t.issuer)
      .Bind(5, t.agent_type)
      .Bind(6, t.agent_id)
      .Bind(7, t.agent_attrs)
      .Bind(8, t.owner_type)
      .Bind(9, t.owner_id)
      .Bind(10, t.repo)
      .Bind(11, t.environment)
      .Bind(12, t.intent)
      .Bind(13, t.labels)
      .Bind(14, t.ticket_provider)
      .Bind(15, t.ticket_id)
      .Bind(16, t.ticket_state)
      .Bind(17, std::int64_t{t.ticket_verified ? 1 : 0})
      .Bind(18, t.ticket_checked_ms)
      .Bind(19, t.created_ms)
      .Bind(20, t.expires_ms)
      .Bind(21, t.lease_seconds)
      .Bind(22, t.heartbeat_ms)
      .Bind(23, t.token_jti)
      .Bind(24, t.ended_ms)
      .Bind(25, t.end_reason);
  return s->Run();
}

Result<bool> StateStore::EndTask(std::string_view id, std::int64_t ended_ms,
                                 std::string_view reason) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "UPDATE tasks SET ended_ms = ?, end_reason = ? "
      "WHERE id = ? AND ended_ms = 0");
  if (!s) return s.error();
  s->Bind(1, ended_ms).Bind(2, reason).Bind(3, id);
  if (Status st = s->Run(); !st) return st.error();
  return db_->Changes() > 0;
}

Status StateStore::Heartbeat(std::string_view id, std::int64_t at_ms) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "UPDATE tasks SET heartbeat_ms = ? WHERE id = ? AND ended_ms = 0");
  if (!s) return s.error();
  s->Bind(1, at_ms).Bind(2, id);
  return s->Run();
}

Status StateStore::UpdateTicket(std::string_view id, std::string_view state,
                                bool verified, std::int64_t checked_ms) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "UPDATE tasks SET ticket_state = ?, ticket_verified = ?, "
      "ticket_checked_ms = ? WHERE id = ?");
  if (!s) return s.error();
  s->Bind(1, state)
      .Bind(2, std::int64_t{verified ? 1 : 0})
      .Bind(3, checked_ms)
      .Bind(4, id);
  return s->Run();
}

Result<std::vector<TaskRecord>> StateStore::QueryTasks(
    std::string_view where, const std::vector<std::string>& args,
    std::size_t limit) {
  std::string sql = std::string("SELECT ") + kTaskColumns + " FROM tasks";
  if (!where.empty()) sql += " WHERE " + std::string(where);
  sql += " ORDER BY created_ms, id";
  if (limit) sql += " LIMIT " + std::to_string(limit);
  auto s = db_->Prepare(sql);
  if (!s) return s.error();
  for (std::size_t i = 0; i < args.size(); ++i) {
    s->Bind(static_cast<int>(i + 1), args[i]);
  }
  std::vector<TaskRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(ReadTask(*s));
  }
  return out;
}

Result<std::optional<TaskRecord>> StateStore::GetTask(std::string_view id) {
  std::lock_guard lock(mu_);
  auto rows = QueryTasks("id = ?1", {std::string(id)}, 1);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<TaskRecord>();
  return std::optional<TaskRecord>(std::move(rows->front()));
}

Result<std::vector<TaskRecord>> StateStore::ListTasks(const TaskFilter& f) {
  std::lock_guard lock(mu_);
  std::string where = "1";
  std::vector<std::string> args;
  if (f.active_only) where += " AND ended_ms = 0";
  if (!f.subject.empty()) {
    args.push_back(f.subject);
    where += " AND subject = ?" + std::to_string(args.size());
  }
  if (!f.after_id.empty()) {
    args.push_back(f.after_id);
    std::string n = std::to_string(args.size());
    where +=
        " AND (created_ms, id) > (SELECT created_ms, id FROM tasks "
        "WHERE id = ?" +
        n + ")";
  }
  return QueryTasks(where, args, f.limit);
}

Result<std::vector<TaskRecord>> StateStore::ActiveTasks() {
  std::lock_guard lock(mu_);
  return QueryTasks("ended_ms = 0", {}, 0);
}

Result<std::int64_t> StateStore::InsertRevocation(const RevocationRecord& r) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "INSERT INTO revocations (kind, value, before_ms, created_ms, "
      "created_by, reason) VALUES (?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  s->Bind(1, r.kind)
      .Bind(2, r.value)
      .Bind(3, r.before_ms)
      .Bind(4, r.created_ms)
      .Bind(5, r.created_by)
      .Bind(6, r.reason);
  if (Status st = s->Run(); !st) return st.error();
  return db_->LastInsertRowId();
}

Result<std::vector<RevocationRecord>> StateStore::Revocations() {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "SELECT id, kind, value, before_ms, created_ms, created_by, reason "
      "FROM revocations ORDER BY id");
  if (!s) return s.error();
  std::vector<RevocationRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    RevocationRecord r;
    r.id = s->ColumnInt(0);
    r.kind = std::string(s->ColumnText(1));
    r.value = std::string(s->ColumnText(2));
    r.before_ms = s->ColumnInt(3);
    r.created_ms = s->ColumnInt(4);
    r.created_by = std::string(s->ColumnText(5));
    r.reason = std::string(s->ColumnText(6));
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

constexpr const char* kApprovalColumns =
    "id, task_id, state, request_digest, created_ms, expires_ms, decided_ms, "
    "doc";

ApprovalRecord ReadApproval(const Statement& s) {
  ApprovalRecord a;
  a.id = std::string(s.ColumnText(0));
  a.task_id = std::string(s.ColumnText(1));
  a.state = std::string(s.ColumnText(2));
  a.request_digest = std::string(s.ColumnText(3));
  a.created_ms = s.ColumnInt(4);
  a.expires_ms = s.ColumnInt(5);
  a.decided_ms = s.ColumnInt(6);
  a.doc = std::string(s.ColumnText(7));
  return a;
}

Result<std::vector<ApprovalRecord>> ReadApprovals(Statement& s) {
  std::vector<ApprovalRecord> out;
  while (true) {
    auto row = s.Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(ReadApproval(s));
  }
  return out;
}

}  // namespace

Status StateStore::PutApproval(const ApprovalRecord& a) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("INSERT OR REPLACE INTO approvals (") +
                        kApprovalColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  s->Bind(1, a.id)
      .Bind(2, a.task_id)
      .Bind(3, a.state)
      .Bind(4, a.request_digest)
      .Bind(5, a.created_ms)
      .Bind(6, a.expires_ms)
      .Bind(7, a.decided_ms)
      .Bind(8, a.doc);
  return s->Run();
}

Result<std::optional<ApprovalRecord>> StateStore::GetApproval(
    std::string_view id) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kApprovalColumns +
                        " FROM approvals WHERE id = ?");
  if (!s) return s.error();
  s->Bind(1, id);
  auto rows = ReadApprovals(*s);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<ApprovalRecord>();
  return std::optional<ApprovalRecord>(std::move(rows->front()));
}

Result<std::vector<ApprovalRecord>> StateStore::ListApprovals(
    const ApprovalFilter& f) {
  std::lock_guard lock(mu_);
  std::string sql =
      std::string("SELECT ") + kApprovalColumns + " FROM approvals WHERE 1";
  std::vector<std::string> args;
  if (!f.state.empty()) {
    sql += " AND state = ?";
    args.push_back(f.state);
  }
  if (!f.task_id.empty()) {
    sql += " AND task_id = ?";
    args.push_back(f.task_id);
  }
  if (!f.after_id.empty()) {
    sql += " AND id < ?";
    args.push_back(f.after_id);
  }
  sql += " ORDER BY id DESC LIMIT ?";
  auto s = db_->Prepare(sql);
  if (!s) return s.error();
  int i = 1;
  for (const std::string& a : args) s->Bind(i++, a);
  s->Bind(i, static_cast<std::int64_t>(f.limit));
  return ReadApprovals(*s);
}

Result<std::vector<ApprovalRecord>> StateStore::LiveApprovals(
    std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kApprovalColumns +
                        " FROM approvals WHERE state IN ('pending', "
                        "'approved') OR (state = 'denied' AND "
                        "expires_ms > ?) ORDER BY id");
  if (!s) return s.error();
  s->Bind(1, now_ms);
  return ReadApprovals(*s);
}

Status StateStore::InsertOperator(const OperatorRecord& op) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "INSERT INTO operators (id, name, role, groups, secret_sha256, "
      "created_ms, revoked_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!s) return s.error();
  s->Bind(1, op.id)
      .Bind(2, op.name)
      .Bind(3, op.role)
      .Bind(4, GroupsToJson(op.groups))
      .Bind(5, op.secret_sha256)
      .Bind(6, op.created_ms)
      .Bind(7, op.revoked_ms);
  return s->Run();
}

Result<std::vector<OperatorRecord>> StateStore::Operators() {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "SELECT id, name, role, groups, secret_sha256, created_ms, revoked_ms "
      "FROM operators ORDER BY created_ms, id");
  if (!s) return s.error();
  std::vector<OperatorRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    OperatorRecord op;
    op.id = std::string(s->ColumnText(0));
    op.name = std::string(s->ColumnText(1));
    op.role = std::string(s->ColumnText(2));
    op.groups = GroupsFromJson(s->ColumnText(3));
    op.secret_sha256 = std::string(s->ColumnText(4));
    op.created_ms = s->ColumnInt(5);
    op.revoked_ms = s->ColumnInt(6);
    out.push_back(std::move(op));
  }
  return out;
}

Status StateStore::InsertSigningKey(const SigningKeyRecord& key) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "INSERT INTO signing_keys (kid, created_ms, retired_ms) VALUES (?, ?, "
      "?)");
  if (!s) return s.error();
  s->Bind(1, key.kid).Bind(2, key.created_ms).Bind(3, key.retired_ms);
  return s->Run();
}

Status StateStore::RetireSigningKeysExcept(std::string_view kid,
                                           std::int64_t at_ms) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "UPDATE signing_keys SET retired_ms = ? WHERE kid != ? AND retired_ms "
      "= 0");
  if (!s) return s.error();
  s->Bind(1, at_ms).Bind(2, kid);
  return s->Run();
}

Result<std::vector<SigningKeyRecord>> StateStore::SigningKeys() {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(
      "SELECT kid, created_ms, retired_ms FROM signing_keys ORDER BY "
      "created_ms, kid");
  if (!s) return s.error();
  std::vector<SigningKeyRecord> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(
        {std::string(s->ColumnText(0)), s->ColumnInt(1), s->ColumnInt(2)});
  }
  return out;
}

Status StateStore::DeleteSigningKey(std::string_view kid) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare("DELETE FROM signing_keys WHERE kid = ?");
  if (!s) return s.error();
  s->Bind(1, kid);
  return s->Run();
}

}  // namespace tether::store
