#include "policy/extensions.h"

#include <cstring>

namespace tether::policy {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Dotted-quad IPv4 with 1-3 digit octets, no leading zeros, each <= 255.
bool ParseV4(std::string_view s, std::uint8_t out[4]) {
  int part = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    std::size_t len = i - start;
    if (len == 0 || len > 3 || value > 255) return false;
    if (len > 1 && s[start] == '0') return false;
    out[part++] = static_cast<std::uint8_t>(value);
    if (part == 4) return i == s.size();
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

// RFC 4291 text form: eight 1-4 digit hex groups, one `::` allowed. Embedded
// IPv4 is rejected by the caller before this runs.
bool ParseV6(std::string_view s, std::uint8_t out[16]) {
  std::uint16_t head[8], tail[8];
  int nhead = 0, ntail = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    compressed = true;
    i = 2;
    if (i == s.size()) {
      std::memset(out, 0, 16);
      return true;
    }
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && HexValue(s[i]) >= 0 && i - start < 5) {
      value = value * 16 + static_cast<unsigned>(HexValue(s[i]));
      ++i;
    }
    std::size_t len = i - start;
    if (len == 0 || len > 4) return false;
    if (compressed) {
      if (ntail >= 7) return false;
      tail[ntail++] = static_cast<std::uint16_t>(value);
    } else {
      if (nhead >= 8) return false;
      head[nhead++] = static_cast<std::uint16_t>(value);
    }
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false;  // trailing single colon
    }
  }
  int total = nhead + ntail;
  if (compressed ? total > 7 : total != 8) return false;
  std::uint16_t groups[8] = {};
  for (int k = 0; k < nhead; ++k) groups[k] = head[k];
  for (int k = 0; k < ntail; ++k) groups[8 - ntail + k] = tail[k];
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<std::uint8_t>(groups[k] >> 8);
    out[2 * k + 1] = static_cast<std::uint8_t>(groups[k] & 0xFF);
  }
  return true;
}

// The first and last address of the range (network and broadcast).
void Bounds(const IpAddr& ip, std::uint8_t lo[16], std::uint8_t hi[16]) {
  int bytes = ip.v6 ? 16 : 4;
  for (int k = 0; k < bytes; ++k) {
    int bits_in_prefix = static_cast<int>(ip.prefix) - 8 * k;
    std::uint8_t mask =
        bits_in_prefix >= 8 ? 0xFF
        : bits_in_prefix <= 0
            ? 0x00
            : static_cast<std::uint8_t>(0xFF << (8 - bits_in_prefix));
    lo[k] = ip.addr[k] & mask;
    hi[k] = ip.addr[k] | static_cast<std::uint8_t>(~mask);
  }
  for (int k = bytes; k < 16; ++k) lo[k] = hi[k] = 0;
}

bool InRange(const std::uint8_t a[16], const std::uint8_t lo[16],
             const std::uint8_t hi[16], int bytes) {
  return std::memcmp(lo, a, bytes) <= 0 && std::memcmp(a, hi, bytes) <= 0;
}

}  // namespace

std::optional<IpAddr> ParseIp(std::string_view text) {
  IpAddr ip;
  std::string_view addr = text, prefix;
  bool has_prefix = false;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    prefix = text.substr(slash + 1);
    has_prefix = true;
  }
  bool has_colon = addr.find(':') != std::string_view::npos;
  bool has_dot = addr.find('.') != std::string_view::npos;
  if (has_colon && has_dot) return std::nullopt;  // IPv4-embedded IPv6
  if (has_colon) {
    if (!ParseV6(addr, ip.addr.data())) return std::nullopt;
    ip.v6 = true;
  } else {
    if (!ParseV4(addr, ip.addr.data())) return std::nullopt;
  }
  unsigned max = ip.v6 ? 128 : 32;
  ip.prefix = static_cast<std::uint8_t>(max);
  if (has_prefix) {
    std::size_t max_len = ip.v6 ? 3 : 2;
    if (prefix.empty() || prefix.size() > max_len) return std::nullopt;
    if (prefix.size() > 1 && prefix[0] == '0') return std::nullopt;
    unsigned value = 0;
    for (char c : prefix) {
      if (!IsDigit(c)) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > max) return std::nullopt;
    ip.prefix = static_cast<std::uint8_t>(value);
  }
  return ip;
}

bool IpIsV4(const IpAddr& ip) { return !ip.v6; }
bool IpIsV6(const IpAddr& ip) { return ip.v6; }

bool IpIsLoopback(const IpAddr& ip) {
  std::uint8_t lo[16], hi[16];
  Bounds(ip, lo, hi);
  if (!ip.v6) return lo[0] == 127;  // the network address is in 127/8
  static const std::uint8_t kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(lo, kLoop, 16) == 0;
}

bool IpIsMulticast(const IpAddr& ip) {
  if (!ip.v6) return (ip.addr[0] & 0xF0) == 0xE0 && ip.prefix >= 4;
  return ip.addr[0] == 0xFF && ip.prefix >= 8;
}

bool IpIsInRange(const IpAddr& ip, const IpAddr& range) {
  if (ip.v6 != range.v6) return false;
  std::uint8_t lo[16], hi[16], rlo[16], rhi[16];
  Bounds(ip, lo, hi);
  Bounds(range, rlo, rhi);
  int bytes = ip.v6 ? 16 : 4;
  return InRange(lo, rlo, rhi, bytes) && InRange(hi, rlo, rhi, bytes);
}

std::optional<std::int64_t> ParseDecimal(std::string_view text) {
  std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = text.substr(dot + 1);
  bool negative = !whole.empty() && whole[0] == '-';
  std::string_view digits = negative ? whole.substr(1) : whole;
  if (digits.empty() || frac.empty() || frac.size() > 4) return std::nullopt;
  for (char c : digits) {
    if (!IsDigit(c)) return std::nullopt;
  }
  for (char c : frac) {
    if (!IsDigit(c)) return std::nullopt;
  }
  // |whole| * 10^4 + frac, accumulated negatively so INT64_MIN is reachable.
  std::int64_t acc = 0;
  for (char c : digits) {
    if (__builtin_mul_overflow(acc, 10, &acc) ||
        __builtin_sub_overflow(acc, c - '0', &acc)) {
      return std::nullopt;
    }
  }
  if (__builtin_mul_overflow(acc, 10000, &acc)) return std::nullopt;
  std::int64_t f = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    f = f * 10 + (k < frac.size() ? frac[k] - '0' : 0);
  }
  if (__builtin_sub_overflow(acc, f, &acc)) return std::nullopt;
  if (!negative) {
    if (acc == INT64_MIN) return std::nullopt;
    acc = -acc;
  }
  return acc;
}

}  // namespace tether::policy
