#include "audit/chain.h"

namespace tether::audit {
namespace {

void AppendU64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xFF);
  }
}

constexpr std::string_view kRecordDomain{"tether.audit.record.v1\0", 23};
constexpr std::string_view kCheckpointDomain{"tether.audit.checkpoint.v1\0",
                                             27};

}  // namespace

std::string RecordHash(std::uint64_t seq, std::string_view prev,
                       std::string_view body) {
  std::string header(kRecordDomain);
  AppendU64(header, seq);
  header.append(prev);
  thread_local Sha256Hasher hasher;
  hasher.Update(header);
  hasher.Update(body);
  Sha256Digest d = hasher.Final();
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string CheckpointMessage(std::uint64_t seq, std::string_view head,
                              std::int64_t time_ms) {
  std::string msg(kCheckpointDomain);
  AppendU64(msg, seq);
  msg.append(head);
  AppendU64(msg, static_cast<std::uint64_t>(time_ms));
  return msg;
}

std::string KeyId(std::string_view public_key) {
  Sha256Digest d = Sha256(public_key);
  return HexEncode(
      std::string_view(reinterpret_cast<const char*>(d.data()), 8));
}

}  // namespace tether::audit
