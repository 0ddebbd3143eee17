// The authorizer: a pure function of (policy set, request, entities) to a
// decision, with tether's two differences from Cedar (docs/policy.md):
//
//  1. Fail closed: a `forbid` whose evaluation errors counts as satisfied.
//  2. Approval gates: a satisfied (or erroring) `@approval` permit turns the
//     answer into approval_required, one requirement per such policy; a plain
//     permit does not bypass it; forbids still win.
//
// With `cedar_semantics` the answer is exactly Cedar's: erroring policies are
// skipped and `@approval` is ignored.
#ifndef TETHER_POLICY_AUTHORIZER_H_
#define TETHER_POLICY_AUTHORIZER_H_

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "core/arena.h"
#include "policy/entities.h"
#include "policy/policy_set.h"
#include "policy/request.h"

namespace tether::policy {

enum class Decision : std::uint8_t { kAllow, kDeny, kApprovalRequired };
std::string_view DecisionName(Decision d);  // allow | deny | approval_required

struct PolicyError {
  const Policy* policy = nullptr;
  std::string message;
};

struct Response {
  Decision decision = Decision::kDeny;
  // Policies that determined the decision, in load order: the satisfied (or,
  // fail-closed, erroring) forbids of a deny; the gating permits of an
  // approval_required; the satisfied permits of an allow; none for a default
  // deny.
  std::vector<const Policy*> determining;
  // Every policy whose evaluation failed, in load order.
  std::vector<PolicyError> errors;
  // For approval_required: the gating policies (each has `approval`).
  std::vector<const Policy*> approvals;
};

struct AuthorizeOptions {
  bool cedar_semantics = false;
};

// Thread-safe for concurrent calls on the same (immutable) set and store.
Response Authorize(const PolicySet& policies, const Request& request,
                   const EntityStore& entities,
                   const AuthorizeOptions& options = {});

// Human-readable sentences explaining `r`.
std::vector<std::string> Reasons(const Response& r);

// The Decision JSON shape of docs/policy.md: decision, determining_policies,
// errors, reasons, approval (null, or {"requirements": [...]}).
boost::json::object ResponseToJson(const Response& r);

}  // namespace tether::policy

#endif  // TETHER_POLICY_AUTHORIZER_H_
