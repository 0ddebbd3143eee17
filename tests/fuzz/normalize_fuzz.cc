// Fuzzes the request-target normalizer and checks what the proxy relies on:
// a normalized target normalizes to itself (policy and upstream see one
// spelling), and its path has no empty or dot segment and no encoded slash.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/normalize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using tether::proxy::NormalizeTarget;
  std::string_view target(reinterpret_cast<const char*>(data), size);
  auto once = NormalizeTarget(target);
  if (!once.ok()) {
    if (once.error().code != "invalid_target") __builtin_trap();
    return 0;
  }
  const std::string& path = once->path;
  if (path.empty() || path[0] != '/') __builtin_trap();
  for (std::string_view bad : {"//", "/./", "/../", "%2F", "%5C", "?", "#"}) {
    if (path.find(bad) != std::string::npos) __builtin_trap();
  }
  if (path.ends_with("/.") || path.ends_with("/..")) __builtin_trap();
  std::string joined = path;
  if (!once->query.empty()) joined += "?" + once->query;
  if (joined.size() > tether::proxy::kMaxTarget) __builtin_trap();
  auto twice = NormalizeTarget(joined);
  if (!twice.ok() || twice->path != path || twice->query != once->query) {
    __builtin_trap();
  }
  return 0;
}
