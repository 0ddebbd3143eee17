#include "policy/authorizer.h"

#include <boost/json.hpp>

#include "policy/evaluator.h"

namespace tether::policy {

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "allow";
    case Decision::kDeny:
      return "deny";
    case Decision::kApprovalRequired:
      return "approval_required";
  }
  return "deny";
}

Response Authorize(const PolicySet& policies, const Request& raw_request,
                   const EntityStore& entities,
                   const AuthorizeOptions& options) {
  // Scratch memory for evaluation temporaries: on the stack unless a policy
  // builds large sets or records.
  alignas(std::max_align_t) char buffer[4096];
  Arena scratch(buffer, sizeof buffer);
  const Request request = policies.Canonicalize(raw_request, scratch);
  Evaluator evaluator(request, entities, scratch);
  thread_local MemoTable memo;
  memo.Begin(policies.memo_slots());
  evaluator.set_memo(&memo);

  thread_local std::vector<std::uint32_t> candidates;
  policies.Candidates(request, entities, candidates);

  Response r;
  thread_local std::vector<const Policy*> forbids, gates, permits;
  forbids.clear();
  gates.clear();
  permits.clear();
  bool cedar = options.cedar_semantics;
  for (std::uint32_t index : candidates) {
    const Policy& p = policies.policies()[index];
    Outcome outcome = evaluator.EvaluatePolicy(policies.plans()[index]);
    if (outcome == Outcome::kFalse) continue;
    bool errored = outcome == Outcome::kError;
    if (errored) r.errors.push_back(PolicyError{&p, evaluator.error()});
    if (p.effect == Effect::kForbid) {
      if (!errored || !cedar) forbids.push_back(&p);
    } else if (p.approval && !cedar) {
      gates.push_back(&p);  // erroring gates count as satisfied: fail closed
    } else if (!errored) {
      permits.push_back(&p);
    }
  }
  if (!forbids.empty()) {
    r.decision = Decision::kDeny;
    r.determining = forbids;
  } else if (!gates.empty()) {
    r.decision = Decision::kApprovalRequired;
    r.determining = gates;
    r.approvals = gates;
  } else if (!permits.empty()) {
    r.decision = Decision::kAllow;
    r.determining = permits;
  }
  return r;
}

std::vector<std::string> Reasons(const Response& r) {
  std::vector<std::string> out;
  auto errored = [&](const Policy* p) -> const PolicyError* {
    for (const PolicyError& e : r.errors) {
      if (e.policy == p) return &e;
    }
    return nullptr;
  };
  switch (r.decision) {
    case Decision::kDeny:
      if (r.determining.empty()) {
        out.push_back("no policy permits this request (default deny)");
      }
      for (const Policy* p : r.determining) {
        if (const PolicyError* e = errored(p)) {
          out.push_back("forbid policy `" + p->id +
                        "` could not be evaluated and denies (fail closed): " +
                        e->message);
        } else {
          out.push_back("forbidden by policy `" + p->id + "`");
        }
      }
      break;
    case Decision::kApprovalRequired:
      for (const Policy* p : r.determining) {
        std::string groups;
        for (const std::string& g : p->approval->groups) {
          if (!groups.empty()) groups += ", ";
          groups += "`" + g + "`";
        }
        std::string line = "policy `" + p->id + "` requires approval by " +
                           std::to_string(p->approval->approvers) +
                           " member(s) of " + groups;
        if (const PolicyError* e = errored(p)) {
          line += " (it could not be evaluated: " + e->message + ")";
        }
        out.push_back(std::move(line));
      }
      break;
    case Decision::kAllow:
      for (const Policy* p : r.determining) {
        out.push_back("permitted by policy `" + p->id + "`");
      }
      break;
  }
  return out;
}

boost::json::object ResponseToJson(const Response& r) {
  namespace json = boost::json;
  json::object o;
  o["decision"] = DecisionName(r.decision);
  json::array determining;
  for (const Policy* p : r.determining) determining.emplace_back(p->id);
  o["determining_policies"] = std::move(determining);
  json::array errors;
  for (const PolicyError& e : r.errors) {
    errors.push_back(
        json::object{{"policy", e.policy->id}, {"message", e.message}});
  }
  o["errors"] = std::move(errors);
  json::array reasons;
  for (std::string& s : Reasons(r)) reasons.emplace_back(std::move(s));
  o["reasons"] = std::move(reasons);
  if (r.decision == Decision::kApprovalRequired) {
    json::array reqs;
    for (const Policy* p : r.approvals) {
      json::array groups;
      for (const std::string& g : p->approval->groups) groups.emplace_back(g);
      reqs.push_back(json::object{{"policy", p->id},
                                  {"groups", std::move(groups)},
                                  {"approvers", p->approval->approvers}});
    }
    o["approval"] = json::object{{"requirements", std::move(reqs)}};
  } else {
    o["approval"] = nullptr;
  }
  return o;
}

}  // namespace tether::policy
