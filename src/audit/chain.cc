#include "audit/chain.h"

#include <algorithm>
#include <cstring>

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

void RecordHashTo(std::uint64_t seq, std::string_view prev,
                  std::string_view body, unsigned char* out) {
  unsigned char header[kRecordDomain.size() + 8 + kHashSize];
  std::memcpy(header, kRecordDomain.data(), kRecordDomain.size());
  for (int i = 0; i < 8; ++i) {
    header[kRecordDomain.size() + i] =
        static_cast<unsigned char>(seq >> (56 - 8 * i));
  }
  std::size_t n = std::min(prev.size(), kHashSize);
  std::memcpy(header + kRecordDomain.size() + 8, prev.data(), n);
  std::memset(header + kRecordDomain.size() + 8 + n, 0, kHashSize - n);
  thread_local Sha256Hasher hasher;
  hasher.Update(header, sizeof header);
  hasher.Update(body);
  Sha256Digest d = hasher.Final();
  std::memcpy(out, d.data(), d.size());
}

std::string RecordHash(std::uint64_t seq, std::string_view prev,
                       std::string_view body) {
  std::string out(kHashSize, '\0');
  RecordHashTo(seq, prev, body, reinterpret_cast<unsigned char*>(out.data()));
  return out;
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
