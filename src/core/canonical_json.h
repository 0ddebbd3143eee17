// Canonical JSON (RFC 8785, JSON Canonicalization Scheme): the one byte
// sequence hashed for audit records and bound into approvals.
//
// Object members are sorted by their UTF-16 code units, strings use the
// minimal escapes, no insignificant whitespace. Numbers: integers are
// written exactly (tether's data is integral; JCS would round integers beyond
// 2^53 through a double), other numbers in ECMAScript's shortest form;
// NaN and infinities are errors. (Doubles come from Boost.JSON 1.81, whose
// reader may be one ulp off, so they are canonical only for the value read.)
#ifndef TETHER_CORE_CANONICAL_JSON_H_
#define TETHER_CORE_CANONICAL_JSON_H_

#include <boost/json/value.hpp>
#include <string>

#include "core/result.h"

namespace tether {

Result<std::string> CanonicalJson(const boost::json::value& v);

// Whether `a` sorts before `b` by UTF-16 code units (both valid UTF-8).
bool Utf16Less(std::string_view a, std::string_view b);

// Appends a JSON string literal with RFC 8785's escaping.
void AppendCanonicalString(std::string& out, std::string_view s);

// Appends the canonical form; returns false (leaving `out` partly written)
// only for a non-finite number.
bool AppendCanonicalJson(std::string& out, const boost::json::value& v);

}  // namespace tether

#endif  // TETHER_CORE_CANONICAL_JSON_H_
