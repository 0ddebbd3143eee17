// Cedar's `ipaddr` and `decimal` extension types: parsing and the operations
// policies call on them. Semantics follow Cedar 4 (docs/policy.md).
#ifndef TETHER_POLICY_EXTENSIONS_H_
#define TETHER_POLICY_EXTENSIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/value.h"

namespace tether::policy {

// Parses `1.2.3.4`, `1.2.3.0/24`, `::1`, `2001:db8::/32`. IPv4 octets have no
// leading zeros; IPv4-embedded IPv6 forms and zone ids are rejected; a prefix
// is decimal without leading zeros, at most 32 (IPv4) or 128 (IPv6). Without
// a prefix the address is a single host (/32 or /128).
std::optional<IpAddr> ParseIp(std::string_view text);

bool IpIsV4(const IpAddr& ip);
bool IpIsV6(const IpAddr& ip);
// True if the whole range lies in 127.0.0.0/8 (IPv4) or is ::1 (IPv6).
bool IpIsLoopback(const IpAddr& ip);
// True if the whole range lies in 224.0.0.0/4 (IPv4) or ff00::/8 (IPv6).
bool IpIsMulticast(const IpAddr& ip);
// True if every address of `ip` lies in `range` (same family only).
bool IpIsInRange(const IpAddr& ip, const IpAddr& range);

// Parses `-?[0-9]+\.[0-9]{1,4}` into a value scaled by 10^4; nullopt on bad
// syntax or when the value does not fit in 64 bits.
std::optional<std::int64_t> ParseDecimal(std::string_view text);

}  // namespace tether::policy

#endif  // TETHER_POLICY_EXTENSIONS_H_
