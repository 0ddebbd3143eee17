#include "broker/fields.h"

#include <boost/json.hpp>

#include "policy/value.h"

namespace tether::broker {

namespace json = boost::json;

Error BadRequest(const std::string& message) {
  return MakeError("invalid_request", message);
}

std::string Uid(std::string_view type, std::string_view id) {
  policy::EntityUid u{type, id};
  return policy::UidToString(u);
}

Status OnlyMembers(const json::object& o,
                   std::initializer_list<std::string_view> allowed,
                   std::string_view where) {
  for (const auto& [k, v] : o) {
    bool ok = false;
    for (std::string_view a : allowed) ok |= k == a;
    if (!ok) {
      return BadRequest("unknown field `" + std::string(k) + "` in " +
                        std::string(where));
    }
  }
  return {};
}

Result<std::string> StringField(const json::object& o, std::string_view key,
                                bool required, std::size_t max_len) {
  const json::value* v = o.if_contains(key);
  if (!v) {
    if (required) return BadRequest("`" + std::string(key) + "` is required");
    return std::string();
  }
  if (!v->is_string())
    return BadRequest("`" + std::string(key) + "` must be a string");
  if (v->get_string().size() > max_len) {
    return BadRequest("`" + std::string(key) + "` is longer than " +
                      std::to_string(max_len) + " characters");
  }
  return std::string(v->get_string());
}

Result<std::int64_t> IntField(const json::object& o, std::string_view key,
                              std::int64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() < (1ull << 40))
    return static_cast<std::int64_t>(v->get_uint64());
  return BadRequest("`" + std::string(key) +
                    "` must be a non-negative integer");
}

}  // namespace tether::broker
