#include "policy/evaluator.h"

#include <algorithm>
#include <vector>

#include "core/text.h"
#include "policy/eval_ext.h"

namespace tether::policy {
namespace {

bool SetContains(const SetData& set, const Value& v) {
  // Sets are sorted by Compare: binary search.
  const Value* begin = set.items;
  const Value* end = set.items + set.size;
  const Value* it = std::lower_bound(
      begin, end, v,
      [](const Value& a, const Value& b) { return Compare(a, b) < 0; });
  return it != end && Equal(*it, v);
}

}  // namespace

bool MatchPattern(std::span<const PatternPart> parts, std::string_view text) {
  if (parts.empty()) return text.empty();
  std::size_t first = 0, last = parts.size(), pos = 0, end = text.size();
  if (!parts[0].wildcard) {
    std::string_view lit = parts[0].literal;
    if (text.substr(0, lit.size()) != lit) return false;
    pos = lit.size();
    first = 1;
    if (first == last) return pos == end;
  }
  if (!parts[last - 1].wildcard) {
    std::string_view lit = parts[last - 1].literal;
    if (end - pos < lit.size() || text.substr(end - lit.size()) != lit) {
      return false;
    }
    end -= lit.size();
    --last;
  }
  for (std::size_t k = first; k < last; ++k) {
    if (parts[k].wildcard) continue;
    std::size_t found = text.substr(pos, end - pos).find(parts[k].literal);
    if (found == std::string_view::npos) return false;
    pos += found + parts[k].literal.size();
  }
  return true;
}

bool Evaluator::Fail(std::string message) {
  error_ = std::move(message);
  return false;
}

Value Evaluator::VarValue(Var v) const {
  switch (v) {
    case Var::kPrincipal:
      return Value::Entity(request_.principal);
    case Var::kAction:
      return Value::Entity(request_.action);
    case Var::kResource:
      return Value::Entity(request_.resource);
    case Var::kContext:
      return Value::Record(request_.context);
  }
  return Value();
}

inline __attribute__((always_inline)) bool Evaluator::EvalKid(const Expr& e,
                                                              Value* out) {
  if (e.kind == ExprKind::kLiteral) {
    *out = e.value;
    return true;
  }
  if (e.kind == ExprKind::kVar) {
    *out = VarValue(e.var);
    return true;
  }
  if (e.memo != 0 && memo_ != nullptr) {
    const MemoTable::Entry& m = memo_->entries_[e.memo - 1];
    if (m.epoch == memo_->epoch_ && m.error == 0) {
      *out = m.value;
      return true;
    }
  }
  return Eval(e, out);
}

const Entity* Evaluator::FindEntity(const EntityUid& uid) const {
  CachedEntity* cache = &uid == request_.principal  ? &principal_
                        : &uid == request_.resource ? &resource_
                        : &uid == request_.action   ? &action_
                                                    : nullptr;
  if (!cache) return entities_.Find(uid);
  if (!cache->looked_up) {
    cache->entity = entities_.Find(uid);
    cache->looked_up = true;
  }
  return cache->entity;
}

bool Evaluator::EntityIn(const EntityUid& lhs, const EntityUid& rhs) const {
  if (lhs == rhs) return true;
  const Entity* e = FindEntity(lhs);
  return e && EntityStore::HasAncestor(*e, rhs);
}

inline __attribute__((always_inline)) bool Evaluator::ScopeMatches(
    const ScopeCheck& sc, const EntityUid& var) const {
  using Op = ScopeConstraint::Op;
  switch (sc.op) {
    case Op::kAny:
      return true;
    case Op::kEq:
      return &var == sc.uid;
    case Op::kIn:
      return EntityIn(var, *sc.uid);
    case Op::kIs:
      return var.type.data() == sc.extra;
    case Op::kIsIn:
      return var.type.data() == sc.extra && EntityIn(var, *sc.uid);
    case Op::kInSet: {
      const EntityUid* const* uids =
          static_cast<const EntityUid* const*>(sc.extra);
      for (std::uint32_t i = 0; i < sc.count; ++i) {
        if (EntityIn(var, *uids[i])) return true;
      }
      return false;
    }
  }
  return false;
}

inline __attribute__((always_inline)) bool Evaluator::Guarded(
    const PolicyPlan& plan, Outcome* outcome) {
  if (!memo_) return false;
  for (std::uint8_t i = 0; i < plan.guard_count; ++i) {
    const MemoTable::Entry& m = memo_->entries_[plan.guards[i] - 1];
    if (m.epoch != memo_->epoch_) return false;  // not evaluated yet
    if (m.error != 0) {
      Fail(memo_->errors_[m.error - 1]);
      *outcome = Outcome::kError;
      return true;
    }
    // A non-bool guard is a type error that full evaluation reports.
    if (!m.value.is(ValueKind::kBool)) return false;
    if (!m.value.AsBool()) {
      *outcome = Outcome::kFalse;
      return true;
    }
  }
  if (!plan.guards_cover_all) return false;
  *outcome = Outcome::kTrue;
  return true;
}

Outcome Evaluator::EvaluatePolicy(const PolicyPlan& plan) {
  if (!ScopeMatches(plan.action, *request_.action) ||
      !ScopeMatches(plan.principal, *request_.principal) ||
      !ScopeMatches(plan.resource, *request_.resource)) {
    return Outcome::kFalse;
  }
  if (!plan.condition) return Outcome::kTrue;
  Outcome guarded;
  if (Guarded(plan, &guarded)) return guarded;
  Value v;
  if (!Eval(*plan.condition, &v)) return Outcome::kError;
  if (!v.is(ValueKind::kBool)) {
    Fail(TypeError("bool", v));
    return Outcome::kError;
  }
  return v.AsBool() ? Outcome::kTrue : Outcome::kFalse;
}

bool Evaluator::EvalIn(const Value& lhs, const Value& rhs, Value* out) {
  if (!lhs.is(ValueKind::kEntity)) {
    return Fail(TypeError("(entity of type `any_entity_type`)", lhs));
  }
  const EntityUid& l = lhs.AsEntity();
  if (rhs.is(ValueKind::kEntity)) {
    *out = Value::Bool(EntityIn(l, rhs.AsEntity()));
    return true;
  }
  if (rhs.is(ValueKind::kSet)) {
    const SetData& set = rhs.AsSet();
    for (const Value& item : set.span()) {
      if (!item.is(ValueKind::kEntity)) {
        return Fail(TypeError("(entity of type `any_entity_type`)", item));
      }
    }
    bool found = false;
    for (const Value& item : set.span()) {
      if (EntityIn(l, item.AsEntity())) {
        found = true;
        break;
      }
    }
    *out = Value::Bool(found);
    return true;
  }
  return Fail(
      TypeError("one of [set, (entity of type `any_entity_type`)]", rhs));
}

bool Evaluator::EvalCompare(const Expr& e, Value* out) {
  Value a, b;
  if (!EvalKid(*e.kids[0], &a) || !EvalKid(*e.kids[1], &b)) return false;
  if (!a.is(ValueKind::kLong)) {
    return Fail(TypeError("one of [long, datetime, duration]", a));
  }
  if (!b.is(ValueKind::kLong)) return Fail(TypeError("long", b));
  std::int64_t x = a.AsLong(), y = b.AsLong();
  bool r;
  switch (e.kind) {
    case ExprKind::kLt:
      r = x < y;
      break;
    case ExprKind::kLe:
      r = x <= y;
      break;
    case ExprKind::kGt:
      r = x > y;
      break;
    default:
      r = x >= y;
      break;
  }
  *out = Value::Bool(r);
  return true;
}

bool Evaluator::EvalArith(const Expr& e, Value* out) {
  Value a, b;
  if (!EvalKid(*e.kids[0], &a) || !EvalKid(*e.kids[1], &b)) return false;
  if (!a.is(ValueKind::kLong)) return Fail(TypeError("long", a));
  if (!b.is(ValueKind::kLong)) return Fail(TypeError("long", b));
  std::int64_t x = a.AsLong(), y = b.AsLong(), r;
  bool overflow;
  const char* verb;
  switch (e.kind) {
    case ExprKind::kAdd:
      overflow = __builtin_add_overflow(x, y, &r);
      verb = "add";
      break;
    case ExprKind::kSub:
      overflow = __builtin_sub_overflow(x, y, &r);
      verb = "subtract";
      break;
    default:
      overflow = __builtin_mul_overflow(x, y, &r);
      verb = "multiply";
      break;
  }
  if (overflow) {
    return Fail(std::string("integer overflow while attempting to ") + verb +
                " the values `" + std::to_string(x) + "` and `" +
                std::to_string(y) + "`");
  }
  *out = Value::Long(r);
  return true;
}

bool Evaluator::EvalHas(const Expr& e, Value* out) {
  Value v;
  if (!EvalKid(*e.kids[0], &v)) return false;
  for (std::size_t i = 0; i < e.path.size(); ++i) {
    const Value* attr = nullptr;
    if (v.is(ValueKind::kEntity)) {
      const Entity* ent = FindEntity(v.AsEntity());
      if (ent) attr = ent->attrs->Find(e.path[i]);
    } else if (v.is(ValueKind::kRecord)) {
      attr = v.AsRecord().Find(e.path[i]);
    } else {
      return Fail(
          TypeError("one of [record, (entity of type `any_entity_type`)]", v));
    }
    if (!attr) {
      *out = Value::Bool(false);
      return true;
    }
    v = *attr;
  }
  *out = Value::Bool(true);
  return true;
}

bool Evaluator::EvalGetAttr(const Expr& e, Value* out) {
  Value v;
  if (!EvalKid(*e.kids[0], &v)) return false;
  if (v.is(ValueKind::kRecord)) {
    const Value* attr = v.AsRecord().Find(e.name);
    if (!attr) {
      return Fail("record does not have the attribute " + Quote(e.name));
    }
    *out = *attr;
    return true;
  }
  if (v.is(ValueKind::kEntity)) {
    const Entity* ent = FindEntity(v.AsEntity());
    if (!ent) {
      return Fail("entity " + Quote(UidToString(v.AsEntity())) +
                  " does not exist");
    }
    const Value* attr = ent->attrs->Find(e.name);
    if (!attr) {
      return Fail(Quote(UidToString(v.AsEntity())) +
                  " does not have the attribute " + Quote(e.name));
    }
    *out = *attr;
    return true;
  }
  return Fail(
      TypeError("one of [record, (entity of type `any_entity_type`)]", v));
}

bool Evaluator::EvalSetOp(const Expr& e, Value* out) {
  Value a, b;
  if (!EvalKid(*e.kids[0], &a)) return false;
  if (e.kind == ExprKind::kIsEmpty) {
    if (!a.is(ValueKind::kSet)) return Fail(TypeError("set", a));
    *out = Value::Bool(a.AsSet().size == 0);
    return true;
  }
  if (!EvalKid(*e.kids[1], &b)) return false;
  if (!a.is(ValueKind::kSet)) return Fail(TypeError("set", a));
  const SetData& s = a.AsSet();
  if (e.kind == ExprKind::kContains) {
    *out = Value::Bool(SetContains(s, b));
    return true;
  }
  if (!b.is(ValueKind::kSet)) return Fail(TypeError("set", b));
  const SetData& t = b.AsSet();
  if (e.kind == ExprKind::kContainsAll) {
    bool all = true;
    for (const Value& item : t.span()) {
      if (!SetContains(s, item)) {
        all = false;
        break;
      }
    }
    *out = Value::Bool(all);
  } else {
    bool any = false;
    for (const Value& item : t.span()) {
      if (SetContains(s, item)) {
        any = true;
        break;
      }
    }
    *out = Value::Bool(any);
  }
  return true;
}

bool Evaluator::EvalTag(const Expr& e, Value* out) {
  Value a, b;
  if (!EvalKid(*e.kids[0], &a) || !EvalKid(*e.kids[1], &b)) return false;
  if (!a.is(ValueKind::kEntity)) {
    return Fail(TypeError("(entity of type `any_entity_type`)", a));
  }
  if (!b.is(ValueKind::kString)) return Fail(TypeError("string", b));
  const Entity* ent = FindEntity(a.AsEntity());
  const Value* tag = ent ? ent->tags->Find(b.AsString()) : nullptr;
  if (e.kind == ExprKind::kHasTag) {
    *out = Value::Bool(tag != nullptr);
    return true;
  }
  if (!ent) {
    return Fail("entity " + Quote(UidToString(a.AsEntity())) +
                " does not exist");
  }
  if (!tag) {
    return Fail(Quote(UidToString(a.AsEntity())) + " does not have the tag " +
                Quote(b.AsString()));
  }
  *out = *tag;
  return true;
}

bool Evaluator::EvalCollection(const Expr& e, Value* out) {
  std::span<Value> values = scratch_.NewArray<Value>(e.kids.size());
  for (std::size_t i = 0; i < e.kids.size(); ++i) {
    if (!EvalKid(*e.kids[i], &values[i])) return false;
  }
  if (e.kind == ExprKind::kSet) {
    *out = Value::Set(MakeSet(scratch_, values));
    return true;
  }
  std::span<RecordEntry> entries =
      scratch_.NewArray<RecordEntry>(e.kids.size());
  for (std::size_t i = 0; i < e.kids.size(); ++i) {
    entries[i] = RecordEntry{e.path[i], values[i]};
  }
  const RecordData* rec = MakeRecord(scratch_, entries);
  if (!rec) return Fail("duplicate key in record literal");
  *out = Value::Record(rec);
  return true;
}

bool Evaluator::EvalCall(const Expr& e, Value* out) {
  Value args[4];
  std::span<Value> argv = e.kids.size() <= 4
                              ? std::span<Value>(args, e.kids.size())
                              : scratch_.NewArray<Value>(e.kids.size());
  for (std::size_t i = 0; i < e.kids.size(); ++i) {
    if (!EvalKid(*e.kids[i], &argv[i])) return false;
  }
  std::string err;
  if (!CallExtension(e.fn, argv, scratch_, out, &err)) return Fail(err);
  return true;
}

bool Evaluator::Eval(const Expr& e, Value* out) {
  if (e.memo == 0 || memo_ == nullptr) return EvalNode(e, out);
  MemoTable::Entry& m = memo_->entries_[e.memo - 1];
  if (m.epoch == memo_->epoch_) {
    if (m.error != 0) return Fail(memo_->errors_[m.error - 1]);
    *out = m.value;
    return true;
  }
  bool ok = EvalNode(e, out);
  m.epoch = memo_->epoch_;
  if (ok) {
    m.value = *out;
    m.error = 0;
  } else {
    memo_->errors_.push_back(error_);
    m.error = static_cast<std::uint32_t>(memo_->errors_.size());
  }
  return ok;
}

bool Evaluator::EvalNode(const Expr& e, Value* out) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      *out = e.value;
      return true;
    case ExprKind::kVar:
      switch (e.var) {
        case Var::kPrincipal:
          *out = Value::Entity(request_.principal);
          break;
        case Var::kAction:
          *out = Value::Entity(request_.action);
          break;
        case Var::kResource:
          *out = Value::Entity(request_.resource);
          break;
        case Var::kContext:
          *out = Value::Record(request_.context);
          break;
      }
      return true;
    case ExprKind::kNot: {
      Value v;
      if (!EvalKid(*e.kids[0], &v)) return false;
      if (!v.is(ValueKind::kBool)) return Fail(TypeError("bool", v));
      *out = Value::Bool(!v.AsBool());
      return true;
    }
    case ExprKind::kNeg: {
      Value v;
      if (!EvalKid(*e.kids[0], &v)) return false;
      if (!v.is(ValueKind::kLong)) return Fail(TypeError("long", v));
      if (v.AsLong() == INT64_MIN) {
        return Fail("integer overflow while attempting to negate the value `" +
                    std::to_string(v.AsLong()) + "`");
      }
      *out = Value::Long(-v.AsLong());
      return true;
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      // Cedar's left fold: stop at the first operand that decides.
      bool stop_at = e.kind == ExprKind::kOr;
      for (const Expr* kid : e.kids) {
        Value v;
        if (!EvalKid(*kid, &v)) return false;
        if (!v.is(ValueKind::kBool)) return Fail(TypeError("bool", v));
        if (v.AsBool() == stop_at) {
          *out = Value::Bool(stop_at);
          return true;
        }
      }
      *out = Value::Bool(!stop_at);
      return true;
    }
    case ExprKind::kIf: {
      Value c;
      if (!EvalKid(*e.kids[0], &c)) return false;
      if (!c.is(ValueKind::kBool)) return Fail(TypeError("bool", c));
      return EvalKid(*e.kids[c.AsBool() ? 1 : 2], out);
    }
    case ExprKind::kEq:
    case ExprKind::kNe: {
      Value a, b;
      if (!EvalKid(*e.kids[0], &a) || !EvalKid(*e.kids[1], &b)) return false;
      *out = Value::Bool(Equal(a, b) == (e.kind == ExprKind::kEq));
      return true;
    }
    case ExprKind::kLt:
    case ExprKind::kLe:
    case ExprKind::kGt:
    case ExprKind::kGe:
      return EvalCompare(e, out);
    case ExprKind::kAdd:
    case ExprKind::kSub:
    case ExprKind::kMul:
      return EvalArith(e, out);
    case ExprKind::kIn: {
      Value a, b;
      if (!EvalKid(*e.kids[0], &a) || !EvalKid(*e.kids[1], &b)) return false;
      return EvalIn(a, b, out);
    }
    case ExprKind::kHas:
      return EvalHas(e, out);
    case ExprKind::kGetAttr:
      return EvalGetAttr(e, out);
    case ExprKind::kLike: {
      Value v;
      if (!EvalKid(*e.kids[0], &v)) return false;
      if (!v.is(ValueKind::kString)) return Fail(TypeError("string", v));
      *out = Value::Bool(MatchPattern(e.pattern, v.AsString()));
      return true;
    }
    case ExprKind::kIs: {
      Value v;
      if (!EvalKid(*e.kids[0], &v)) return false;
      if (!v.is(ValueKind::kEntity)) {
        return Fail(TypeError("(entity of type `any_entity_type`)", v));
      }
      bool is = v.AsEntity().HasType(e.name, e.name_hash);
      if (!is || e.kids.size() == 1) {
        *out = Value::Bool(is);
        return true;
      }
      Value in;  // `x is T in y` is `x is T && x in y`
      if (!EvalKid(*e.kids[1], &in)) return false;
      return EvalIn(v, in, out);
    }
    case ExprKind::kContains:
    case ExprKind::kContainsAll:
    case ExprKind::kContainsAny:
    case ExprKind::kIsEmpty:
      return EvalSetOp(e, out);
    case ExprKind::kGetTag:
    case ExprKind::kHasTag:
      return EvalTag(e, out);
    case ExprKind::kSet:
    case ExprKind::kRecord:
      return EvalCollection(e, out);
    case ExprKind::kCall:
      return EvalCall(e, out);
    case ExprKind::kError:
      return Fail(std::string(e.name));
  }
  return Fail("unsupported expression");
}

}  // namespace tether::policy
