#include "core/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/text.h"

namespace tether {
namespace {

namespace json = boost::json;

// SAX handler that builds a value with a value_stack and checks that no object
// repeats a key.
class StrictHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  json::value_stack stack;
  std::vector<std::unordered_set<std::string>> keys;
  std::string key_buf;
  bool duplicate = false;
  std::string duplicate_key;

  bool on_document_begin(json::error_code&) {
    stack.reset();
    return true;
  }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    keys.pop_back();
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(std::string_view s, std::size_t, json::error_code&) {
    key_buf.append(s);
    stack.push_chars(s);
    return true;
  }
  bool on_key(std::string_view s, std::size_t, json::error_code& ec) {
    key_buf.append(s);
    if (!keys.back().insert(key_buf).second) {
      duplicate = true;
      duplicate_key = key_buf;
      ec = json::error::syntax;
      return false;
    }
    key_buf.clear();
    stack.push_key(s);
    return true;
  }
  bool on_string_part(std::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(std::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(std::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, std::string_view, json::error_code&) {
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, std::string_view, json::error_code&) {
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, std::string_view, json::error_code&) {
    stack.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(std::string_view, json::error_code&) { return true; }
  bool on_comment(std::string_view, json::error_code&) { return true; }
};

}  // namespace

Result<json::value> ParseJson(std::string_view text, const JsonLimits& limits,
                              LineCol* where) {
  if (text.size() > limits.max_bytes) {
    return MakeError(
        "invalid_json",
        "json document exceeds " + std::to_string(limits.max_bytes) + " bytes");
  }
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  json::basic_parser<StrictHandler> parser(opts);
  json::error_code ec;
  std::size_t n = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) ec = json::error::extra_data;
  if (ec) {
    LineCol lc = ComputeLineCol(text, n);
    if (where) *where = lc;
    std::string what =
        parser.handler().duplicate
            ? "duplicate key " + Quote(parser.handler().duplicate_key)
            : ec.message();
    if (where) return MakeError("invalid_json", "invalid json: " + what);
    return MakeError("invalid_json",
                     "invalid json at line " + std::to_string(lc.line) +
                         " column " + std::to_string(lc.column) + ": " + what);
  }
  return parser.handler().stack.release();
}

std::string SerializeJson(const json::value& v) { return json::serialize(v); }

}  // namespace tether
