// Reading request bodies in the broker: the checks every endpoint shares,
// each failing with code "invalid_request" and a message naming the field.
#ifndef TETHER_BROKER_FIELDS_H_
#define TETHER_BROKER_FIELDS_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tether::broker {

Error BadRequest(const std::string& message);

// `Type::"id"`, escaped as Cedar writes it.
std::string Uid(std::string_view type, std::string_view id);

// Members of `o` must all be in `allowed`.
Status OnlyMembers(const boost::json::object& o,
                   std::initializer_list<std::string_view> allowed,
                   std::string_view where);

// A string member of at most `max_len` bytes; "" when absent and optional.
Result<std::string> StringField(const boost::json::object& o,
                                std::string_view key, bool required,
                                std::size_t max_len);

// A non-negative integer member; `fallback` when absent.
Result<std::int64_t> IntField(const boost::json::object& o,
                              std::string_view key, std::int64_t fallback);

}  // namespace tether::broker

#endif  // TETHER_BROKER_FIELDS_H_
