// tether.db: the broker's state (tasks, revocations, operator tokens,
// task-token signing keys). Its schema is versioned (see Migrate); the audit
// log keeps its own database.
//
// Records are plain values; the broker owns their meaning. A StateStore is
// thread-safe (one connection behind a mutex): state writes are rare next to
// decisions, which never touch this database.
#ifndef TETHER_STORE_STATE_H_
#define TETHER_STORE_STATE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/sqlite.h"

namespace tether::store {

struct TaskRecord {
  std::string id;
  std::string parent_id;
  // The identity that started the task, as verified.
  std::string subject;  // OIDC `sub`, SPIFFE ID, or operator:<name>
  std::string issuer;   // the issuer's name, or "operator"
  std::string agent_type, agent_id;  // the agent entity
  std::string agent_attrs;           // Cedar JSON record of its attributes
  std::string owner_type, owner_id;  // who answers for the task
  std::string repo;                  // canonical owner/name
  std::string environment;
  std::string intent;
  std::string labels;  // JSON array of strings
  std::string ticket_provider, ticket_id, ticket_state;
  bool ticket_verified = false;
  std::int64_t ticket_checked_ms = 0;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t lease_seconds = 0;  // 0: no lease
  std::int64_t heartbeat_ms = 0;
  std::string token_jti;
  std::int64_t ended_ms = 0;  // 0 while active
  std::string end_reason;
};

struct RevocationRecord {
  std::int64_t id = 0;
  std::string kind;            // task | token | identity | all
  std::string value;           // task id, jti, subject; empty for all
  std::int64_t before_ms = 0;  // all: what was issued before this
  std::int64_t created_ms = 0;
  std::string created_by;
  std::string reason;
};

struct OperatorRecord {
  std::string id;  // public part of the token
  std::string name;
  std::string role;  // admin | approver | auditor
  std::vector<std::string> groups;
  std::string secret_sha256;  // hex
  std::int64_t created_ms = 0;
  std::int64_t revoked_ms = 0;
};

struct SigningKeyRecord {
  std::string kid;
  std::int64_t created_ms = 0;
  std::int64_t retired_ms = 0;  // 0: the active key
};

// An approval (docs/approvals.md). The columns are what lookups need; `doc`
// is the whole approval as the broker serializes it.
struct ApprovalRecord {
  std::string id;
  std::string task_id;
  std::string state;  // pending | approved | denied | expired
  std::string request_digest;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t decided_ms = 0;  // 0 while pending
  std::string doc;              // JSON object
};

struct ApprovalFilter {
  std::string state;  // empty: any
  std::string task_id;
  std::size_t limit = 100;
  std::string after_id;  // pagination: newest first, ids sort by creation
};

struct TaskFilter {
  bool active_only = false;
  std::string subject;  // empty: any
  std::size_t limit = 100;
  std::string after_id;  // pagination: ids sort by creation
};

Status MigrateStateSchema(SqliteDb& db);

class StateStore {
 public:
  static Result<std::unique_ptr<StateStore>> Open(const std::string& path);

  Status InsertTask(const TaskRecord& task);
  // Ends an active task; false if it was not active.
  Result<bool> EndTask(std::string_view id, std::int64_t ended_ms,
                       std::string_view reason);
  Status Heartbeat(std::string_view id, std::int64_t at_ms);
  Status UpdateTicket(std::string_view id, std::string_view state,
                      bool verified, std::int64_t checked_ms);
  Result<std::optional<TaskRecord>> GetTask(std::string_view id);
  Result<std::vector<TaskRecord>> ListTasks(const TaskFilter& filter);
  // Every task not yet ended (loaded at start).
  Result<std::vector<TaskRecord>> ActiveTasks();

  Result<std::int64_t> InsertRevocation(const RevocationRecord& r);
  Result<std::vector<RevocationRecord>> Revocations();

  // Inserts or replaces the approval with this id.
  Status PutApproval(const ApprovalRecord& a);
  Result<std::optional<ApprovalRecord>> GetApproval(std::string_view id);
  Result<std::vector<ApprovalRecord>> ListApprovals(
      const ApprovalFilter& filter);
  // Pending and approved approvals (even past their time: the caller
  // expires them) and denied ones not yet past it. Loaded at start.
  Result<std::vector<ApprovalRecord>> LiveApprovals(std::int64_t now_ms);

  Status InsertOperator(const OperatorRecord& op);
  Result<std::vector<OperatorRecord>> Operators();

  Status InsertSigningKey(const SigningKeyRecord& key);
  // Marks every key but `kid` retired at `at_ms`.
  Status RetireSigningKeysExcept(std::string_view kid, std::int64_t at_ms);
  Result<std::vector<SigningKeyRecord>> SigningKeys();
  Status DeleteSigningKey(std::string_view kid);

 private:
  explicit StateStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  Result<std::vector<TaskRecord>> QueryTasks(
      std::string_view where, const std::vector<std::string>& args,
      std::size_t limit);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;  // guarded by mu_
};

}  // namespace tether::store

#endif  // TETHER_STORE_STATE_H_
