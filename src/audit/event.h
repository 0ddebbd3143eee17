// The audit event model (docs/audit.md): one record per decision, grant,
// approval, revocation, proxied call or admin action.
#ifndef TETHER_AUDIT_EVENT_H_
#define TETHER_AUDIT_EVENT_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::audit {

// The event types tether writes; Append rejects any other.
bool IsKnownEventType(std::string_view type);
const std::vector<std::string_view>& KnownEventTypes();

struct Event {
  std::string type;          // e.g. "authz.decision"
  std::int64_t time_ms = 0;  // Unix milliseconds; 0: set at append
  std::string task_id;
  std::string principal;  // entity uid text, e.g. Task::"t1"
  std::string action;
  std::string resource;
  std::string decision;  // allow | deny | approval_required
  std::vector<std::string> determining_policies;
  std::vector<std::string> reasons;
  std::string policy_set_sha256;
  std::string decision_id;
  std::string request_digest;
  std::string approval_id;
  std::string grant_id;
  std::string edge;  // api | proxy | hook | mcp
  std::optional<std::int64_t> latency_us;
  boost::json::object detail;  // anything else, type-specific
};

// The event as a JSON object; empty fields are omitted. `seq` is not part of
// it (it is stored beside the record and covered by the chain hash).
boost::json::object EventToJson(const Event& e);

}  // namespace tether::audit

#endif  // TETHER_AUDIT_EVENT_H_
