#include "audit/event.h"

#include <algorithm>
#include <boost/json.hpp>

namespace tether::audit {

const std::vector<std::string_view>& KnownEventTypes() {
  static const std::vector<std::string_view> kTypes = {
      "task.start",       "task.end",
      "task.delegate",    "authz.decision",
      "credential.grant", "credential.revoke",
      "approval.request", "approval.decision",
      "approval.use",     "approval.expire",
      "revocation",       "proxy.request",
      "tool.result",      "identity.reject",
      "policy.reload",    "key.rotate",
      "secret.put",       "token.create",
      "audit.resume",     "audit.checkpoint.export"};
  return kTypes;
}

bool IsKnownEventType(std::string_view type) {
  const auto& types = KnownEventTypes();
  return std::find(types.begin(), types.end(), type) != types.end();
}

boost::json::object EventToJson(const Event& e) {
  namespace json = boost::json;
  json::object o;
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) o[key] = value;
  };
  o["type"] = e.type;
  o["time_ms"] = e.time_ms;
  put("task_id", e.task_id);
  put("principal", e.principal);
  put("action", e.action);
  put("resource", e.resource);
  put("decision", e.decision);
  if (!e.determining_policies.empty()) {
    json::array a;
    for (const std::string& p : e.determining_policies) a.emplace_back(p);
    o["determining_policies"] = std::move(a);
  }
  if (!e.reasons.empty()) {
    json::array a;
    for (const std::string& r : e.reasons) a.emplace_back(r);
    o["reasons"] = std::move(a);
  }
  put("policy_set_sha256", e.policy_set_sha256);
  put("decision_id", e.decision_id);
  put("request_digest", e.request_digest);
  put("approval_id", e.approval_id);
  put("grant_id", e.grant_id);
  put("edge", e.edge);
  if (e.latency_us) o["latency_us"] = *e.latency_us;
  if (!e.detail.empty()) o["detail"] = e.detail;
  return o;
}

}  // namespace tether::audit
