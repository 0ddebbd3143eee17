// What policy is decided against, loaded together and swapped together on
// reload: the policy set, the action catalog and the resource catalog.
//
// Action catalog (examples/actions.json, docs/quickstart.md): every action a
// request may name, with its groups (parent action entities); an action not
// in it is denied. Resource catalog: the resource types a request may name,
// which of them are open to caller-supplied attributes, and Cedar entity JSON
// with the attributes and parents tether knows for particular resources.
#ifndef TETHER_BROKER_CATALOG_H_
#define TETHER_BROKER_CATALOG_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "core/config.h"
#include "core/result.h"
#include "policy/entities.h"
#include "policy/policy_set.h"

namespace tether::broker {

class ActionCatalog {
 public:
  // {"groups": {"write": {"groups": []}, ...},
  //  "actions": {"git.push": {"groups": ["write", "git"],
  //                           "description": "..."}, ...}}
  // Groups must be declared; group cycles are refused. Error code
  // "invalid_catalog", with `name:line:col` for JSON errors.
  static Result<std::unique_ptr<ActionCatalog>> Parse(std::string_view text,
                                                      const std::string& name);
  static Result<std::unique_ptr<ActionCatalog>> Load(const std::string& path);

  bool Has(std::string_view action) const;
  // The action's uid (owned by the catalog), or null.
  const policy::EntityUid* Uid(std::string_view action) const;
  // Adds the action's entity and its groups (transitively) to `store`.
  Status AddEntities(std::string_view action, policy::EntityStore& store) const;
  std::vector<std::string> Names() const;

 private:
  struct Node {
    const policy::EntityUid* uid = nullptr;
    std::vector<const policy::EntityUid*> parents;
    std::vector<std::string> parent_names;
  };
  ActionCatalog() = default;
  Arena arena_;
  std::map<std::string, Node, std::less<>> actions_;
  std::map<std::string, Node, std::less<>> groups_;
};

class ResourceCatalog {
 public:
  static Result<std::unique_ptr<ResourceCatalog>> Load(
      const ResourcesConfig& config);

  bool KnownType(std::string_view type) const;
  bool OpenType(std::string_view type) const;
  // The catalog's entity for `uid`, or null.
  const policy::Entity* Find(const policy::EntityUid& uid) const;

 private:
  ResourceCatalog() = default;
  std::set<std::string, std::less<>> types_, open_types_;
  std::unique_ptr<policy::EntityStore> entities_;
};

struct PolicyBundle {
  std::shared_ptr<const policy::PolicySet> policies;
  std::shared_ptr<const ActionCatalog> actions;
  std::shared_ptr<const ResourceCatalog> resources;
  // The source text of each `@approval` policy, by id: approvers read the
  // rule that holds the request.
  std::map<std::string, std::string, std::less<>> approval_text;
  std::int64_t loaded_ms = 0;
};

// Loads the configured policies (every one with a unique @id) and catalogs.
// Error code "invalid_policy" or "invalid_catalog"; the message lists every
// diagnostic, one per line, as file:line:col.
Result<std::shared_ptr<const PolicyBundle>> LoadPolicyBundle(
    const Config& config);

}  // namespace tether::broker

#endif  // TETHER_BROKER_CATALOG_H_
