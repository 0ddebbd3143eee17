#include "broker/approvals.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "broker/fields.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/time.h"

namespace tether::broker {
namespace {

namespace json = boost::json;

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.emplace_back(s);
  return a;
}

std::vector<std::string> StringsFrom(const json::value* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const json::value& x : v->get_array()) {
    if (x.is_string()) out.emplace_back(x.get_string());
  }
  return out;
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t Int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return 0;
}

json::object VoteToJson(const ApprovalVote& v, bool with_uses) {
  json::object o{{"by", v.by},
                 {"name", v.name},
                 {"groups", Strings(v.groups)},
                 {"at", FormatRfc3339(v.at_ms)},
                 {"at_ms", v.at_ms},
                 {"reason", v.reason}};
  if (with_uses) o["uses"] = v.uses;
  return o;
}

ApprovalVote VoteFromJson(const json::object& o) {
  ApprovalVote v;
  v.by = Str(o, "by");
  v.name = Str(o, "name");
  v.groups = StringsFrom(o.if_contains("groups"));
  v.at_ms = Int(o, "at_ms");
  v.reason = Str(o, "reason");
  v.uses = static_cast<int>(std::max<std::int64_t>(1, Int(o, "uses")));
  return v;
}

bool InAnyGroup(const std::vector<std::string>& mine,
                const std::vector<std::string>& wanted) {
  for (const std::string& g : mine) {
    if (std::find(wanted.begin(), wanted.end(), g) != wanted.end()) return true;
  }
  return false;
}

}  // namespace

std::string NewApprovalId(std::int64_t now_ms) {
  char t[16];
  std::snprintf(t, sizeof t, "%012llx",
                static_cast<unsigned long long>(now_ms) & 0xffffffffffffULL);
  return "ap" + std::string(t) + HexEncode(RandomBytes(8));
}

bool IsApprovalId(std::string_view id) {
  if (id.size() != 30 || id.substr(0, 2) != "ap") return false;
  for (char c : id.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string> ApprovedBy(const ApprovalRequirement& req,
                                    const std::vector<ApprovalVote>& votes) {
  std::vector<std::string> names;
  for (const ApprovalVote& v : votes) {
    if (!InAnyGroup(v.groups, req.groups)) continue;
    if (std::find(names.begin(), names.end(), v.by) == names.end()) {
      names.push_back(v.by);
    }
  }
  return names;
}

bool RequirementsMet(const std::vector<ApprovalRequirement>& reqs,
                     const std::vector<ApprovalVote>& votes) {
  if (reqs.empty()) return false;  // nothing to approve is no approval
  for (const ApprovalRequirement& r : reqs) {
    if (static_cast<int>(ApprovedBy(r, votes).size()) < r.approvers) {
      return false;
    }
  }
  return true;
}

Status MayDecide(const Approval& a, const identity::Principal& who,
                 bool approving) {
  if (who.kind != identity::PrincipalKind::kOperator ||
      (who.role != "approver" && who.role != "admin")) {
    return MakeError("forbidden", "deciding approvals is for approvers");
  }
  std::string uid = Uid(who.type, who.id);
  if (uid == a.task_owner || uid == a.task_agent ||
      (!who.subject.empty() && who.subject == a.task_subject)) {
    return MakeError("forbidden",
                     "the task's owner or agent may not decide its approvals");
  }
  bool in_group = false;
  for (const ApprovalRequirement& r : a.requirements) {
    in_group = in_group || InAnyGroup(who.groups, r.groups);
  }
  if (!in_group) {
    std::string wanted;
    for (const ApprovalRequirement& r : a.requirements) {
      for (const std::string& g : r.groups) {
        if (wanted.find("`" + g + "`") != std::string::npos) continue;
        if (!wanted.empty()) wanted += ", ";
        wanted += "`" + g + "`";
      }
    }
    return MakeError("forbidden",
                     "only members of " + wanted + " may decide this approval");
  }
  if (a.state != "pending") {
    return MakeError("conflict", "the approval is " + a.state);
  }
  if (approving) {
    for (const ApprovalVote& v : a.votes) {
      if (v.by == uid) {
        return MakeError("conflict", "you have already approved this request");
      }
    }
  }
  return {};
}

json::array RequirementsToJson(const std::vector<ApprovalRequirement>& reqs,
                               bool with_text,
                               const std::vector<ApprovalVote>* votes) {
  json::array out;
  for (const ApprovalRequirement& r : reqs) {
    json::object o{{"policy", r.policy},
                   {"groups", Strings(r.groups)},
                   {"approvers", r.approvers}};
    if (with_text) o["text"] = r.text;
    if (votes) o["approved_by"] = Strings(ApprovedBy(r, *votes));
    out.push_back(std::move(o));
  }
  return out;
}

json::object ApprovalToJson(const Approval& a, std::string_view console_url) {
  json::object o;
  o["id"] = a.id;
  o["state"] = a.state;
  o["request_digest"] = a.request_digest;
  o["requester"] = a.requester;
  o["task"] = a.task;
  o["action"] = a.action;
  json::object resource{{"type", a.resource_type}, {"id", a.resource_id}};
  if (!a.resource_attrs.empty()) resource["attrs"] = a.resource_attrs;
  o["resource"] = std::move(resource);
  o["context"] = a.context;
  o["edge"] = a.edge;
  if (a.body_sha256.empty()) {
    o["body_sha256"] = nullptr;
  } else {
    o["body_sha256"] = a.body_sha256;
  }
  o["requirements"] = RequirementsToJson(a.requirements, true, &a.votes);
  json::array votes;
  for (const ApprovalVote& v : a.votes) votes.push_back(VoteToJson(v, true));
  o["approvals"] = std::move(votes);
  if (a.denial) {
    o["denial"] = VoteToJson(*a.denial, false);
  } else {
    o["denial"] = nullptr;
  }
  o["uses_allowed"] = a.uses_allowed;
  o["uses"] = a.uses;
  o["created_at"] = FormatRfc3339(a.created_ms);
  o["expires_at"] = FormatRfc3339(a.expires_ms);
  if (a.decided_ms) {
    o["decided_at"] = FormatRfc3339(a.decided_ms);
  } else {
    o["decided_at"] = nullptr;
  }
  if (!a.expire_reason.empty()) o["expire_reason"] = a.expire_reason;
  std::string url(console_url);
  o["console_url"] = url + "#/approvals/" + a.id;
  return o;
}

store::ApprovalRecord ApprovalToRecord(const Approval& a) {
  store::ApprovalRecord r;
  r.id = a.id;
  r.task_id = a.task_id;
  r.state = a.state;
  r.request_digest = a.request_digest;
  r.created_ms = a.created_ms;
  r.expires_ms = a.expires_ms;
  r.decided_ms = a.decided_ms;
  json::object d;
  d["requester"] = a.requester;
  d["action"] = a.action;
  d["resource_type"] = a.resource_type;
  d["resource_id"] = a.resource_id;
  d["resource_attrs"] = a.resource_attrs;
  d["edge"] = a.edge;
  d["body_sha256"] = a.body_sha256;
  d["context"] = a.context;
  d["task"] = a.task;
  d["task_owner"] = a.task_owner;
  d["task_agent"] = a.task_agent;
  d["task_subject"] = a.task_subject;
  d["requirements"] = RequirementsToJson(a.requirements, true, nullptr);
  json::array votes;
  for (const ApprovalVote& v : a.votes) votes.push_back(VoteToJson(v, true));
  d["votes"] = std::move(votes);
  if (a.denial) d["denial"] = VoteToJson(*a.denial, false);
  d["uses_allowed"] = a.uses_allowed;
  d["uses"] = a.uses;
  d["expire_reason"] = a.expire_reason;
  r.doc = SerializeJson(d);
  return r;
}

Result<Approval> ApprovalFromRecord(const store::ApprovalRecord& r) {
  auto doc = ParseJson(r.doc);
  if (!doc || !doc->is_object()) {
    return MakeError("store_corrupt",
                     "approval " + r.id + " has an unreadable record");
  }
  const json::object& d = doc->get_object();
  Approval a;
  a.id = r.id;
  a.task_id = r.task_id;
  a.state = r.state;
  a.request_digest = r.request_digest;
  a.created_ms = r.created_ms;
  a.expires_ms = r.expires_ms;
  a.decided_ms = r.decided_ms;
  a.requester = Str(d, "requester");
  a.action = Str(d, "action");
  a.resource_type = Str(d, "resource_type");
  a.resource_id = Str(d, "resource_id");
  if (const json::value* v = d.if_contains("resource_attrs");
      v && v->is_object()) {
    a.resource_attrs = v->get_object();
  }
  a.edge = Str(d, "edge");
  a.body_sha256 = Str(d, "body_sha256");
  if (const json::value* v = d.if_contains("context"); v && v->is_object())
    a.context = v->get_object();
  if (const json::value* v = d.if_contains("task"); v && v->is_object())
    a.task = v->get_object();
  a.task_owner = Str(d, "task_owner");
  a.task_agent = Str(d, "task_agent");
  a.task_subject = Str(d, "task_subject");
  if (const json::value* v = d.if_contains("requirements");
      v && v->is_array()) {
    for (const json::value& x : v->get_array()) {
      if (!x.is_object()) continue;
      const json::object& q = x.get_object();
      ApprovalRequirement req;
      req.policy = Str(q, "policy");
      req.groups = StringsFrom(q.if_contains("groups"));
      req.approvers = static_cast<int>(Int(q, "approvers"));
      req.text = Str(q, "text");
      a.requirements.push_back(std::move(req));
    }
  }
  if (const json::value* v = d.if_contains("votes"); v && v->is_array()) {
    for (const json::value& x : v->get_array()) {
      if (x.is_object()) a.votes.push_back(VoteFromJson(x.get_object()));
    }
  }
  if (const json::value* v = d.if_contains("denial"); v && v->is_object())
    a.denial = VoteFromJson(v->get_object());
  a.uses_allowed = static_cast<int>(Int(d, "uses_allowed"));
  a.uses = static_cast<int>(Int(d, "uses"));
  a.expire_reason = Str(d, "expire_reason");
  return a;
}

}  // namespace tether::broker
