#include "policy/lexer.h"

#include "core/text.h"

namespace tether::policy {
namespace {

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decodes the UTF-8 scalar at `i` (input is known valid); sets `len`.
char32_t DecodeAt(std::string_view s, std::size_t i, std::size_t& len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    len = 1;
    return c;
  }
  int n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  char32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (int k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  len = static_cast<std::size_t>(n);
  return cp;
}

// Unicode White_Space (as Rust's regex `\s`).
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view TokName(Tok t) {
  switch (t) {
    case Tok::kIdent:
      return "identifier";
    case Tok::kInt:
      return "integer";
    case Tok::kString:
      return "string";
    case Tok::kSlot:
      return "template slot";
    case Tok::kAt:
      return "`@`";
    case Tok::kLParen:
      return "`(`";
    case Tok::kRParen:
      return "`)`";
    case Tok::kLBracket:
      return "`[`";
    case Tok::kRBracket:
      return "`]`";
    case Tok::kLBrace:
      return "`{`";
    case Tok::kRBrace:
      return "`}`";
    case Tok::kComma:
      return "`,`";
    case Tok::kSemi:
      return "`;`";
    case Tok::kDot:
      return "`.`";
    case Tok::kColon:
      return "`:`";
    case Tok::kColonColon:
      return "`::`";
    case Tok::kEqEq:
      return "`==`";
    case Tok::kNotEq:
      return "`!=`";
    case Tok::kLt:
      return "`<`";
    case Tok::kLe:
      return "`<=`";
    case Tok::kGt:
      return "`>`";
    case Tok::kGe:
      return "`>=`";
    case Tok::kAndAnd:
      return "`&&`";
    case Tok::kOrOr:
      return "`||`";
    case Tok::kPlus:
      return "`+`";
    case Tok::kMinus:
      return "`-`";
    case Tok::kStar:
      return "`*`";
    case Tok::kSlash:
      return "`/`";
    case Tok::kPercent:
      return "`%`";
    case Tok::kBang:
      return "`!`";
    case Tok::kAssign:
      return "`=`";
    case Tok::kEof:
      return "end of input";
  }
  return "token";
}

std::optional<LexError> Lex(std::string_view text, std::vector<Token>& out) {
  std::size_t i = 0, n = text.size();
  auto push = [&](Tok kind, std::size_t begin, std::size_t end) {
    out.push_back(Token{kind, SourceSpan{static_cast<std::uint32_t>(begin),
                                         static_cast<std::uint32_t>(end)}});
  };
  auto error = [&](std::size_t begin, std::size_t end, std::string message) {
    return LexError{SourceSpan{static_cast<std::uint32_t>(begin),
                               static_cast<std::uint32_t>(end)},
                    std::move(message)};
  };
  while (i < n) {
    char c = text[i];
    std::size_t start = i;
    if (static_cast<unsigned char>(c) >= 0x80 || (c >= 0x09 && c <= 0x0D) ||
        c == ' ') {
      std::size_t len;
      char32_t cp = DecodeAt(text, i, len);
      if (IsWhiteSpace(cp)) {
        i += len;
        continue;
      }
      return error(i, i + len,
                   "invalid character " + Quote(text.substr(i, len)));
    }
    if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n' && text[i] != '\r') ++i;
      continue;
    }
    if (IsIdentStart(c)) {
      while (i < n && IsIdentChar(text[i])) ++i;
      push(Tok::kIdent, start, i);
      continue;
    }
    if (IsDigit(c)) {
      while (i < n && IsDigit(text[i])) ++i;
      push(Tok::kInt, start, i);
      continue;
    }
    if (c == '"') {
      ++i;
      while (true) {
        if (i >= n) {
          return error(start, n, "unterminated string literal");
        }
        char d = text[i];
        if (d == '"') break;
        if (d == '\\') {
          if (i + 1 >= n) return error(start, n, "unterminated string literal");
          if (text[i + 1] == '\n') {
            return error(i, i + 2, "invalid escape: backslash before newline");
          }
          std::size_t len;
          DecodeAt(text, i + 1, len);
          i += 1 + len;
          continue;
        }
        ++i;
      }
      ++i;
      push(Tok::kString, start, i);
      continue;
    }
    if (c == '?') {
      ++i;
      if (i < n && IsIdentStart(text[i])) {
        while (i < n && IsIdentChar(text[i])) ++i;
        push(Tok::kSlot, start, i);
        continue;
      }
      return error(start, start + 1, "invalid character `?`");
    }
    auto two = [&](char next) { return i + 1 < n && text[i + 1] == next; };
    Tok kind;
    std::size_t len = 1;
    switch (c) {
      case '@':
        kind = Tok::kAt;
        break;
      case '(':
        kind = Tok::kLParen;
        break;
      case ')':
        kind = Tok::kRParen;
        break;
      case '[':
        kind = Tok::kLBracket;
        break;
      case ']':
        kind = Tok::kRBracket;
        break;
      case '{':
        kind = Tok::kLBrace;
        break;
      case '}':
        kind = Tok::kRBrace;
        break;
      case ',':
        kind = Tok::kComma;
        break;
      case ';':
        kind = Tok::kSemi;
        break;
      case '.':
        kind = Tok::kDot;
        break;
      case '+':
        kind = Tok::kPlus;
        break;
      case '-':
        kind = Tok::kMinus;
        break;
      case '*':
        kind = Tok::kStar;
        break;
      case '/':
        kind = Tok::kSlash;
        break;
      case '%':
        kind = Tok::kPercent;
        break;
      case ':':
        kind = two(':') ? (len = 2, Tok::kColonColon) : Tok::kColon;
        break;
      case '=':
        kind = two('=') ? (len = 2, Tok::kEqEq) : Tok::kAssign;
        break;
      case '!':
        kind = two('=') ? (len = 2, Tok::kNotEq) : Tok::kBang;
        break;
      case '<':
        kind = two('=') ? (len = 2, Tok::kLe) : Tok::kLt;
        break;
      case '>':
        kind = two('=') ? (len = 2, Tok::kGe) : Tok::kGt;
        break;
      case '&':
        if (!two('&')) return error(i, i + 1, "invalid character `&`");
        kind = Tok::kAndAnd;
        len = 2;
        break;
      case '|':
        if (!two('|')) return error(i, i + 1, "invalid character `|`");
        kind = Tok::kOrOr;
        len = 2;
        break;
      default:
        return error(i, i + 1, "invalid character " + Quote(text.substr(i, 1)));
    }
    i += len;
    push(kind, start, i);
  }
  push(Tok::kEof, n, n);
  return std::nullopt;
}

std::optional<std::string> Unescape(std::string_view raw, bool pattern,
                                    std::string& out,
                                    std::vector<std::size_t>* literal_stars) {
  out.clear();
  out.reserve(raw.size());
  std::size_t i = 0, n = raw.size();
  while (i < n) {
    char c = raw[i];
    if (c == '\r') return "string contains a bare carriage return";
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= n) return "string ends with a backslash";
    char e = raw[i + 1];
    i += 2;
    switch (e) {
      case 'n':
        out += '\n';
        continue;
      case 'r':
        out += '\r';
        continue;
      case 't':
        out += '\t';
        continue;
      case '\\':
        out += '\\';
        continue;
      case '0':
        out += '\0';
        continue;
      case '\'':
        out += '\'';
        continue;
      case '"':
        out += '"';
        continue;
      case '*':
        if (!pattern) return "`\\*` is not a valid escape outside a pattern";
        if (literal_stars) literal_stars->push_back(out.size());
        out += '*';
        continue;
      case 'x': {
        int h1 = i < n ? HexDigit(raw[i]) : -1;
        int h2 = i + 1 < n ? HexDigit(raw[i + 1]) : -1;
        if (h1 < 0 || h2 < 0) return "`\\x` escape needs two hex digits";
        int v = h1 * 16 + h2;
        if (v > 0x7F) return "`\\x` escape must be at most `\\x7F`";
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
      case 'u': {
        if (i >= n || raw[i] != '{') return "`\\u` escape needs `{`";
        ++i;
        std::uint32_t v = 0;
        int digits = 0;
        bool first = true;
        while (i < n && raw[i] != '}') {
          char d = raw[i];
          if (d == '_' && !first) {
            ++i;
            continue;
          }
          int h = HexDigit(d);
          if (h < 0) return "invalid character in `\\u{...}` escape";
          if (++digits > 6) return "`\\u{...}` escape has more than 6 digits";
          v = v * 16 + static_cast<std::uint32_t>(h);
          first = false;
          ++i;
        }
        if (i >= n) return "unterminated `\\u{...}` escape";
        if (digits == 0) return "empty `\\u{}` escape";
        ++i;  // '}'
        if (v > 0x10FFFF) return "`\\u{...}` escape is beyond U+10FFFF";
        if (v >= 0xD800 && v <= 0xDFFF) {
          return "`\\u{...}` escape is a lone surrogate";
        }
        AppendUtf8(out, static_cast<char32_t>(v));
        continue;
      }
      default: {
        std::size_t len = 1;
        unsigned char u = static_cast<unsigned char>(e);
        if (u >= 0x80)
          len = (u & 0xE0) == 0xC0 ? 2 : (u & 0xF0) == 0xE0 ? 3 : 4;
        return "the input " + Quote(raw.substr(i - 2, 1 + len)) +
               " is not a valid escape";
      }
    }
  }
  return std::nullopt;
}

}  // namespace tether::policy
