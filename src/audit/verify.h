// Verification of the audit chain and its signed checkpoints.
#ifndef TETHER_AUDIT_VERIFY_H_
#define TETHER_AUDIT_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite.h"

namespace tether::audit {

// A checkpoint held outside the database (exported to a witness), to check
// the log against.
struct ExternalCheckpoint {
  std::uint64_t seq = 0;
  std::string head;  // 32 bytes
  std::int64_t time_ms = 0;
  std::string signature;
};

struct VerifyOptions {
  std::uint64_t from = 1;
  std::optional<std::uint64_t> to;  // default: the last record
  // Trusted checkpoint public keys (32 bytes each); checkpoints signed by
  // any other key are reported as bad.
  std::vector<std::string> public_keys;
  std::vector<ExternalCheckpoint> external;
  // Threads hashing disjoint ranges (each with its own read connection);
  // 0: one per core. Databases in exclusive locking mode use one.
  unsigned threads = 0;
};

struct VerifyReport {
  bool ok = true;
  std::uint64_t first_bad_seq = 0;  // when !ok
  std::string problem;              // when !ok: what is wrong there
  std::uint64_t records = 0;        // records checked
  std::uint64_t last_seq = 0;       // the last record in the range
  std::uint64_t checkpoints = 0;    // checkpoints checked
  std::uint64_t last_checkpoint_seq = 0;
};

// Recomputes every record hash in the range and checks the sequence has no
// gap, then checks every checkpoint (signature by a trusted key, and that the
// record it names has the head it signed). Detects an edited, deleted,
// inserted or reordered record and a tail truncated behind a checkpoint.
// Errors (Result) only for failures to read.
Result<VerifyReport> Verify(store::SqliteDb& db, const VerifyOptions& options);

// Parses the JSON lines written to AuditOptions::checkpoint_file.
Result<std::vector<ExternalCheckpoint>> ParseCheckpointFile(
    std::string_view text);

}  // namespace tether::audit

#endif  // TETHER_AUDIT_VERIFY_H_
