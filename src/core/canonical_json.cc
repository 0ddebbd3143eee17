#include "core/canonical_json.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace tether {
namespace json = boost::json;

void AppendCanonicalString(std::string& out, std::string_view s) {
  out += '"';
  std::size_t run = 0;  // start of the current run of characters kept as is
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

namespace {

void AppendString(std::string& out, std::string_view s) {
  AppendCanonicalString(out, s);
}

}  // namespace

// UTF-8 byte order is code point order, and code point order is UTF-16 order
// except between supplementary characters (lead bytes F0-F4, encoded with
// surrogates D800-DBFF) and U+E000-U+FFFF (lead bytes EE-EF): there the two
// orders disagree. The first differing byte of two valid UTF-8 strings sits
// at a character boundary, so looking at it decides.
bool Utf16Less(std::string_view a, std::string_view b) {
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    bool x_high = x >= 0xEE && x <= 0xEF, y_high = y >= 0xEE && y <= 0xEF;
    bool x_supp = x >= 0xF0, y_supp = y >= 0xF0;
    if ((x_high && y_supp) || (x_supp && y_high)) return x_supp;
    return x < y;
  }
  return a.size() < b.size();
}

namespace {

// ECMAScript Number::toString for a finite double.
void AppendDouble(std::string& out, double d) {
  if (d == 0) {
    out += '0';
    return;
  }
  if (d < 0) {
    out += '-';
    d = -d;
  }
  char buf[64];
  auto r =
      std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exp = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
  int k = static_cast<int>(digits.size());
  int n = exp + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

}  // namespace

bool AppendCanonicalJson(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return true;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return true;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      return true;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return true;
    case json::kind::double_:
      if (!std::isfinite(v.get_double())) return false;
      AppendDouble(out, v.get_double());
      return true;
    case json::kind::string:
      AppendString(out, v.get_string());
      return true;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        if (!AppendCanonicalJson(out, item)) return false;
      }
      out += ']';
      return true;
    }
    case json::kind::object: {
      const json::object& o = v.get_object();
      std::vector<const json::key_value_pair*> keys;
      keys.reserve(o.size());
      for (const json::key_value_pair& kv : o) keys.push_back(&kv);
      std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) {
        return Utf16Less(a->key(), b->key());
      });
      out += '{';
      bool first = true;
      for (const json::key_value_pair* kv : keys) {
        if (!first) out += ',';
        first = false;
        AppendString(out, kv->key());
        out += ':';
        if (!AppendCanonicalJson(out, kv->value())) return false;
      }
      out += '}';
      return true;
    }
  }
  return false;
}

Result<std::string> CanonicalJson(const json::value& v) {
  std::string out;
  if (!AppendCanonicalJson(out, v)) {
    return MakeError("invalid_json", "NaN and infinity have no JSON form");
  }
  return out;
}

}  // namespace tether
