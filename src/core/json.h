// Strict JSON parsing for untrusted input, on Boost.JSON.
//
// Unlike boost::json::parse, ParseJson rejects duplicate object members
// (a classic source of parser-differential attacks), bounds nesting depth and
// input size, and reports the position of the first error.
#ifndef TETHER_CORE_JSON_H_
#define TETHER_CORE_JSON_H_

#include <boost/json/value.hpp>
#include <cstddef>
#include <string_view>

#include "core/result.h"
#include "core/text.h"

namespace tether {

struct JsonLimits {
  std::size_t max_bytes = 64 * 1024 * 1024;
  std::size_t max_depth = 128;
};

// Parses exactly one JSON document (surrounding whitespace allowed). Errors
// use code "invalid_json" and name the line and column; if `where` is given
// it receives them too.
Result<boost::json::value> ParseJson(std::string_view text,
                                     const JsonLimits& limits = {},
                                     LineCol* where = nullptr);

// Serializes `v` compactly (no insignificant whitespace).
std::string SerializeJson(const boost::json::value& v);

}  // namespace tether

#endif  // TETHER_CORE_JSON_H_
