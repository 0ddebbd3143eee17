// The one spelling of an HTTP request-target that the proxy both decides on
// and forwards. Normalizing once, before policy, means a path rule cannot be
// bypassed by another spelling of the same path (`/a/%2e%2e/b`, `//a`,
// `/%61`), and forwarding the normalized form means the upstream acts on
// exactly what was authorized. Spellings whose meaning depends on the server
// (encoded slashes, backslashes, NUL) are refused instead of guessed.
#ifndef TETHER_PROXY_NORMALIZE_H_
#define TETHER_PROXY_NORMALIZE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tether::proxy {

// Longest request-target accepted, and longest normalized form produced.
inline constexpr std::size_t kMaxTarget = 8192;

struct NormalizedTarget {
  std::string path;   // starts with '/'
  std::string query;  // without the '?'; empty when there is none
};

// Normalizes an origin-form request-target ("/path?query"; the caller splits
// absolute-form first):
//  - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are
//    decoded, every other escape is kept with upper-case hex digits
//    (RFC 3986 6.2.2.1-2); '%' itself is never decoded, so nothing is
//    decoded twice;
//  - printable ASCII that may not appear raw (space " < > [ ] ^ ` { | }) is
//    percent-encoded;
//  - in the path, dot segments are removed (RFC 3986 5.2.4), also when
//    spelled with %2E, and runs of slashes collapse to one;
//  - the query is kept as sent apart from the escape normalization (an
//    encoded slash there is data); "?" alone means no query.
// Fails with code "invalid_target" on: a target not starting with '/'; more
// than kMaxTarget bytes in or out; a fragment ('#'); a raw or encoded NUL or
// other control character; a raw non-ASCII byte; a malformed escape; a raw
// backslash; in the path, %2F or %5C, a dot segment with parameters (`..;x`,
// which some servers read as `..`), or a `..` that would climb above `/`.
// The result normalizes to itself.
Result<NormalizedTarget> NormalizeTarget(std::string_view target);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_NORMALIZE_H_
