// Cedar lexer: policy text → tokens with byte spans.
//
// Keywords are returned as identifiers; the parser decides what they mean.
// Whitespace is Unicode White_Space; comments run from `//` to the end of the
// line. String tokens keep their raw text (escapes are processed by
// Unescape), as in Cedar, so each use site can apply its own rules.
#ifndef TETHER_POLICY_LEXER_H_
#define TETHER_POLICY_LEXER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/ast.h"

namespace tether::policy {

enum class Tok : std::uint8_t {
  kIdent,
  kInt,
  kString,
  kSlot,  // ?principal, ?resource, ?other
  kAt,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kComma,
  kSemi,
  kDot,
  kColon,
  kColonColon,
  kEqEq,
  kNotEq,
  kLt,
  kLe,
  kGt,
  kGe,
  kAndAnd,
  kOrOr,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kBang,
  kAssign,  // `=`, only ever an error
  kEof,
};

std::string_view TokName(Tok t);

struct Token {
  Tok kind = Tok::kEof;
  SourceSpan span;
};

struct LexError {
  SourceSpan span;
  std::string message;
};

// Tokenizes `text` (which must be valid UTF-8). On success the last token is
// kEof. On error returns the first invalid token.
std::optional<LexError> Lex(std::string_view text, std::vector<Token>& out);

// Processes the escapes of a string token's contents (without the quotes).
// In a `like` pattern (`pattern` true) `\*` means a literal star and is
// reported through `literal_stars` (byte offsets into `out`).
// Returns an error message, or nullopt on success.
std::optional<std::string> Unescape(std::string_view raw, bool pattern,
                                    std::string& out,
                                    std::vector<std::size_t>* literal_stars);

}  // namespace tether::policy

#endif  // TETHER_POLICY_LEXER_H_
