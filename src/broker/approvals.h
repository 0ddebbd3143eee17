// Approvals (docs/approvals.md): a human decision bound to the digest of one
// exact request. This file is the data model and its rules, free of the
// broker's locking and I/O: what an approval records, when its requirements
// are met, who may decide it, and its JSON.
#ifndef TETHER_BROKER_APPROVALS_H_
#define TETHER_BROKER_APPROVALS_H_

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "identity/principal.h"
#include "store/state.h"

namespace tether::broker {

// One satisfied `@approval` policy: `approvers` distinct approvers from any
// of `groups` must approve.
struct ApprovalRequirement {
  std::string policy;
  std::vector<std::string> groups;
  int approvers = 1;
  std::string text;  // the policy's source, for approvers to read
};

// One approver's (or the denier's) word.
struct ApprovalVote {
  std::string by;    // Operator::"name"
  std::string name;  // the operator's name
  std::vector<std::string> groups;
  std::int64_t at_ms = 0;
  std::string reason;
  int uses = 1;  // approvals only: uses this approver grants
};

struct Approval {
  std::string id;
  std::string state = "pending";  // pending | approved | denied | expired
  std::string request_digest;
  std::string task_id;
  std::string requester;  // Task::"<id>"
  std::string action;
  std::string resource_type, resource_id;
  boost::json::object resource_attrs;  // a caller's, for open types
  std::string edge;
  std::string body_sha256;      // proxied calls; empty otherwise
  boost::json::object context;  // the caller's, as bound
  boost::json::object task;     // a snapshot of the task when raised
  std::string task_owner, task_agent, task_subject;
  std::vector<ApprovalRequirement> requirements;
  std::vector<ApprovalVote> votes;  // approvals so far
  std::optional<ApprovalVote> denial;
  int uses_allowed = 0;  // set when approved: the least any approver granted
  int uses = 0;
  std::int64_t created_ms = 0, expires_ms = 0, decided_ms = 0;
  std::string expire_reason;

  bool Live(std::int64_t now_ms) const {
    return (state == "pending" || state == "approved") && now_ms < expires_ms;
  }
  bool UsesLeft() const { return state == "approved" && uses < uses_allowed; }
};

// A new approval id: "ap" + 12 hex digits of the creation time in ms + 16
// random hex digits, so ids sort by creation.
std::string NewApprovalId(std::int64_t now_ms);
bool IsApprovalId(std::string_view id);

// The names of the approvers counting toward `req`.
std::vector<std::string> ApprovedBy(const ApprovalRequirement& req,
                                    const std::vector<ApprovalVote>& votes);
// Every requirement has its number of distinct approvers from its groups.
bool RequirementsMet(const std::vector<ApprovalRequirement>& reqs,
                     const std::vector<ApprovalVote>& votes);

// Whether `who` may approve or deny `a` now: an operator with the approver
// or admin role, in a group some requirement names, neither the task's
// owner nor its agent, and (approving) not already counted. Error codes
// "forbidden" and "conflict" (already voted; not pending).
Status MayDecide(const Approval& a, const identity::Principal& who,
                 bool approving);

// The requirements as JSON: policy, groups, approvers; with `with_text`
// each policy's text; with `votes`, who counts toward each (approved_by).
boost::json::array RequirementsToJson(
    const std::vector<ApprovalRequirement>& reqs, bool with_text,
    const std::vector<ApprovalVote>* votes);

boost::json::object ApprovalToJson(const Approval& a,
                                   std::string_view console_url);
store::ApprovalRecord ApprovalToRecord(const Approval& a);
// Error code "store_corrupt" if the stored document does not parse.
Result<Approval> ApprovalFromRecord(const store::ApprovalRecord& r);

}  // namespace tether::broker

#endif  // TETHER_BROKER_APPROVALS_H_
