#include "identity/operator_token.h"

#include <mutex>

#include "core/crypto.h"

namespace tether::identity {
namespace {

constexpr std::string_view kPrefix = "tto_";
constexpr std::size_t kIdLen = 16;
constexpr std::size_t kSecretLen = 43;  // base64url of 32 bytes
constexpr std::size_t kTokenLen = 4 + kIdLen + 1 + kSecretLen;

Error Rejected() {
  return MakeError("identity_rejected", "the operator token is not valid");
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
          c == '.' || c == '@')) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool LooksLikeOperatorToken(std::string_view token) {
  return token.size() == kTokenLen && token.substr(0, 4) == kPrefix &&
         token[4 + kIdLen] == '_';
}

Result<NewOperatorToken> MakeOperatorToken(std::string name, std::string role,
                                           std::vector<std::string> groups,
                                           std::int64_t now_ms) {
  if (!ValidName(name)) {
    return MakeError("invalid_request",
                     "an operator name is 1-64 letters, digits, or - _ . @");
  }
  if (role != "admin" && role != "approver" && role != "auditor") {
    return MakeError("invalid_request",
                     "role must be admin, approver or auditor");
  }
  for (const std::string& g : groups) {
    if (!ValidName(g)) {
      return MakeError("invalid_request",
                       "a group name is 1-64 letters, digits, or - _ . @");
    }
  }
  NewOperatorToken out;
  std::string secret = Base64UrlEncode(RandomBytes(32));
  out.record.id = HexEncode(RandomBytes(kIdLen / 2));
  out.record.name = std::move(name);
  out.record.role = std::move(role);
  out.record.groups = std::move(groups);
  out.record.secret_sha256 = HexEncode(Sha256(secret));
  out.record.created_ms = now_ms;
  out.token = std::string(kPrefix) + out.record.id + "_" + secret;
  return out;
}

void OperatorDirectory::Put(store::OperatorRecord record) {
  std::unique_lock lock(mu_);
  std::string id = record.id;
  by_id_[id] = std::move(record);
}

Result<Principal> OperatorDirectory::Verify(std::string_view token) const {
  if (!LooksLikeOperatorToken(token)) return Rejected();
  std::string_view id = token.substr(4, kIdLen);
  std::string_view secret = token.substr(4 + kIdLen + 1);
  std::string digest = HexEncode(Sha256(secret));
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return Rejected();
  const store::OperatorRecord& op = it->second;
  if (!ConstantTimeEquals(digest, op.secret_sha256)) return Rejected();
  if (op.revoked_ms != 0) return Rejected();
  Principal p;
  p.kind = PrincipalKind::kOperator;
  p.type = "Operator";
  p.id = op.name;
  p.subject = "operator:" + op.name;
  p.issuer = "operator";
  p.role = op.role;
  p.groups = op.groups;
  p.operator_id = op.id;
  boost::json::array groups;
  for (const auto& g : op.groups) groups.emplace_back(g);
  p.attrs["role"] = op.role;
  p.attrs["groups"] = std::move(groups);
  return p;
}

bool OperatorDirectory::HasName(std::string_view name) const {
  std::shared_lock lock(mu_);
  for (const auto& [id, op] : by_id_) {
    if (op.name == name && op.revoked_ms == 0) return true;
  }
  return false;
}

std::size_t OperatorDirectory::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

}  // namespace tether::identity
