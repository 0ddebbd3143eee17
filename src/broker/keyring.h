// tether's task-token signing keys: Ed25519, one active, each named by its
// RFC 7638 thumbprint (`kid`) and kept in <keys>/token-signing-<kid>.pem
// (mode 0600). Created at first start; `Rotate` makes a new key active while
// the retired ones keep verifying until every token they signed has expired
// (max task TTL plus leeway), after which they are dropped.
//
// Thread-safe: signing and verification read an immutable snapshot.
#ifndef TETHER_BROKER_KEYRING_H_
#define TETHER_BROKER_KEYRING_H_

#include <atomic>
#include <boost/json/object.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/crypto.h"
#include "core/result.h"
#include "store/state.h"
#include "token/jwt.h"

namespace tether::broker {

class SigningKeyring {
 public:
  // `retain_ms`: how long a retired key keeps verifying.
  static Result<std::unique_ptr<SigningKeyring>> Open(store::StateStore& store,
                                                      std::string keys_dir,
                                                      std::int64_t retain_ms,
                                                      std::int64_t now_ms);

  Result<std::string> Sign(const boost::json::object& claims,
                           std::string_view type) const;
  std::shared_ptr<const token::KeySet> verify_keys() const;
  std::string Jwks() const;
  std::string active_kid() const;

  // A new active key; returns its kid.
  Result<std::string> Rotate(std::int64_t now_ms);

 private:
  struct Snapshot {
    std::string kid;
    std::optional<Ed25519Key> key;
    std::shared_ptr<const token::KeySet> keys;
    std::string jwks;
  };
  SigningKeyring(store::StateStore& store, std::string keys_dir,
                 std::int64_t retain_ms)
      : store_(store), keys_dir_(std::move(keys_dir)), retain_ms_(retain_ms) {}
  // Callers hold mu_.
  Status Reload(std::int64_t now_ms);
  Result<std::string> RotateLocked(std::int64_t now_ms);
  std::string PathFor(const std::string& kid) const;

  store::StateStore& store_;
  std::string keys_dir_;
  std::int64_t retain_ms_;
  std::mutex mu_;  // serializes Rotate
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

// RFC 7638 JWK thumbprint of an Ed25519 public key.
std::string Ed25519Thumbprint(std::string_view public_key);

}  // namespace tether::broker

#endif  // TETHER_BROKER_KEYRING_H_
