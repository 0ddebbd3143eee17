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
  std::size_t size() const { return policies_.size(); }
  const std::string& source_name(std::uint32_t source) const {
    return sources_[source];
  }
  // The policy with this id, or null.
  const Policy* Find(std::string_view id) const;

  // Number of memo slots the shared subexpressions use (see Expr::memo).
  std::size_t memo_slots() const { return memo_slots_; }

  // Appends to `out` the indices (ascending, unique) of the policies whose
  // scope may match `request`: a superset of the matching ones, found through
  // the action/resource-type index so the cost follows the candidates, not
  // the size of the set. `out` is cleared first.
  void Candidates(const Request& request, const EntityStore& entities,
                  std::vector<std::uint32_t>& out) const;

 private:
  PolicySet() = default;

  struct IndexKey {
    std::string_view action_type;
    std::string_view action_id;
    std::string_view resource_type;  // empty: any resource type
    std::string_view resource_id;    // empty: any resource of the type
    std::uint64_t hash;
    bool operator==(const IndexKey& o) const {
      return hash == o.hash && action_type == o.action_type &&
             action_id == o.action_id && resource_type == o.resource_type &&
             resource_id == o.resource_id;
    }
  };
  struct IndexKeyHash {
    std::size_t operator()(const IndexKey& k) const { return k.hash; }
  };
  // `resource` is null for "any resource of `resource_type`".
  static IndexKey MakeKey(const EntityUid& action,
                          std::string_view resource_type,
                          std::uint64_t resource_type_hash,
                          const EntityUid* resource);
  void BuildIndex();
  // Merges structurally identical subexpressions across all conditions and
  // gives the shared ones memo slots, so a request evaluates each once.
  void ShareSubexpressions();

  std::unique_ptr<Arena> arena_;
  std::vector<std::string> sources_;
  std::vector<Policy> policies_;
  std::unordered_map<std::string_view, std::uint32_t> by_id_;
  std::unordered_map<IndexKey, std::vector<std::uint32_t>, IndexKeyHash>
      by_action_;
  std::unordered_map<std::string_view, std::vector<std::uint32_t>>
      by_resource_type_;
  std::vector<std::uint32_t> unindexed_;
  std::size_t memo_slots_ = 0;
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
