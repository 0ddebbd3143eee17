// The broker's approvals (docs/approvals.md): raising them when policy says
// approval_required, deciding them, using them, expiring them, and holding
// requests that wait for them.
//
// Every change is recorded before it is acknowledged: the audit event is
// made durable first, then tether.db, then memory; a change whose event
// cannot be written does not happen. approvals_mu_ serializes all of it
// (approvals are rare next to decisions, and each one is a human's).
#include <algorithm>
#include <boost/json.hpp>

#include "broker/broker.h"
#include "broker/fields.h"
#include "core/time.h"

namespace tether::broker {
namespace {

namespace json = boost::json;

std::string Names(const std::vector<ApprovalVote>& votes) {
  std::string out;
  for (const ApprovalVote& v : votes) {
    if (!out.empty()) out += ", ";
    out += v.name;
  }
  return out;
}

}  // namespace

std::string Broker::ApprovalKey(std::string_view task,
                                std::string_view digest) const {
  return std::string(task) + '\n' + std::string(digest);
}

audit::Event Broker::ApprovalEvent(const Approval& a, std::string type) const {
  audit::Event e;
  e.type = std::move(type);
  e.task_id = a.task_id;
  e.principal = a.requester;
  e.action = a.action;
  e.resource = Uid(a.resource_type, a.resource_id);
  e.approval_id = a.id;
  e.request_digest = a.request_digest;
  e.edge = a.edge;
  e.detail["state"] = a.state;
  return e;
}

Status Broker::CommitApproval(const Approval& a, audit::Event event) {
  if (auto seq = Audit(std::move(event)); !seq) {
    return MakeError("audit_unavailable",
                     "the audit log is unavailable: " + seq.error().message);
  }
  return state_->PutApproval(ApprovalToRecord(a));
}

Status Broker::LoadApprovals() {
  std::int64_t now = NowMs();
  // Includes pending and approved ones whose time ran out while the server
  // was down: the reaper's first pass expires them (with their events).
  auto live = state_->LiveApprovals(now);
  if (!live) return live.error();
  std::lock_guard lock(approvals_mu_);
  for (const store::ApprovalRecord& r : *live) {
    auto a = ApprovalFromRecord(r);
    if (!a) return a.error();
    approval_keys_[ApprovalKey(a->task_id, a->request_digest)] = a->id;
    approvals_.emplace(a->id, std::move(*a));
  }
  return {};
}

void Broker::ResolveApproval(const TaskCaller& caller, Decided& d) {
  json::object& decision = d.decision;
  audit::Event& e = d.event;
  std::int64_t now = NowMs();
  const ApprovalsConfig& config = options_.config.approvals;
  auto deny = [&](const std::string& reason) {
    decision["decision"] = "deny";
    decision["reasons"] = json::array{json::value(reason)};
    decision["approval"] = nullptr;
    d.outcome = Outcome::kDeny;
    d.wait_ms = 0;
    e.decision = "deny";
    e.reasons = {reason};
  };
  auto pending = [&](const Approval& a) {
    decision["approval"] = json::object{
        {"id", a.id},
        {"expires_at", FormatRfc3339(a.expires_ms)},
        {"requirements", RequirementsToJson(a.requirements, false, nullptr)},
        {"console_url", console_url_ + "#/approvals/" + a.id}};
    e.approval_id = a.id;
  };

  std::unique_lock lock(approvals_mu_);
  Approval* found = nullptr;
  std::optional<Approval> stored;  // a named approval no longer in memory
  if (!d.approval_id.empty()) {
    if (auto it = approvals_.find(d.approval_id); it != approvals_.end()) {
      found = &it->second;
    } else {
      auto rec = state_->GetApproval(d.approval_id);
      if (!rec) return deny("approvals cannot be read: " + rec.error().message);
      if (*rec) {
        auto a = ApprovalFromRecord(**rec);
        if (!a) return deny(a.error().message);
        stored = std::move(*a);
        found = &*stored;
      }
    }
    e.approval_id = d.approval_id;
    if (!found || found->task_id != caller.task_id) {
      return deny("approval " + d.approval_id + " is not one of this task's");
    }
    if (found->request_digest != e.request_digest) {
      return deny("approval " + d.approval_id +
                  " was granted for a different request; it covers only the "
                  "exact request it was raised for");
    }
  } else if (auto k = approval_keys_.find(
                 ApprovalKey(caller.task_id, e.request_digest));
             k != approval_keys_.end()) {
    if (auto it = approvals_.find(k->second); it != approvals_.end()) {
      found = &it->second;
    }
  }

  if (found) {
    if (found->state == "denied") {
      std::string by = found->denial ? found->denial->name : "an approver";
      std::string why = found->denial && !found->denial->reason.empty()
                            ? ": " + found->denial->reason
                            : "";
      e.approval_id = found->id;
      return deny("approval " + found->id + " for this request was denied by " +
                  by + why);
    }
    if (found->state == "expired" || now >= found->expires_ms) {
      if (!d.approval_id.empty()) {
        return deny("approval " + found->id + " has expired");
      }
      found = nullptr;  // ask again
    } else if (found->state == "approved" && !found->UsesLeft()) {
      if (!d.approval_id.empty()) {
        return deny("approval " + found->id + " has been used");
      }
      found = nullptr;  // ask again
    }
  }

  if (found && found->state == "approved" &&
      !RequirementsMet(d.requirements, found->votes)) {
    // Decided again just now, the policies ask for more than its approvers
    // gave: it cannot allow; a named one is refused, otherwise the request
    // asks again under today's requirements.
    if (!d.approval_id.empty()) {
      return deny("approval " + found->id +
                  " no longer meets the policies' requirements; ask again");
    }
    found = nullptr;
  }
  if (found && found->state == "approved") {
    Approval used = *found;
    ++used.uses;
    audit::Event ue = ApprovalEvent(used, "approval.use");
    ue.decision_id = e.decision_id;
    ue.detail["uses"] = used.uses;
    ue.detail["uses_allowed"] = used.uses_allowed;
    if (Status s = CommitApproval(used, std::move(ue)); !s) {
      return deny("the approval's use cannot be recorded: " +
                  s.error().message);
    }
    *found = std::move(used);
    metrics_.ApprovalUsed();
    std::string reason = "approved by " + Names(found->votes) + " (approval " +
                         found->id + ", use " + std::to_string(found->uses) +
                         " of " + std::to_string(found->uses_allowed) + ")";
    json::array reasons = decision["reasons"].is_array()
                              ? decision["reasons"].get_array()
                              : json::array{};
    reasons.emplace_back(reason);
    decision["decision"] = "allow";
    decision["reasons"] = std::move(reasons);
    decision["approval"] =
        json::object{{"id", found->id},
                     {"expires_at", FormatRfc3339(found->expires_ms)},
                     {"requirements",
                      RequirementsToJson(found->requirements, false, nullptr)},
                     {"uses", found->uses},
                     {"uses_allowed", found->uses_allowed}};
    d.outcome = Outcome::kAllow;
    d.wait_ms = 0;
    e.decision = "allow";
    e.reasons.push_back(reason);
    e.approval_id = found->id;
    return;
  }
  if (found && found->state == "pending") {
    // The same request again: it joins the approval already asked for.
    return pending(*found);
  }

  // A new approval.
  std::int64_t open = 0;
  for (const auto& [id, a] : approvals_) {
    open += a.task_id == caller.task_id && a.state == "pending" &&
            now < a.expires_ms;
  }
  if (open >= config.max_pending_per_task) {
    return deny("this task already has " + std::to_string(open) +
                " approvals pending (the limit); wait for them to be decided");
  }
  auto rec = state_->GetTask(caller.task_id);
  if (!rec || !*rec) return deny("the task's record cannot be read");
  Approval a;
  a.id = NewApprovalId(now);
  a.request_digest = e.request_digest;
  a.task_id = caller.task_id;
  a.requester = Uid("Task", caller.task_id);
  a.action = e.action;
  a.resource_type = d.resource_type;
  a.resource_id = d.resource_id;
  a.resource_attrs = d.resource_attrs;
  a.body_sha256 = d.body_sha256;
  a.edge = e.edge;
  // What operators and webhooks see passes the audit log's redactor, as the
  // audit record does (the digest is over the request as sent).
  json::value context = d.bound_context, task = TaskJson(**rec),
              attrs = d.resource_attrs;
  if (auto redactor = audit_.log->redactor()) {
    redactor->RedactJson(context);
    redactor->RedactJson(task);
    redactor->RedactJson(attrs);
  }
  a.context = std::move(context.get_object());
  a.task = std::move(task.get_object());
  a.resource_attrs = std::move(attrs.get_object());
  a.task_owner = Uid((*rec)->owner_type, (*rec)->owner_id);
  a.task_agent = Uid((*rec)->agent_type, (*rec)->agent_id);
  a.task_subject = (*rec)->subject;
  a.requirements = d.requirements;
  a.created_ms = now;
  a.expires_ms = now + config.ttl_seconds * 1000;
  audit::Event re = ApprovalEvent(a, "approval.request");
  re.decision_id = e.decision_id;
  re.determining_policies = e.determining_policies;
  re.detail["requirements"] =
      RequirementsToJson(a.requirements, false, nullptr);
  re.detail["expires_at"] = FormatRfc3339(a.expires_ms);
  if (Status s = CommitApproval(a, std::move(re)); !s) {
    return deny("the approval cannot be recorded: " + s.error().message);
  }
  approval_keys_[ApprovalKey(a.task_id, a.request_digest)] = a.id;
  auto [it, inserted] = approvals_.emplace(a.id, std::move(a));
  metrics_.ApprovalRequested();
  json::object announced = ApprovalToJson(it->second, console_url_);
  pending(it->second);
  lock.unlock();
  notifier_->Notify("requested", announced);
}

bool Broker::WaitForApproval(const std::string& task_id, const std::string& id,
                             std::chrono::steady_clock::time_point until) {
  // Each waiter holds a handler thread: leave at least half of them for
  // everyone else (approvers among them), and a quarter of the waits to
  // any one task.
  std::int64_t limit =
      std::min<std::int64_t>(options_.config.approvals.max_waiters,
                             options_.config.server.worker_threads / 2);
  std::int64_t per_task = std::max<std::int64_t>(1, limit / 4);
  std::unique_lock lock(approvals_mu_);
  std::int64_t& mine = task_waiters_[task_id];
  if (waiters_ >= limit || mine >= per_task) {
    if (mine == 0) task_waiters_.erase(task_id);
    return false;
  }
  ++waiters_;
  ++mine;
  auto decided = [&] {
    auto it = approvals_.find(id);
    return stop_waiting_ || it == approvals_.end() ||
           it->second.state != "pending";
  };
  bool done = approvals_cv_.wait_until(lock, until, decided);
  --waiters_;
  if (--task_waiters_[task_id] == 0) task_waiters_.erase(task_id);
  return done && !stop_waiting_;
}

void Broker::StopWaiting() {
  {
    std::lock_guard lock(approvals_mu_);
    stop_waiting_ = true;
  }
  approvals_cv_.notify_all();
}

Result<json::object> Broker::ListApprovals(std::string_view state,
                                           std::string_view task,
                                           std::size_t limit,
                                           std::string_view after) {
  if (!state.empty() && state != "pending" && state != "approved" &&
      state != "denied" && state != "expired") {
    return BadRequest("`state` is one of pending, approved, denied, expired");
  }
  if (limit == 0 || limit > 1000) return BadRequest("`limit` is 1 .. 1000");
  // Expire what is due first, so a listing never shows a stale "pending".
  ExpireApprovals(NowMs());
  store::ApprovalFilter f;
  f.state = std::string(state);
  f.task_id = std::string(task);
  f.limit = limit;
  f.after_id = std::string(after);
  auto rows = state_->ListApprovals(f);
  if (!rows) return rows.error();
  json::array out;
  for (const store::ApprovalRecord& r : *rows) {
    auto a = ApprovalFromRecord(r);
    if (!a) return a.error();
    out.push_back(ApprovalToJson(*a, console_url_));
  }
  json::object o{{"approvals", std::move(out)}};
  if (rows->size() == limit) o["next"] = rows->back().id;
  return o;
}

Result<json::object> Broker::GetApproval(std::string_view id) {
  if (!IsApprovalId(id)) return MakeError("not_found", "no such approval");
  ExpireApprovals(NowMs());
  auto rec = state_->GetApproval(id);
  if (!rec) return rec.error();
  if (!*rec) return MakeError("not_found", "no such approval");
  auto a = ApprovalFromRecord(**rec);
  if (!a) return a.error();
  return ApprovalToJson(*a, console_url_);
}

Result<json::object> Broker::DecideApproval(const identity::Principal& actor,
                                            std::string_view id, bool approve,
                                            const json::value& body) {
  if (!body.is_object()) return BadRequest("the body must be a JSON object");
  const json::object& b = body.get_object();
  if (Status s = OnlyMembers(
          b,
          approve ? std::initializer_list<std::string_view>{"reason", "uses"}
                  : std::initializer_list<std::string_view>{"reason"},
          approve ? "an approval" : "a denial");
      !s) {
    return s.error();
  }
  auto reason = StringField(b, "reason", !approve, 1024);
  if (!reason) return reason.error();
  if (!approve && reason->empty()) return BadRequest("say why in `reason`");
  auto uses = IntField(b, "uses", 1);
  if (!uses) return uses.error();
  if (*uses < 1 || *uses > options_.config.approvals.max_uses) {
    return BadRequest("`uses` is 1 .. " +
                      std::to_string(options_.config.approvals.max_uses));
  }
  if (!IsApprovalId(id)) return MakeError("not_found", "no such approval");
  std::int64_t now = NowMs();
  ExpireApprovals(now);

  std::unique_lock lock(approvals_mu_);
  auto it = approvals_.find(id);
  if (it == approvals_.end()) {
    auto rec = state_->GetApproval(id);
    if (!rec) return rec.error();
    if (!*rec) return MakeError("not_found", "no such approval");
    auto a = ApprovalFromRecord(**rec);
    if (!a) return a.error();
    if (Status s = MayDecide(*a, actor, approve); !s) return s.error();
    return MakeError("conflict", "the approval is " + a->state);
  }
  Approval next = it->second;
  if (Status s = MayDecide(next, actor, approve); !s) return s.error();
  ApprovalVote vote;
  vote.by = Uid(actor.type, actor.id);
  vote.name = actor.id;
  vote.groups = actor.groups;
  vote.at_ms = now;
  vote.reason = *reason;
  vote.uses = static_cast<int>(*uses);
  if (approve) {
    next.votes.push_back(vote);
    if (RequirementsMet(next.requirements, next.votes)) {
      next.state = "approved";
      next.decided_ms = now;
      next.uses_allowed = vote.uses;
      for (const ApprovalVote& v : next.votes) {
        next.uses_allowed = std::min(next.uses_allowed, v.uses);
      }
    }
  } else {
    next.denial = vote;
    next.state = "denied";
    next.decided_ms = now;
  }
  audit::Event e = ApprovalEvent(next, "approval.decision");
  e.principal = vote.by;
  e.decision = approve ? "approve" : "deny";
  if (!vote.reason.empty()) e.reasons = {vote.reason};
  e.detail["requester"] = next.requester;
  if (approve) e.detail["uses"] = vote.uses;
  if (Status s = CommitApproval(next, std::move(e)); !s) return s.error();
  it->second = std::move(next);
  const Approval& a = it->second;
  bool decided = a.state != "pending";
  json::object out = ApprovalToJson(a, console_url_);
  lock.unlock();
  if (decided) {
    metrics_.ApprovalDecided();
    approvals_cv_.notify_all();
    notifier_->Notify("decided", out);
  }
  return out;
}

void Broker::ExpireApprovals(std::int64_t now_ms) {
  std::vector<json::object> announce;
  {
    std::lock_guard lock(approvals_mu_);
    for (auto it = approvals_.begin(); it != approvals_.end();) {
      Approval& a = it->second;
      std::string why;
      if (now_ms >= a.expires_ms) {
        why = "its time ran out";
      } else if (!FindActive(a.task_id)) {
        why = "the task is no longer active";
      }
      if (why.empty()) {
        ++it;
        continue;
      }
      if (a.state == "pending" || a.state == "approved") {
        Approval next = a;
        next.state = "expired";
        next.expire_reason = why;
        if (!next.decided_ms) next.decided_ms = now_ms;
        audit::Event e = ApprovalEvent(next, "approval.expire");
        e.reasons = {why};
        e.detail["uses"] = next.uses;
        if (Status s = CommitApproval(next, std::move(e)); !s) {
          ++it;  // try again on the next pass
          continue;
        }
        bool was_pending = a.state == "pending";
        a = std::move(next);
        if (was_pending) {
          metrics_.ApprovalDecided();
          announce.push_back(ApprovalToJson(a, console_url_));
        }
      }
      if (auto k =
              approval_keys_.find(ApprovalKey(a.task_id, a.request_digest));
          k != approval_keys_.end() && k->second == a.id) {
        approval_keys_.erase(k);  // a newer approval may hold the key
      }
      it = approvals_.erase(it);
    }
  }
  if (!announce.empty()) approvals_cv_.notify_all();
  for (const json::object& o : announce) notifier_->Notify("decided", o);
}

}  // namespace tether::broker
