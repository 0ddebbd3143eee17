// The policy AST produced by the parser. Nodes are immutable and arena-owned
// (the PolicySet's arena); every node carries the byte span of its source so
// diagnostics can point at it. Grammar and semantics: docs/policy.md.
#ifndef TETHER_POLICY_AST_H_
#define TETHER_POLICY_AST_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/value.h"

namespace tether::policy {

// Byte offsets [begin, end) into one source text.
struct SourceSpan {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

enum class Var : std::uint8_t { kPrincipal, kAction, kResource, kContext };

enum class ExprKind : std::uint8_t {
  kLiteral,  // value
  kVar,      // var
  kNot,      // !kids[0]
  kNeg,      // -kids[0]
  kAnd,      // kids[0] && kids[1] && ... (left-folded chains are flattened)
  kOr,
  kIf,  // if kids[0] then kids[1] else kids[2]
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAdd,
  kSub,
  kMul,
  kIn,
  kHas,      // kids[0] has path[0].path[1]...
  kGetAttr,  // kids[0].name  or kids[0]["name"]
  kLike,     // kids[0] like pattern
  kIs,       // kids[0] is name [in kids[1]]
  kContains,
  kContainsAll,
  kContainsAny,
  kIsEmpty,
  kGetTag,
  kHasTag,
  kSet,     // [kids...]
  kRecord,  // {path[i]: kids[i]}
  kCall,    // extension function or method: fn(kids...)
  kError,   // evaluating it fails with message `name` (folded constant)
};

enum class ExtFn : std::uint8_t {
  kIp,
  kDecimal,
  kIsIpv4,
  kIsIpv6,
  kIsLoopback,
  kIsMulticast,
  kIsInRange,
  kLessThan,
  kLessThanOrEqual,
  kGreaterThan,
  kGreaterThanOrEqual,
  kUnknown,  // partial evaluation's `unknown(name)`: always an error here
};

// One element of a `like` pattern: a literal run or a `*` wildcard.
struct PatternPart {
  bool wildcard = false;
  std::string_view literal;
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  Var var = Var::kPrincipal;
  ExtFn fn = ExtFn::kIp;
  std::uint32_t depth = 1;  // height of this subtree
  // Non-zero: 1 + the slot where evaluation memoizes this node's result for
  // the duration of one request. PolicySet assigns slots to subexpressions
  // that several policies share (identical subtrees are merged at build).
  std::uint32_t memo = 0;
  SourceSpan span;
  Value value;
  std::string_view name;
  std::uint64_t name_hash = 0;  // kIs: HashType(name)
  std::span<const Expr* const> kids;
  std::span<const std::string_view> path;
  std::span<const PatternPart> pattern;
};

enum class Effect : std::uint8_t { kPermit, kForbid };

struct ScopeConstraint {
  enum class Op : std::uint8_t {
    kAny,    // principal
    kEq,     // principal == uid
    kIn,     // principal in uid
    kIs,     // principal is type
    kIsIn,   // principal is type in uid
    kInSet,  // action in [uids...]
  };
  Op op = Op::kAny;
  const EntityUid* uid = nullptr;
  std::string_view type;
  std::uint64_t type_hash = 0;  // HashType(type)
  std::span<const EntityUid* const> uids;
  SourceSpan span;
};

struct Annotation {
  std::string key;
  std::string value;
  SourceSpan span;
};

struct Condition {
  bool is_when = true;
  const Expr* body = nullptr;
  SourceSpan span;
};

// tether's approval gate on a permit: `@approval("g1, g2")` with optional
// `@approvals_required("N")`.
struct ApprovalGate {
  std::vector<std::string> groups;
  int approvers = 1;
};

// The part of a policy that evaluation reads, kept dense (PolicySet::plans)
// so a candidate costs few cache lines. Uids and type names point at the
// policy set's interned objects: against a canonicalized request, equality
// and `is` checks are pointer comparisons.
struct ScopeCheck {
  ScopeConstraint::Op op = ScopeConstraint::Op::kAny;
  std::uint32_t count = 0;         // kInSet: number of uids
  const EntityUid* uid = nullptr;  // kEq, kIn, kIsIn
  const void* extra = nullptr;     // kIs, kIsIn: type data; kInSet: uids
};

struct PolicyPlan {
  ScopeCheck principal, action, resource;
  // Every when/unless clause combined (`unless c` as `!c`) in source order;
  // null when there is none.
  const Expr* condition = nullptr;
  // Memo slots (Expr::memo) of the condition's leading conjuncts, in order,
  // up to the first one without a slot. When a request has already
  // evaluated them for another policy, the outcome is known without
  // touching this policy's expression tree: a false or erroring guard
  // decides; a true one passes to the next.
  std::uint32_t guards[3] = {0, 0, 0};
  std::uint8_t guard_count = 0;
  bool guards_cover_all = false;  // the guards are the whole condition
  Effect effect = Effect::kPermit;
  bool gated = false;  // has an @approval gate
};

struct Policy {
  std::string id;
  std::uint32_t index = 0;  // load order within its PolicySet
  Effect effect = Effect::kPermit;
  std::vector<Annotation> annotations;
  ScopeConstraint principal, action, resource;
  std::vector<Condition> conditions;
  SourceSpan span;
  std::uint32_t source = 0;  // index of the source text it came from
  std::optional<ApprovalGate> approval;  // set by PolicySet validation

  // Null if absent.
  const Annotation* FindAnnotation(std::string_view key) const;
};

}  // namespace tether::policy

#endif  // TETHER_POLICY_AST_H_
