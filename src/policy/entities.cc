#include "policy/entities.h"

#include <algorithm>
#include <boost/json.hpp>

#include "core/json.h"
#include "core/text.h"
#include "policy/value_json.h"

namespace tether::policy {
namespace {

namespace json = boost::json;

const RecordData kEmptyRecord{};

// Ancestors are stored transitively; a long parent chain is quadratic in
// memory, so the total is bounded.
constexpr std::size_t kMaxAncestorEntries = 16 * 1024 * 1024;

bool UidLess(const EntityUid* a, const EntityUid* b) {
  if (a->hash != b->hash) return a->hash < b->hash;
  if (a->type != b->type) return a->type < b->type;
  return a->id < b->id;
}

Error Invalid(std::string message) {
  return MakeError("invalid_entities", std::move(message));
}

bool SameParents(std::vector<const EntityUid*> a,
                 std::vector<const EntityUid*> b) {
  std::sort(a.begin(), a.end(), UidLess);
  std::sort(b.begin(), b.end(), UidLess);
  auto eq = [](const EntityUid* x, const EntityUid* y) { return *x == *y; };
  a.erase(std::unique(a.begin(), a.end(), eq), a.end());
  b.erase(std::unique(b.begin(), b.end(), eq), b.end());
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), eq);
}

}  // namespace

bool IsActionType(std::string_view type) {
  std::size_t sep = type.rfind("::");
  return (sep == std::string_view::npos ? type : type.substr(sep + 2)) ==
         "Action";
}

Status EntityStore::Add(const EntityUid* uid, const RecordData* attrs,
                        const RecordData* tags,
                        std::vector<const EntityUid*> parents) {
  if (!attrs) attrs = &kEmptyRecord;
  if (!tags) tags = &kEmptyRecord;
  auto [slot, inserted] = entities_.Insert(uid);
  if (!inserted) {
    const Entity& old = *slot;
    if (!Equal(Value::Record(old.attrs), Value::Record(attrs)) ||
        !Equal(Value::Record(old.tags), Value::Record(tags)) ||
        !SameParents(old.parents, parents)) {
      return Invalid("duplicate entity entry " + Quote(UidToString(*uid)));
    }
    return {};
  }
  Entity& e = *slot;
  e.uid = uid;
  e.attrs = attrs;
  e.tags = tags;
  e.parents = std::move(parents);
  return {};
}

Status EntityStore::Finalize() {
  // Depth-first closure with colors: 0 new, 1 on the stack, 2 done. Edges are
  // followed only through entities present in the store, as Cedar does.
  std::unordered_map<const Entity*, int> color;
  std::size_t total_ancestors = 0;
  std::vector<std::pair<Entity*, std::size_t>> stack;
  for (auto& [key, root] : entities_.entries()) {
    if (IsActionType(root.uid->type)) {
      for (const EntityUid* p : root.parents) {
        if (!IsActionType(p->type)) {
          return Invalid("action entity " + Quote(UidToString(*root.uid)) +
                         " has a non-action parent " + Quote(UidToString(*p)));
        }
      }
    }
    if (color[&root] == 2) continue;
    stack.push_back({&root, 0});
    color[&root] = 1;
    while (!stack.empty()) {
      auto& [e, next] = stack.back();
      if (next < e->parents.size()) {
        const EntityUid* p = e->parents[next++];
        Entity* pe = entities_.Find(p);
        if (!pe) continue;
        int& c = color[pe];
        if (c == 1) {
          return Invalid("entity parents form a cycle through " +
                         Quote(UidToString(*pe->uid)));
        }
        if (c == 0) {
          c = 1;
          stack.push_back({pe, 0});
        }
        continue;
      }
      // All parents done: ancestors = parents ∪ their ancestors.
      std::vector<const EntityUid*> anc;
      for (const EntityUid* p : e->parents) {
        anc.push_back(p);
        if (const Entity* pe = entities_.Find(p)) {
          anc.insert(anc.end(), pe->ancestors.begin(), pe->ancestors.end());
        }
      }
      std::sort(anc.begin(), anc.end(), UidLess);
      anc.erase(std::unique(anc.begin(), anc.end(),
                            [](const EntityUid* x, const EntityUid* y) {
                              return *x == *y;
                            }),
                anc.end());
      total_ancestors += anc.size();
      if (total_ancestors > kMaxAncestorEntries) {
        return Invalid("the entity hierarchy is too large (more than " +
                       std::to_string(kMaxAncestorEntries) +
                       " ancestor relations)");
      }
      e->ancestors = std::move(anc);
      color[e] = 2;
      stack.pop_back();
    }
  }
  finalized_ = true;
  return {};
}

const Entity* EntityStore::Find(const EntityUid& uid) const {
  return entities_.Find(&uid);
}

bool EntityStore::HasAncestor(const Entity& e, const EntityUid& ancestor) {
  auto it = std::lower_bound(e.ancestors.begin(), e.ancestors.end(), &ancestor,
                             UidLess);
  return it != e.ancestors.end() && **it == ancestor;
}

Result<std::unique_ptr<EntityStore>> EntityStore::FromJson(
    const json::value& j) {
  auto store = std::make_unique<EntityStore>();
  if (!j.is_array()) return Invalid("entities must be a json array");
  Arena& arena = store->arena_;
  std::size_t index = 0;
  for (const json::value& item : j.get_array()) {
    std::string where = "entity #" + std::to_string(index++);
    if (!item.is_object()) return Invalid(where + ": expected an object");
    const json::object& o = item.get_object();
    const json::value* uid_j = o.if_contains("uid");
    const json::value* attrs_j = o.if_contains("attrs");
    const json::value* parents_j = o.if_contains("parents");
    const json::value* tags_j = o.if_contains("tags");
    if (!uid_j) return Invalid(where + ": missing field `uid`");
    auto uid = UidFromJson(*uid_j, arena, where + " uid");
    if (!uid) return Invalid(uid.error().message);
    where = "entity " + UidToString(**uid);
    if (!attrs_j) return Invalid(where + ": missing field `attrs`");
    if (!parents_j) return Invalid(where + ": missing field `parents`");
    if (!attrs_j->is_object()) {
      return Invalid(where + ": `attrs` must be an object");
    }
    if (!parents_j->is_array()) {
      return Invalid(where + ": `parents` must be an array");
    }
    auto record = [&](const json::object& obj,
                      const char* what) -> Result<const RecordData*> {
      std::vector<RecordEntry> entries;
      for (const auto& [key, value] : obj) {
        auto v =
            ValueFromJson(value, arena, where + " " + what + " " + Quote(key));
        if (!v) return Invalid(v.error().message);
        entries.push_back(RecordEntry{arena.CopyString(key), *v});
      }
      return MakeRecord(arena, entries);
    };
    auto attrs = record(attrs_j->get_object(), "attribute");
    if (!attrs) return attrs.error();
    const RecordData* tags = nullptr;
    if (tags_j) {
      if (!tags_j->is_object()) {
        return Invalid(where + ": `tags` must be an object");
      }
      auto t = record(tags_j->get_object(), "tag");
      if (!t) return t.error();
      tags = *t;
    }
    std::vector<const EntityUid*> parents;
    for (const json::value& p : parents_j->get_array()) {
      auto puid = UidFromJson(p, arena, where + " parent");
      if (!puid) return Invalid(puid.error().message);
      parents.push_back(*puid);
    }
    if (Status s = store->Add(*uid, *attrs, tags, std::move(parents)); !s) {
      return s.error();
    }
  }
  if (Status s = store->Finalize(); !s) return s.error();
  return store;
}

Result<std::unique_ptr<EntityStore>> EntityStore::FromJsonText(
    std::string_view text) {
  auto j = ParseJson(text);
  if (!j) return Invalid(j.error().message);
  return FromJson(*j);
}

}  // namespace tether::policy
