// Wall-clock time as tether exchanges it: Unix milliseconds inside, RFC 3339
// UTC text ("2026-11-27T01:02:03Z") on the wire.
#ifndef TETHER_CORE_TIME_H_
#define TETHER_CORE_TIME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tether {

std::int64_t NowMs();
// Whole seconds, with milliseconds only when not zero.
std::string FormatRfc3339(std::int64_t unix_ms);
// Accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), a plain integer
// of Unix seconds, or a duration before now (30s, 15m, 2h, 7d). Error code
// "invalid_time".
Result<std::int64_t> ParseTimeMs(std::string_view text);

}  // namespace tether

#endif  // TETHER_CORE_TIME_H_
