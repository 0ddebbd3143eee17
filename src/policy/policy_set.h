// A validated, indexed, immutable set of policies.
//
// Built once by PolicySet::Builder from one or more sources (files), then
// shared read-only between threads as shared_ptr<const PolicySet>; reload
// builds a new set and swaps the pointer.
#ifndef TETHER_POLICY_POLICY_SET_H_
#define TETHER_POLICY_POLICY_SET_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/arena.h"
#include "core/flat_map.h"
#include "core/result.h"
#include "policy/ast.h"
#include "policy/entities.h"
#include "policy/parser.h"
#include "policy/request.h"

namespace tether::policy {

// A located error in one source: `file:line:col: message`.
struct SourceDiagnostic {
  std::string file;
  std::size_t line = 0;
  std::size_t column = 0;
  std::string message;
  std::string source_line;  // the line the error is on
  std::size_t caret_width = 1;
};

// "file:line:col: message\n  <line>\n  ^~~~".
std::string FormatDiagnostic(const SourceDiagnostic& d);

class PolicySet {
 public:
  class Builder;

  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  std::span<const Policy> policies() const { return policies_; }
  // The dense evaluation plans, parallel to policies().
  std::span<const PolicyPlan> plans() const { return plans_; }
  std::size_t size() const { return policies_.size(); }
  const std::string& source_name(std::uint32_t source) const {
    return sources_[source];
  }
  // The policy with this id, or null.
  const Policy* Find(std::string_view id) const;

  // Hex SHA-256 identifying the policy text this set was built from: over
  // each source's name and bytes, length-prefixed, in load order. Every
  // decision records it.
  const std::string& sha256() const { return sha256_; }

  // Number of memo slots the shared subexpressions use (see Expr::memo).
  std::size_t memo_slots() const { return memo_slots_; }

  // The request with its principal, action and resource replaced by the
  // set's own objects for the same uids (or types) where it has them, so
  // that scope and literal comparisons are pointer comparisons. Copies go
  // into `arena`. Semantics are unchanged: equality is still by value.
  Request Canonicalize(const Request& request, Arena& arena) const;

  // Appends to `out` the indices (ascending, unique) of the policies whose
  // scope may match `request` (canonicalized): a superset of the matching
  // ones, found through the action/resource index so the cost follows the
  // candidates, not the size of the set. `out` is cleared first.
  void Candidates(const Request& request, const EntityStore& entities,
                  std::vector<std::uint32_t>& out) const;

 private:
  PolicySet() = default;

  struct ContentHash {
    std::size_t operator()(const EntityUid* u) const { return u->hash; }
  };
  struct ContentEq {
    bool operator()(const EntityUid* a, const EntityUid* b) const {
      return *a == *b;
    }
  };
  struct PtrHash {
    std::size_t operator()(const void* p) const {
      return reinterpret_cast<std::uintptr_t>(p) >> 3;
    }
  };
  struct PtrEq {
    bool operator()(const void* a, const void* b) const { return a == b; }
  };
  struct TypeHash {
    std::size_t operator()(std::string_view s) const {
      return static_cast<std::size_t>(HashType(s));
    }
  };
  struct TypeEq {
    bool operator()(std::string_view a, std::string_view b) const {
      return a == b;
    }
  };
  using Bucket = std::vector<std::uint32_t>;
  // Policies constraining the action, by the resource they constrain.
  struct ActionEntry {
    Bucket any_resource;
    std::vector<std::pair<const char*, Bucket>> by_type;  // interned type
    FlatMap<const void*, Bucket, PtrHash, PtrEq> by_resource;
  };

  const EntityUid* Intern(const EntityUid* uid);
  std::string_view InternType(std::string_view type);
  const EntityUid* Lookup(const EntityUid& uid) const;
  void BuildIndex();
  void BuildPlans();
  // Merges structurally identical subexpressions across all conditions and
  // gives the shared ones memo slots, so a request evaluates each once.
  void ShareSubexpressions();

  std::unique_ptr<Arena> arena_;
  std::vector<std::string> sources_;
  std::vector<Policy> policies_;
  std::vector<PolicyPlan> plans_;
  std::unordered_map<std::string_view, std::uint32_t> by_id_;
  // Every uid and type name the policies mention, one object each.
  FlatMap<const EntityUid*, const EntityUid*, ContentHash, ContentEq> uids_;
  FlatMap<std::string_view, std::string_view, TypeHash, TypeEq> types_;
  FlatMap<const void*, ActionEntry, PtrHash, PtrEq> by_action_;
  FlatMap<const void*, Bucket, PtrHash, PtrEq> by_resource_type_;
  Bucket unindexed_;
  std::size_t memo_slots_ = 0;
  std::string sha256_;
};

struct BuildOptions {
  // Every policy must carry a unique `@id` (the server's rule).
  bool require_ids = false;
  ParseLimits limits;
};

class PolicySet::Builder {
 public:
  explicit Builder(BuildOptions options = {});

  // Parses `text` (named `name` in diagnostics) and adds its policies.
  // Returns false if it had errors; they accumulate in diagnostics().
  bool AddSource(std::string name, std::string_view text);

  // Assigns ids (`@id` if present, else `policyN` by load order), validates
  // tether's annotations and builds the index. Fails if any source had
  // errors; diagnostics() has all of them.
  Result<std::shared_ptr<const PolicySet>> Build();

  const std::vector<SourceDiagnostic>& diagnostics() const {
    return diagnostics_;
  }

 private:
  void AddDiagnostic(std::uint32_t source, SourceSpan span,
                     std::string message);

  BuildOptions options_;
  std::unique_ptr<Arena> arena_;
  std::vector<std::string> names_;
  std::vector<std::string> texts_;
  std::vector<Policy> policies_;
  std::vector<SourceDiagnostic> diagnostics_;
};

}  // namespace tether::policy

#endif  // TETHER_POLICY_POLICY_SET_H_
