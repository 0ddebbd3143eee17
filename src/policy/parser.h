// Cedar policy parser: text → Policy ASTs with source spans.
//
// Accepts exactly the static-policy language of Cedar 4 (docs/policy.md):
// every syntax and conversion rule of Cedar's own parser is applied here,
// so a text Cedar rejects is rejected too. Templates are not supported.
// Expressions are bounded in nesting and size so no input can exhaust the
// stack of the parser or the evaluator.
#ifndef TETHER_POLICY_PARSER_H_
#define TETHER_POLICY_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "policy/ast.h"

namespace tether::policy {

struct ParseLimits {
  std::size_t max_source_bytes = 8 * 1024 * 1024;
  std::size_t max_nesting = 128;      // nested (), [], {}, if, calls
  std::size_t max_tree_depth = 1024;  // height of an expression tree
  std::size_t max_literal_bytes = 64 * 1024;
  std::size_t max_errors = 50;
};

struct Diagnostic {
  SourceSpan span;
  std::string message;  // lowercase, user input in backticks
};

struct ParseOutput {
  std::vector<Policy> policies;  // ids not yet assigned (see PolicySet)
  std::vector<Diagnostic> errors;
  bool ok() const { return errors.empty(); }
};

// Parses a sequence of policies. AST nodes are allocated in `arena`, which
// must outlive the returned policies. Each policy gets `source` as its source
// index. Never throws; never crashes on any input.
ParseOutput ParsePolicies(std::string_view text, Arena& arena,
                          std::uint32_t source = 0,
                          const ParseLimits& limits = {});

// Parses one expression (for tests and tooling).
struct ExprParse {
  const Expr* expr = nullptr;
  std::vector<Diagnostic> errors;
};
ExprParse ParseExpression(std::string_view text, Arena& arena,
                          const ParseLimits& limits = {});

// True for Cedar's reserved identifiers (`true`, `if`, `in`, `has`, ...).
bool IsReservedIdent(std::string_view s);

// True if `s` is a valid Cedar type name such as `Git::Repo` (no spaces).
bool IsValidTypeName(std::string_view s);

}  // namespace tether::policy

#endif  // TETHER_POLICY_PARSER_H_
