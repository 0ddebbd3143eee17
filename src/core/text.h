// Small text utilities shared by every parser: source positions and quoting
// of user input in messages.
#ifndef TETHER_CORE_TEXT_H_
#define TETHER_CORE_TEXT_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

// A 1-based line and column. Columns count Unicode scalar values, so a caret
// printed under the line lines up for UTF-8 input.
struct LineCol {
  std::size_t line = 1;
  std::size_t column = 1;
};

// The line and column of byte `offset` in `text` (offset may equal size()).
LineCol ComputeLineCol(std::string_view text, std::size_t offset);

// The full line of `text` containing byte `offset`, without its newline.
std::string_view LineAt(std::string_view text, std::size_t offset);

// The lines of `text` (split at '\n', a trailing '\r' removed), with their
// 1-based numbers; a final empty line after the last '\n' is not included.
struct NumberedLine {
  std::size_t number;
  std::string_view text;
};
std::vector<NumberedLine> SplitLines(std::string_view text);

// `text` as a message fragment: wrapped in backticks, control characters
// escaped, truncated to `max_bytes` with an ellipsis.
std::string Quote(std::string_view text, std::size_t max_bytes = 80);

// True if `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view text);

// `s` with ASCII letters lower-cased (header names, hosts, schemes).
std::string AsciiLower(std::string_view s);

// RFC 3986 percent-encoding of everything but unreserved characters (for a
// path segment or a query value).
std::string PercentEncode(std::string_view s);

// `%XX` decoded (and, in a query, `+` as a space); nullopt on a malformed
// escape.
std::optional<std::string> PercentDecode(std::string_view s,
                                         bool plus_is_space = true);

// Query parameters, percent-decoded; nullopt if one is malformed or
// repeated.
std::optional<std::map<std::string, std::string>> ParseQueryString(
    std::string_view query);

// Appends the UTF-8 encoding of scalar value `cp` (must be valid) to `out`.
void AppendUtf8(std::string& out, char32_t cp);

}  // namespace tether

#endif  // TETHER_CORE_TEXT_H_
