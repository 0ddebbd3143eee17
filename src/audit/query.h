// Reading the audit log back: events filtered by task, type and time, in
// sequence order, for `tether audit query` and GET /v1/audit.
#ifndef TETHER_AUDIT_QUERY_H_
#define TETHER_AUDIT_QUERY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/sqlite.h"

namespace tether::audit {

struct EventFilter {
  std::string task;  // also matches the task id's keyed hash
  std::string type;
  std::int64_t since_ms = 0;
  std::int64_t until_ms = std::numeric_limits<std::int64_t>::max();
  std::int64_t after_seq = 0;
  std::int64_t limit = 1000;
  std::string hmac_key;  // the audit HMAC key, to match hashed task ids
};

struct EventRow {
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string type;
  std::string body;  // the canonical JSON record
};

Result<std::vector<EventRow>> QueryEvents(store::SqliteDb& db,
                                          const EventFilter& filter);

}  // namespace tether::audit

#endif  // TETHER_AUDIT_QUERY_H_
