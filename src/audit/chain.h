// The audit hash chain and signed checkpoints (docs/audit.md, "Integrity").
//
//   record hash  = SHA-256("tether.audit.record.v1\0" ‖ seq ‖ prev ‖ body)
//   checkpoint   = Ed25519("tether.audit.checkpoint.v1\0" ‖ seq ‖ head ‖ time)
//
// seq and time are 8-byte big-endian; prev is the previous record's hash (32
// zero bytes before the first record); body is the record's canonical JSON
// (RFC 8785). The domain prefixes keep a record hash from ever being valid as
// anything else.
#ifndef TETHER_AUDIT_CHAIN_H_
#define TETHER_AUDIT_CHAIN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto.h"

namespace tether::audit {

inline constexpr std::size_t kHashSize = 32;

std::string RecordHash(std::uint64_t seq, std::string_view prev,
                       std::string_view body);
// The same into `out` (kHashSize bytes), without allocating.
void RecordHashTo(std::uint64_t seq, std::string_view prev,
                  std::string_view body, unsigned char* out);

std::string CheckpointMessage(std::uint64_t seq, std::string_view head,
                              std::int64_t time_ms);

// A short, stable id for a public key: hex of the first 8 bytes of its
// SHA-256.
std::string KeyId(std::string_view public_key);

}  // namespace tether::audit

#endif  // TETHER_AUDIT_CHAIN_H_
