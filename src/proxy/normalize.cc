#include "proxy/normalize.h"

#include <vector>

namespace tether::proxy {
namespace {

Error Invalid(std::string message) {
  return MakeError("invalid_target", std::move(message));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

// Printable ASCII that RFC 3986 never allows raw in a path or query
// ('#', '%' and '\\' are dealt with before this is asked).
bool MustBeEncoded(unsigned char c) {
  switch (c) {
    case ' ':
    case '"':
    case '<':
    case '>':
    case '[':
    case ']':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
      return true;
    default:
      return false;
  }
}

void AppendEscape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Rewrites one component (path or query) with escapes normalized and
// characters checked. In the path, %2F and %5C are refused: a server that
// decodes them before splitting segments would route differently from what
// was authorized. In the query they are data.
Result<std::string> NormalizeEscapes(std::string_view in, bool is_path) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    bool encoded = false;
    if (c == '%') {
      int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Invalid("malformed percent escape in request target");
      }
      c = static_cast<unsigned char>(hi * 16 + lo);
      encoded = true;
      i += 2;
    }
    if (c == 0) return Invalid("NUL in request target");
    if (c < 0x20 || c == 0x7f) {
      return Invalid("control character in request target");
    }
    if (!encoded) {
      if (c >= 0x80) {
        return Invalid(
            "non-ASCII byte in request target (it must be percent-encoded)");
      }
      if (c == '\\') return Invalid("backslash in request target");
      if (MustBeEncoded(c)) {
        AppendEscape(out, c);
      } else {
        out += static_cast<char>(c);
      }
      continue;
    }
    if (is_path && c == '/') return Invalid("encoded slash (%2F) in path");
    if (is_path && c == '\\') {
      return Invalid("encoded backslash (%5C) in path");
    }
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else {
      AppendEscape(out, c);
    }
  }
  return out;
}

// RFC 3986 5.2.4 over an absolute path whose escapes are normalized, with
// empty segments dropped; climbing above the root is an error, not clamped,
// since a client that sends it is not describing a real resource.
Result<std::string> RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  bool trailing_slash = false;
  std::size_t start = 1;  // path[0] == '/'
  while (true) {
    std::size_t slash = path.find('/', start);
    bool last = slash == std::string_view::npos;
    std::string_view seg = path.substr(start, last ? path.npos : slash - start);
    // "..;x" and ".;x" are dot segments to servers that strip path
    // parameters before resolving dots (Tomcat, Jetty), and plain names to
    // everyone else.
    std::string_view bare = seg.substr(0, seg.find(';'));
    if (bare.size() != seg.size() && (bare == "." || bare == "..")) {
      return Invalid("dot segment with parameters in path");
    }
    if (seg == "..") {
      if (segments.empty()) return Invalid("path climbs above the root");
      segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    if (last) {
      // "/a/", "/a/." and "/a/b/.." all name a directory.
      trailing_slash = seg.empty() || seg == "." || seg == "..";
      break;
    }
    start = slash + 1;
  }
  std::string out;
  out.reserve(path.size());
  for (std::string_view seg : segments) {
    out += '/';
    out.append(seg);
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

}  // namespace

Result<NormalizedTarget> NormalizeTarget(std::string_view target) {
  if (target.size() > kMaxTarget) {
    return Invalid("request target longer than 8 KiB");
  }
  if (target.empty() || target.front() != '/') {
    return Invalid("request target is not in origin form (`/path?query`)");
  }
  if (target.find('#') != std::string_view::npos) {
    return Invalid("fragment (`#`) in request target");
  }
  std::size_t question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  auto path = NormalizeEscapes(raw_path, /*is_path=*/true);
  if (!path) return path.error();
  auto dotless = RemoveDotSegments(*path);
  if (!dotless) return dotless.error();
  NormalizedTarget out;
  out.path = std::move(*dotless);
  if (question != std::string_view::npos) {
    auto query = NormalizeEscapes(target.substr(question + 1),
                                  /*is_path=*/false);
    if (!query) return query.error();
    out.query = std::move(*query);
  }
  // Encoding can grow a target; the limit holds for what is forwarded too,
  // and keeps the result a valid input (normalizing it again is a no-op).
  if (out.path.size() + (out.query.empty() ? 0 : out.query.size() + 1) >
      kMaxTarget) {
    return Invalid("request target longer than 8 KiB");
  }
  return out;
}

}  // namespace tether::proxy
