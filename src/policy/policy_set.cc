#include "policy/policy_set.h"

#include <algorithm>
#include <functional>

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

std::uint64_t Mix(std::uint64_t a, std::uint64_t b) {
  return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
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

PolicySet::IndexKey PolicySet::MakeKey(const EntityUid& action,
                                       std::string_view resource_type,
                                       std::uint64_t resource_type_hash,
                                       const EntityUid* resource) {
  if (resource) {
    return IndexKey{action.type, action.id, resource->type, resource->id,
                    Mix(action.hash, resource->hash)};
  }
  return IndexKey{action.type,
                  action.id,
                  resource_type,
                  {},
                  Mix(action.hash, resource_type_hash)};
}

void PolicySet::BuildIndex() {
  std::hash<std::string_view> h;
  for (const Policy& p : policies_) {
    std::string_view rtype;
    const EntityUid* ruid = nullptr;  // `resource == R`: indexed by R itself
    using Op = ScopeConstraint::Op;
    switch (p.resource.op) {
      case Op::kEq:
        rtype = p.resource.uid->type;
        ruid = p.resource.uid;
        break;
      case Op::kIs:
      case Op::kIsIn:
        rtype = p.resource.type;
        break;
      default:
        break;
    }
    std::uint64_t rhash = rtype.empty() ? 0 : h(rtype);
    std::vector<const EntityUid*> actions;
    if (p.action.op == Op::kEq || p.action.op == Op::kIn) {
      actions.push_back(p.action.uid);
    } else if (p.action.op == Op::kInSet) {
      actions.assign(p.action.uids.begin(), p.action.uids.end());
    }
    if (p.action.op != Op::kAny) {
      for (const EntityUid* a : actions) {
        std::vector<std::uint32_t>& bucket =
            by_action_[MakeKey(*a, rtype, rhash, ruid)];
        if (bucket.empty() || bucket.back() != p.index) {
          bucket.push_back(p.index);
        }
      }
    } else if (!rtype.empty()) {
      by_resource_type_[rtype].push_back(p.index);
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

void PolicySet::ShareSubexpressions() {
  Sharer sharer(*arena_);
  for (Policy& p : policies_) {
    for (Condition& c : p.conditions) c.body = sharer.Canonical(c.body);
  }
  // Count the references to each distinct node; those referenced more than
  // once (and worth caching) get a memo slot.
  std::unordered_map<const Expr*, std::uint32_t> refs;
  std::vector<const Expr*> stack;
  for (const Policy& p : policies_) {
    for (const Condition& c : p.conditions) {
      if (refs[c.body]++ == 0) stack.push_back(c.body);
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
}

void PolicySet::Candidates(const Request& request, const EntityStore& entities,
                           std::vector<std::uint32_t>& out) const {
  out.clear();
  std::string_view rtype = request.resource->type;
  std::uint64_t rhash = std::hash<std::string_view>{}(rtype);
  auto add_action = [&](const EntityUid& action) {
    if (by_action_.empty()) return;
    const IndexKey keys[] = {MakeKey(action, rtype, rhash, request.resource),
                             MakeKey(action, rtype, rhash, nullptr),
                             MakeKey(action, {}, 0, nullptr)};
    for (const IndexKey& key : keys) {
      auto it = by_action_.find(key);
      if (it != by_action_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
      }
    }
  };
  add_action(*request.action);
  if (const Entity* a = entities.Find(*request.action)) {
    for (const EntityUid* group : a->ancestors) add_action(*group);
  }
  if (auto it = by_resource_type_.find(rtype); it != by_resource_type_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
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
  set->arena_ = std::move(arena_);
  set->sources_ = std::move(names_);
  set->policies_ = std::move(policies_);
  for (const Policy& p : set->policies_) set->by_id_.emplace(p.id, p.index);
  set->BuildIndex();
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
