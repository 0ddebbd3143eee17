// Evaluates policy conditions against one request and entity store.
//
// Pure: no I/O, no global state. Semantics are Cedar 4's (docs/policy.md):
// strict left-to-right evaluation, short-circuit `&&`/`||`/`if`, checked
// 64-bit arithmetic, and errors that make a policy "erroring" rather than
// true or false. Recursion depth is bounded by the parser's tree-height limit.
#ifndef TETHER_POLICY_EVALUATOR_H_
#define TETHER_POLICY_EVALUATOR_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "policy/ast.h"
#include "policy/entities.h"
#include "policy/request.h"
#include "policy/value.h"

namespace tether::policy {

enum class Outcome : std::uint8_t { kFalse, kTrue, kError };

// Results of shared subexpressions (Expr::memo) for one request. Reused
// across requests: Begin() invalidates everything in O(1).
class MemoTable {
 public:
  void Begin(std::size_t slots) {
    if (entries_.size() < slots) entries_.resize(slots);
    ++epoch_;
    errors_.clear();
  }

 private:
  friend class Evaluator;
  struct Entry {
    std::uint64_t epoch = 0;
    Value value;
    std::uint32_t error = 0;  // 1 + index into errors_, or 0
  };
  std::vector<Entry> entries_;
  std::vector<std::string> errors_;
  std::uint64_t epoch_ = 0;
};

class Evaluator {
 public:
  // All three must outlive the Evaluator; temporaries go into `scratch`.
  Evaluator(const Request& request, const EntityStore& entities, Arena& scratch)
      : request_(request), entities_(entities), scratch_(scratch) {}
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // The policy's scope, then its condition. The request must be
  // canonicalized by the plan's policy set (PolicySet::Canonicalize). On
  // kError, error() says why.
  Outcome EvaluatePolicy(const PolicyPlan& plan);

  // Evaluates `e`; on failure returns false and error() says why.
  bool Eval(const Expr& e, Value* out);

  // Memoize shared subexpressions in `memo` (which must have had Begin()
  // called with the policy set's memo_slots() and outlive the Evaluator).
  void set_memo(MemoTable* memo) { memo_ = memo; }

  const std::string& error() const { return error_; }

  // `lhs in rhs` for entities: equal, or rhs is an ancestor of lhs.
  bool EntityIn(const EntityUid& lhs, const EntityUid& rhs) const;

 private:
  bool Fail(std::string message);
  bool EvalNode(const Expr& e, Value* out);
  // Eval for subexpressions: literals, variables and memo hits without a
  // call.
  bool EvalKid(const Expr& e, Value* out);
  Value VarValue(Var v) const;
  // The outcome the plan's memoized guards already decide, if any.
  bool Guarded(const PolicyPlan& plan, Outcome* outcome);
  // The store's entity for `uid`; the request's principal, action and
  // resource are looked up once per Evaluator.
  const Entity* FindEntity(const EntityUid& uid) const;
  bool ScopeMatches(const ScopeCheck& sc, const EntityUid& var) const;
  bool EvalIn(const Value& lhs, const Value& rhs, Value* out);
  bool EvalCompare(const Expr& e, Value* out);
  bool EvalArith(const Expr& e, Value* out);
  bool EvalHas(const Expr& e, Value* out);
  bool EvalGetAttr(const Expr& e, Value* out);
  bool EvalSetOp(const Expr& e, Value* out);
  bool EvalTag(const Expr& e, Value* out);
  bool EvalCollection(const Expr& e, Value* out);
  bool EvalCall(const Expr& e, Value* out);

  const Request& request_;
  const EntityStore& entities_;
  Arena& scratch_;
  std::string error_;
  struct CachedEntity {
    bool looked_up = false;
    const Entity* entity = nullptr;
  };
  mutable CachedEntity principal_, action_, resource_;
  MemoTable* memo_ = nullptr;
};

// Cedar `like`: `*` matches any sequence of characters.
bool MatchPattern(std::span<const PatternPart> pattern, std::string_view text);

}  // namespace tether::policy

#endif  // TETHER_POLICY_EVALUATOR_H_
