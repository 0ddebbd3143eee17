// Calls of Cedar extension functions and methods on values, shared by the
// evaluator and by the `__extn` escape of the JSON formats.
#ifndef TETHER_POLICY_EVAL_EXT_H_
#define TETHER_POLICY_EVAL_EXT_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/arena.h"
#include "policy/ast.h"
#include "policy/value.h"

namespace tether::policy {

// The function or method named `name` (`ip`, `lessThan`, ...), if any.
std::optional<ExtFn> ExtFnByName(std::string_view name);
std::string_view ExtFnName(ExtFn fn);

// Applies `fn` to `args` (a method's receiver is args[0]). On success stores
// the result (allocated in `arena` if needed) and returns true; otherwise
// sets `error` and returns false. Checks arity, then argument types.
bool CallExtension(ExtFn fn, std::span<const Value> args, Arena& arena,
                   Value* out, std::string* error);

// "type error: expected X, got Y" in Cedar's words.
std::string TypeError(std::string_view expected, const Value& got);

}  // namespace tether::policy

#endif  // TETHER_POLICY_EVAL_EXT_H_
