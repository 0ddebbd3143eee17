// The entity store: entities with attributes, tags and parents, and the
// transitive closure of the parent relation that `in` consults.
//
// Built once (from Cedar's entity JSON or through Add), then Finalize()d;
// a finalized store is immutable and safe to share between threads.
#ifndef TETHER_POLICY_ENTITIES_H_
#define TETHER_POLICY_ENTITIES_H_

#include <boost/json/value.hpp>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "core/flat_map.h"
#include "core/result.h"
#include "policy/value.h"

namespace tether::policy {

struct Entity {
  const EntityUid* uid = nullptr;
  const RecordData* attrs = nullptr;  // never null once added
  const RecordData* tags = nullptr;   // never null once added
  std::vector<const EntityUid*> parents;
  // Transitive ancestors, sorted by (hash, type, id) for binary search.
  std::vector<const EntityUid*> ancestors;
};

class EntityStore {
 public:
  EntityStore() = default;
  EntityStore(const EntityStore&) = delete;
  EntityStore& operator=(const EntityStore&) = delete;

  // Parses Cedar's entity JSON: an array of
  // {"uid": ..., "attrs": {...}, "parents": [...], "tags": {...}}.
  // `attrs` and `parents` are required; `tags` is optional. The result is
  // finalized. Error code "invalid_entities".
  static Result<std::unique_ptr<EntityStore>> FromJson(
      const boost::json::value& j);
  static Result<std::unique_ptr<EntityStore>> FromJsonText(
      std::string_view text);

  // Memory for uids and values passed to Add (copy into it, or use values
  // whose data outlives the store).
  Arena& arena() { return arena_; }

  // Adds an entity. A uid already present is accepted only if the new entity
  // is identical (as Cedar does). Must precede Finalize().
  Status Add(const EntityUid* uid, const RecordData* attrs,
             const RecordData* tags, std::vector<const EntityUid*> parents);

  // Computes ancestors; rejects parent cycles and action entities with a
  // non-action parent.
  Status Finalize();

  // The entity with this uid, or null.
  const Entity* Find(const EntityUid& uid) const;
  // True if `ancestor` is a (transitive) parent of `e`.
  static bool HasAncestor(const Entity& e, const EntityUid& ancestor);

  std::size_t size() const { return entities_.size(); }

 private:
  struct UidHash {
    std::size_t operator()(const EntityUid* u) const { return u->hash; }
  };
  struct UidEq {
    bool operator()(const EntityUid* a, const EntityUid* b) const {
      return *a == *b;
    }
  };

  Arena arena_;
  FlatMap<const EntityUid*, Entity, UidHash, UidEq> entities_;
  bool finalized_ = false;
};

// True if the entity type is an action type (`Action` or `Ns::Action`).
bool IsActionType(std::string_view type);

}  // namespace tether::policy

#endif  // TETHER_POLICY_ENTITIES_H_
