// Operator API tokens, for humans and the CLI: `tto_<id>_<secret>`, where
// <id> is 16 hex digits naming the stored record and <secret> 32 random bytes
// in base64url. Only SHA-256(secret) is stored; a token is shown once, when
// created. Verification looks the record up by id and compares the digest in
// constant time.
#ifndef TETHER_IDENTITY_OPERATOR_TOKEN_H_
#define TETHER_IDENTITY_OPERATOR_TOKEN_H_

#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "core/result.h"
#include "identity/principal.h"
#include "store/state.h"

namespace tether::identity {

struct NewOperatorToken {
  std::string token;  // shown once
  store::OperatorRecord record;
};

// Validates name, role and groups (code "invalid_request").
Result<NewOperatorToken> MakeOperatorToken(std::string name, std::string role,
                                           std::vector<std::string> groups,
                                           std::int64_t now_ms);

// True if `token` has the operator-token shape (not whether it is valid).
bool LooksLikeOperatorToken(std::string_view token);

// The operators known to this server. Thread-safe.
class OperatorDirectory {
 public:
  void Put(store::OperatorRecord record);
  // Code "identity_rejected" for any mismatch.
  Result<Principal> Verify(std::string_view token) const;
  bool HasName(std::string_view name) const;
  std::size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, store::OperatorRecord, std::less<>> by_id_;
};

}  // namespace tether::identity

#endif  // TETHER_IDENTITY_OPERATOR_TOKEN_H_
