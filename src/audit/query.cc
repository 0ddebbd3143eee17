#include "audit/query.h"

#include "core/crypto.h"

namespace tether::audit {

Result<std::vector<EventRow>> QueryEvents(store::SqliteDb& db,
                                          const EventFilter& f) {
  auto stmt = db.Prepare(
      "SELECT seq, time_ms, type, body FROM events WHERE "
      "(?1 = '' OR task_id = ?1 OR task_id = ?2) AND (?3 = '' OR type = ?3) "
      "AND time_ms >= ?4 AND time_ms <= ?5 AND seq > ?6 ORDER BY seq LIMIT ?7");
  if (!stmt) return stmt.error();
  std::string hashed;
  if (!f.task.empty() && !f.hmac_key.empty()) {
    hashed = "hmac-sha256:" + HexEncode(HmacSha256(f.hmac_key, f.task));
  }
  stmt->Bind(1, f.task).Bind(2, hashed).Bind(3, f.type).Bind(4, f.since_ms);
  stmt->Bind(5, f.until_ms).Bind(6, f.after_seq).Bind(7, f.limit);
  std::vector<EventRow> out;
  while (true) {
    auto row = stmt->Step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({stmt->ColumnInt(0), stmt->ColumnInt(1),
                   std::string(stmt->ColumnText(2)),
                   std::string(stmt->ColumnText(3))});
  }
  return out;
}

}  // namespace tether::audit
