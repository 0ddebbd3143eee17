// Canonical entity ids and refs (DESIGN.md, entity model), applied before
// policy and before forwarding so that one resource has one name:
//  - Repo::"owner/name": lower-cased, a trailing `.git` stripped;
//  - Host::"name": lower-cased, no trailing dot;
//  - refs always full: `main` means `refs/heads/main`.
// Each fails (code "invalid_request") on input that is not a valid name at
// all, rather than guessing.
#ifndef TETHER_CORE_ENTITY_IDS_H_
#define TETHER_CORE_ENTITY_IDS_H_

#include <string>
#include <string_view>

#include "core/result.h"

namespace tether {

Result<std::string> CanonicalRepo(std::string_view repo);
Result<std::string> CanonicalHost(std::string_view host);
// The full ref, checked against git's check-ref-format rules.
Result<std::string> CanonicalRef(std::string_view ref);
// The task id whose namespace refs/heads/agent/<task-id>/ holds `full_ref`,
// or "" when it lies in none.
std::string RefTask(std::string_view full_ref);
// A task id as tether makes them: "t" followed by 24 lower-case hex digits.
bool IsTaskId(std::string_view id);

}  // namespace tether

#endif  // TETHER_CORE_ENTITY_IDS_H_
