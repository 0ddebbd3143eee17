#include "broker/keyring.h"

#include <unistd.h>

#include "core/key_file.h"

namespace tether::broker {

std::string Ed25519Thumbprint(std::string_view public_key) {
  // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
  std::string jwk = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" +
                    Base64UrlEncode(public_key) + "\"}";
  Sha256Digest d = Sha256(jwk);
  return Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string SigningKeyring::PathFor(const std::string& kid) const {
  return keys_dir_ + "/token-signing-" + kid + ".pem";
}

Result<std::unique_ptr<SigningKeyring>> SigningKeyring::Open(
    store::StateStore& store, std::string keys_dir, std::int64_t retain_ms,
    std::int64_t now_ms) {
  std::unique_ptr<SigningKeyring> ring(
      new SigningKeyring(store, std::move(keys_dir), retain_ms));
  std::lock_guard lock(ring->mu_);
  auto keys = store.SigningKeys();
  if (!keys) return keys.error();
  bool has_active = false;
  for (const auto& k : *keys) has_active |= k.retired_ms == 0;
  if (!has_active) {
    auto kid = ring->RotateLocked(now_ms);
    if (!kid) return kid.error();
    return ring;
  }
  if (Status s = ring->Reload(now_ms); !s) return s.error();
  return ring;
}

Status SigningKeyring::Reload(std::int64_t now_ms) {
  auto records = store_.SigningKeys();
  if (!records) return records.error();
  auto snap = std::make_shared<Snapshot>();
  token::KeySet set;
  bool found_active = false;
  for (const store::SigningKeyRecord& r : *records) {
    if (r.retired_ms != 0 && r.retired_ms + retain_ms_ < now_ms) {
      // Every token it signed has expired: forget it.
      ::unlink(PathFor(r.kid).c_str());
      if (Status s = store_.DeleteSigningKey(r.kid); !s) return s;
      continue;
    }
    auto pem = ReadKeyFile(PathFor(r.kid));
    if (!pem) return pem.error();
    auto key = Ed25519Key::FromPrivatePem(*pem);
    if (!key) return key.error();
    auto vk = token::Ed25519VerifyKey(r.kid, key->PublicKey());
    if (!vk) return vk.error();
    if (Status s = set.Add(std::move(*vk)); !s) return s;
    if (r.retired_ms == 0) {
      snap->kid = r.kid;
      snap->key = std::move(*key);
      found_active = true;
    }
  }
  if (!found_active) {
    return MakeError("key_error", "no active task-token signing key");
  }
  snap->jwks = set.ToJwks();
  snap->keys = std::make_shared<const token::KeySet>(std::move(set));
  snapshot_.store(std::move(snap));
  return {};
}

Result<std::string> SigningKeyring::Rotate(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return RotateLocked(now_ms);
}

Result<std::string> SigningKeyring::RotateLocked(std::int64_t now_ms) {
  auto key = Ed25519Key::Generate();
  if (!key) return key.error();
  std::string kid = Ed25519Thumbprint(key->PublicKey());
  if (Status s = WriteKeyFile(PathFor(kid), key->PrivatePem()); !s) {
    return s.error();
  }
  if (Status s = store_.InsertSigningKey({kid, now_ms, 0}); !s) {
    return s.error();
  }
  if (Status s = store_.RetireSigningKeysExcept(kid, now_ms); !s) {
    return s.error();
  }
  if (Status s = Reload(now_ms); !s) return s.error();
  return kid;
}

Result<std::string> SigningKeyring::Sign(const boost::json::object& claims,
                                         std::string_view type) const {
  auto snap = snapshot_.load();
  return token::SignJwt(claims, *snap->key, snap->kid, type);
}

std::shared_ptr<const token::KeySet> SigningKeyring::verify_keys() const {
  return snapshot_.load()->keys;
}

std::string SigningKeyring::Jwks() const { return snapshot_.load()->jwks; }

std::string SigningKeyring::active_kid() const { return snapshot_.load()->kid; }

}  // namespace tether::broker
