// Cedar's JSON value format, as used by entity attributes and request
// contexts: booleans, 64-bit integers, strings, arrays (sets), objects
// (records), and the escapes `{"__entity": {"type": T, "id": I}}` and
// `{"__extn": {"fn": F, "arg": A}}` / `{"fn": F, "args": [...]}`.
// Floats, out-of-range integers and `null` are errors.
#ifndef TETHER_POLICY_VALUE_JSON_H_
#define TETHER_POLICY_VALUE_JSON_H_

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "core/arena.h"
#include "core/result.h"
#include "policy/value.h"

namespace tether::policy {

// Converts `j` into a Value allocated in `arena`. `where` names the location
// for error messages (e.g. "attribute `x` of `User::\"a\"`"). Error code
// "invalid_value".
Result<Value> ValueFromJson(const boost::json::value& j, Arena& arena,
                            std::string_view where);

// An entity reference: `{"type": T, "id": I}` or `{"__entity": {...}}`.
// Unknown members are ignored, as Cedar does.
Result<const EntityUid*> UidFromJson(const boost::json::value& j, Arena& arena,
                                     std::string_view where);

// An entity reference in policy syntax: `Type::"id"` (the Cedar CLI's request
// format).
Result<const EntityUid*> UidFromText(std::string_view text, Arena& arena,
                                     std::string_view where);

// The inverse conversions (entities as `{"__entity": ...}`, extension values
// as `{"__extn": ...}`).
boost::json::value ValueToJson(const Value& v);
boost::json::value UidToJson(const EntityUid& uid);

}  // namespace tether::policy

#endif  // TETHER_POLICY_VALUE_JSON_H_
