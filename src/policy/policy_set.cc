#include "policy/policy_set.h"

#include <algorithm>
#include <functional>

#include "core/crypto.h"
#include "core/text.h"

namespace tether::policy {
namespace {

std::string Trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

bool IsGroupName(std::string_view g) {
  if (g.empty() || g.size() > 128) return false;
  for (char c : g) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == ':' || c == '/' || c == '@';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string FormatDiagnostic(const SourceDiagnostic& d) {
  std::string out = d.file + ":" + std::to_string(d.line) + ":" +
                    std::to_string(d.column) + ": " + d.message;
  if (!d.source_line.empty()) {
    out += "\n  ";
    out += d.source_line;
    out += "\n  ";
    // Tabs are kept so the caret lines up under tab-indented source.
    std::size_t col = 1;
    for (std::size_t i = 0; i < d.source_line.size() && col < d.column; ++i) {
      unsigned char c = static_cast<unsigned char>(d.source_line[i]);
      if ((c & 0xC0) == 0x80) continue;
      out += c == '\t' ? '\t' : ' ';
      ++col;
    }
    out += '^';
    for (std::size_t i = 1; i < d.caret_width; ++i) out += '~';
  }
  return out;
}

const Policy* PolicySet::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &policies_[it->second];
}

const EntityUid* PolicySet::Intern(const EntityUid* uid) {
  auto [slot, fresh] = uids_.Insert(uid);
  if (fresh) {
    // Keep one object per uid, whose type is the interned type name.
    std::string_view type = InternType(uid->type);
    if (type.data() != uid->type.data()) {
      uid = arena_->New<EntityUid>(
          EntityUid{type, uid->id, uid->hash, uid->type_hash});
    }
    *slot = uid;
  }
  return *slot;
}

std::string_view PolicySet::InternType(std::string_view type) {
  auto [slot, fresh] = types_.Insert(type);
  if (fresh) *slot = type;
  return *slot;
}

const EntityUid* PolicySet::Lookup(const EntityUid& uid) const {
  const EntityUid* const* found = uids_.Find(&uid);
  return found ? *found : nullptr;
}

Request PolicySet::Canonicalize(const Request& request, Arena& arena) const {
  auto canonical = [&](const EntityUid* uid) -> const EntityUid* {
    if (const EntityUid* own = Lookup(*uid)) return own;
    const std::string_view* type = types_.Find(uid->type);
    if (!type || type->data() == uid->type.data()) return uid;
    return arena.New<EntityUid>(
        EntityUid{*type, uid->id, uid->hash, uid->type_hash});
  };
  Request out = request;
  out.principal = canonical(request.principal);
  out.action = canonical(request.action);
  out.resource = canonical(request.resource);
  return out;
}

void PolicySet::BuildIndex() {
  // Intern every uid and type the policies mention, in scopes and in
  // expressions, so comparisons against a canonicalized request are pointer
  // comparisons.
  std::vector<Expr*> stack;
  std::unordered_map<const Expr*, bool> seen;
  for (Policy& p : policies_) {
    for (ScopeConstraint* sc : {&p.principal, &p.action, &p.resource}) {
      if (sc->uid) sc->uid = Intern(sc->uid);
      if (!sc->type.empty()) sc->type = InternType(sc->type);
      if (!sc->uids.empty()) {
        std::span<const EntityUid*> uids =
            arena_->NewArray<const EntityUid*>(sc->uids.size());
        for (std::size_t i = 0; i < uids.size(); ++i) {
          uids[i] = Intern(sc->uids[i]);
        }
        sc->uids = uids;
      }
    }
    for (const Condition& c : p.conditions) {
      if (!seen[c.body]) {
        seen[c.body] = true;
        stack.push_back(const_cast<Expr*>(c.body));
      }
    }
  }
  while (!stack.empty()) {
    Expr* e = stack.back();
    stack.pop_back();
    if (e->kind == ExprKind::kLiteral && e->value.is(ValueKind::kEntity)) {
      e->value = Value::Entity(Intern(&e->value.AsEntity()));
    } else if (e->kind == ExprKind::kIs) {
      e->name = InternType(e->name);
    }
    for (const Expr* k : e->kids) {
      if (!seen[k]) {
        seen[k] = true;
        stack.push_back(const_cast<Expr*>(k));
      }
    }
  }

  using Op = ScopeConstraint::Op;
  for (const Policy& p : policies_) {
    const char* rtype = nullptr;  // interned type name, if constrained
    const EntityUid* ruid = nullptr;
    switch (p.resource.op) {
      case Op::kEq:
        ruid = p.resource.uid;
        rtype = ruid->type.data();
        break;
      case Op::kIs:
      case Op::kIsIn:
        rtype = p.resource.type.data();
        break;
      default:
        break;
    }
    std::vector<const EntityUid*> actions;
    if (p.action.op == Op::kEq || p.action.op == Op::kIn) {
      actions.push_back(p.action.uid);
    } else if (p.action.op == Op::kInSet) {
      actions.assign(p.action.uids.begin(), p.action.uids.end());
      std::sort(actions.begin(), actions.end());
      actions.erase(std::unique(actions.begin(), actions.end()), actions.end());
    }
    if (p.action.op != Op::kAny) {
      for (const EntityUid* a : actions) {
        ActionEntry& entry = *by_action_.Insert(a).first;
        Bucket* bucket = &entry.any_resource;
        if (ruid) {
          bucket = by_action_.Find(a)->by_resource.Insert(ruid).first;
        } else if (rtype) {
          auto it =
              std::find_if(entry.by_type.begin(), entry.by_type.end(),
                           [&](const auto& t) { return t.first == rtype; });
          if (it == entry.by_type.end()) {
            entry.by_type.emplace_back(rtype, Bucket{});
            it = entry.by_type.end() - 1;
          }
          bucket = &it->second;
        }
        bucket->push_back(p.index);
      }
    } else if (rtype) {
      by_resource_type_.Insert(rtype).first->push_back(p.index);
    } else {
      unindexed_.push_back(p.index);
    }
  }
}

namespace {

void AppendPart(std::string& key, std::string_view s) {
  key += std::to_string(s.size());
  key += ':';
  key += s;
}

// Hash-conses expression trees: structurally identical subtrees map to one
// node. Nodes belong to the set's arena and are not shared with anyone else
// yet, so their kid lists may be rewritten in place.
class Sharer {
 public:
  explicit Sharer(Arena& arena) : arena_(arena) {}

  const Expr* Canonical(const Expr* e) {
    if (!e->kids.empty()) {
      std::span<const Expr*> kids =
          arena_.NewArray<const Expr*>(e->kids.size());
      bool changed = false;
      for (std::size_t i = 0; i < e->kids.size(); ++i) {
        kids[i] = Canonical(e->kids[i]);
        changed |= kids[i] != e->kids[i];
      }
      if (changed) const_cast<Expr*>(e)->kids = kids;
    }
    auto [it, fresh] = table_.emplace(Key(*e), e);
    return it->second;
  }

 private:
  static std::string Key(const Expr& e) {
    std::string key;
    key += static_cast<char>(e.kind);
    key += static_cast<char>(e.var);
    key += static_cast<char>(e.fn);
    AppendPart(key, e.name);
    if (e.kind == ExprKind::kLiteral) {
      AppendPart(key, KindName(e.value.kind()));
      AppendPart(key, ValueToString(e.value));
    }
    for (std::string_view p : e.path) AppendPart(key, p);
    for (const PatternPart& p : e.pattern) {
      key += p.wildcard ? '*' : 'l';
      AppendPart(key, p.literal);
    }
    for (const Expr* k : e.kids) {
      key += '#';
      key += std::to_string(reinterpret_cast<std::uintptr_t>(k));
    }
    return key;
  }

  Arena& arena_;
  std::unordered_map<std::string, const Expr*> table_;
};

}  // namespace

void PolicySet::BuildPlans() {
  plans_.resize(policies_.size());
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    const Policy& p = policies_[i];
    PolicyPlan& plan = plans_[i];
    auto check = [](const ScopeConstraint& sc) {
      ScopeCheck c;
      c.op = sc.op;
      c.uid = sc.uid;
      if (sc.op == ScopeConstraint::Op::kIs ||
          sc.op == ScopeConstraint::Op::kIsIn) {
        c.extra = sc.type.data();
      } else if (sc.op == ScopeConstraint::Op::kInSet) {
        c.extra = sc.uids.data();
        c.count = static_cast<std::uint32_t>(sc.uids.size());
      }
      return c;
    };
    plan.principal = check(p.principal);
    plan.action = check(p.action);
    plan.resource = check(p.resource);
    plan.effect = p.effect;
    plan.gated = p.approval.has_value();
    // when {a} unless {b} when {c}  =>  a && !b && c, evaluated as Cedar's
    // left fold: left to right, each operand must be a bool.
    std::vector<const Expr*> parts;
    std::uint32_t depth = 0;
    for (const Condition& c : p.conditions) {
      const Expr* part = c.body;
      if (!c.is_when) {
        Expr* neg = arena_->New<Expr>();
        neg->kind = ExprKind::kNot;
        neg->span = c.body->span;
        std::span<const Expr*> kid = arena_->NewArray<const Expr*>(1);
        kid[0] = c.body;
        neg->kids = kid;
        neg->depth = c.body->depth + 1;
        part = neg;
      }
      depth = std::max(depth, part->depth);
      parts.push_back(part);
    }
    if (parts.size() == 1 && p.conditions[0].is_when) {
      plan.condition = parts[0];
    } else if (!parts.empty()) {
      Expr* all = arena_->New<Expr>();
      all->kind = ExprKind::kAnd;
      all->span = p.span;
      std::span<const Expr*> kids = arena_->NewArray<const Expr*>(parts.size());
      std::copy(parts.begin(), parts.end(), kids.begin());
      all->kids = kids;
      all->depth = depth + 1;
      plan.condition = all;
    }
  }
}

void PolicySet::ShareSubexpressions() {
  Sharer sharer(*arena_);
  for (PolicyPlan& plan : plans_) {
    if (plan.condition) plan.condition = sharer.Canonical(plan.condition);
  }
  // Count the references to each distinct node; those referenced more than
  // once (and worth caching) get a memo slot.
  std::unordered_map<const Expr*, std::uint32_t> refs;
  std::vector<const Expr*> stack;
  for (const PolicyPlan& plan : plans_) {
    if (plan.condition && refs[plan.condition]++ == 0) {
      stack.push_back(plan.condition);
    }
  }
  while (!stack.empty()) {
    const Expr* e = stack.back();
    stack.pop_back();
    for (const Expr* k : e->kids) {
      if (refs[k]++ == 0) stack.push_back(k);
    }
  }
  std::uint32_t slots = 0;
  for (auto& [e, count] : refs) {
    bool trivial = e->kind == ExprKind::kLiteral || e->kind == ExprKind::kVar ||
                   e->kind == ExprKind::kError;
    if (count >= 2 && !trivial) const_cast<Expr*>(e)->memo = ++slots;
  }
  memo_slots_ = slots;
  for (PolicyPlan& plan : plans_) {
    const Expr* c = plan.condition;
    if (!c) continue;
    std::span<const Expr* const> conjuncts(&plan.condition, 1);
    if (c->kind == ExprKind::kAnd) conjuncts = c->kids;
    std::size_t n = 0;
    while (n < conjuncts.size() && n < 3 && conjuncts[n]->memo != 0) {
      plan.guards[n] = conjuncts[n]->memo;
      ++n;
    }
    plan.guard_count = static_cast<std::uint8_t>(n);
    plan.guards_cover_all = n > 0 && n == conjuncts.size();
  }
}

void PolicySet::Candidates(const Request& request, const EntityStore& entities,
                           std::vector<std::uint32_t>& out) const {
  out.clear();
  const char* rtype = request.resource->type.data();
  auto add_action = [&](const EntityUid* action) {
    const ActionEntry* entry = by_action_.Find(action);
    if (!entry) return;
    out.insert(out.end(), entry->any_resource.begin(),
               entry->any_resource.end());
    for (const auto& [type, bucket] : entry->by_type) {
      if (type == rtype) out.insert(out.end(), bucket.begin(), bucket.end());
    }
    if (const Bucket* b = entry->by_resource.Find(request.resource)) {
      out.insert(out.end(), b->begin(), b->end());
    }
  };
  if (!by_action_.empty()) {
    // Keys are the set's own uid objects: the request's action is one if the
    // set mentions it (Canonicalize), and so must each group it is in.
    add_action(request.action);
    if (const Entity* a = entities.Find(*request.action)) {
      for (const EntityUid* group : a->ancestors) {
        if (const EntityUid* own = Lookup(*group)) add_action(own);
      }
    }
  }
  if (const Bucket* b = by_resource_type_.Find(rtype)) {
    out.insert(out.end(), b->begin(), b->end());
  }
  out.insert(out.end(), unindexed_.begin(), unindexed_.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

PolicySet::Builder::Builder(BuildOptions options)
    : options_(std::move(options)), arena_(std::make_unique<Arena>()) {}

void PolicySet::Builder::AddDiagnostic(std::uint32_t source, SourceSpan span,
                                       std::string message) {
  const std::string& text = texts_[source];
  LineCol lc = ComputeLineCol(text, span.begin);
  SourceDiagnostic d;
  d.file = names_[source];
  d.line = lc.line;
  d.column = lc.column;
  d.message = std::move(message);
  d.source_line = std::string(LineAt(text, span.begin));
  LineCol end_lc = ComputeLineCol(text, span.end);
  d.caret_width = (end_lc.line == lc.line && end_lc.column > lc.column)
                      ? end_lc.column - lc.column
                      : 1;
  diagnostics_.push_back(std::move(d));
}

bool PolicySet::Builder::AddSource(std::string name, std::string_view text) {
  auto source = static_cast<std::uint32_t>(names_.size());
  names_.push_back(std::move(name));
  texts_.emplace_back(text);
  ParseOutput parsed =
      ParsePolicies(texts_.back(), *arena_, source, options_.limits);
  for (Diagnostic& d : parsed.errors) {
    AddDiagnostic(source, d.span, std::move(d.message));
  }
  for (Policy& p : parsed.policies) policies_.push_back(std::move(p));
  return parsed.ok();
}

Result<std::shared_ptr<const PolicySet>> PolicySet::Builder::Build() {
  std::unordered_map<std::string, std::uint32_t> ids;
  for (std::size_t i = 0; i < policies_.size(); ++i) {
    Policy& p = policies_[i];
    p.index = static_cast<std::uint32_t>(i);
    const Annotation* id = p.FindAnnotation("id");
    if (id) {
      p.id = id->value;
      if (p.id.empty()) {
        AddDiagnostic(p.source, id->span, "`@id` must not be empty");
      }
    } else {
      if (options_.require_ids) {
        AddDiagnostic(p.source, p.span, "policy has no `@id` annotation");
      }
      p.id = "policy" + std::to_string(i);
    }
    auto [it, fresh] = ids.emplace(p.id, p.index);
    if (!fresh) {
      const Policy& first = policies_[it->second];
      LineCol lc = ComputeLineCol(texts_[first.source], first.span.begin);
      AddDiagnostic(p.source, id ? id->span : p.span,
                    "duplicate policy id " + Quote(p.id) + " (first used at " +
                        names_[first.source] + ":" + std::to_string(lc.line) +
                        ":" + std::to_string(lc.column) + ")");
    }
    // tether's approval gates.
    const Annotation* approval = p.FindAnnotation("approval");
    const Annotation* required = p.FindAnnotation("approvals_required");
    if (approval) {
      if (p.effect != Effect::kPermit) {
        AddDiagnostic(p.source, approval->span,
                      "`@approval` applies only to `permit` policies");
      }
      ApprovalGate gate;
      std::string_view v = approval->value;
      bool bad = false;
      while (true) {
        std::size_t comma = v.find(',');
        std::string g = Trim(v.substr(0, comma));
        if (!IsGroupName(g)) bad = true;
        gate.groups.push_back(std::move(g));
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
      if (bad) {
        AddDiagnostic(p.source, approval->span,
                      "`@approval` needs a comma-separated list of group "
                      "names (letters, digits, `-_.:/@`), got " +
                          Quote(approval->value));
      }
      if (required) {
        const std::string& n = required->value;
        bool ok = !n.empty() && n.size() <= 2 && n[0] != '0' &&
                  std::all_of(n.begin(), n.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
        if (!ok) {
          AddDiagnostic(p.source, required->span,
                        "`@approvals_required` must be a number from 1 to "
                        "99, got " +
                            Quote(n));
        } else {
          gate.approvers = std::stoi(n);
        }
      }
      p.approval = std::move(gate);
    } else if (required) {
      AddDiagnostic(p.source, required->span,
                    "`@approvals_required` needs an `@approval` annotation");
    }
  }
  if (!diagnostics_.empty()) {
    return MakeError("invalid_policy",
                     std::to_string(diagnostics_.size()) +
                         " error(s) in the policy set; first: " +
                         FormatDiagnostic(diagnostics_.front()));
  }
  std::shared_ptr<PolicySet> set(new PolicySet());
  {
    Sha256Hasher h;
    auto put = [&](std::string_view part) {
      std::uint64_t n = part.size();
      unsigned char len[8];
      for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>(n >> (56 - 8 * i));
      h.Update(len, sizeof len);
      h.Update(part);
    };
    for (std::size_t i = 0; i < names_.size(); ++i) {
      put(names_[i]);
      put(texts_[i]);
    }
    set->sha256_ = HexEncode(h.Final());
  }
  set->arena_ = std::move(arena_);
  set->sources_ = std::move(names_);
  set->policies_ = std::move(policies_);
  for (const Policy& p : set->policies_) set->by_id_.emplace(p.id, p.index);
  set->BuildIndex();
  set->BuildPlans();
  set->ShareSubexpressions();
  arena_ = std::make_unique<Arena>();
  texts_.clear();
  return std::shared_ptr<const PolicySet>(std::move(set));
}

const Annotation* Policy::FindAnnotation(std::string_view key) const {
  for (const Annotation& a : annotations) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

}  // namespace tether::policy
