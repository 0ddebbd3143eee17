#include "core/canonical_json.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace tether {
namespace {

namespace json = boost::json;

void AppendString(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
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
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// Decodes UTF-8 (valid, as Boost.JSON guarantees) into UTF-16 code units.
std::u16string Utf16(std::string_view s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    int len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (int k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

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
      std::vector<std::pair<std::u16string, const json::key_value_pair*>> keys;
      keys.reserve(o.size());
      for (const json::key_value_pair& kv : o) {
        keys.emplace_back(Utf16(kv.key()), &kv);
      }
      std::sort(keys.begin(), keys.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (const auto& [unused, kv] : keys) {
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
