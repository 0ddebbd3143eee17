// Cryptographic primitives on OpenSSL 3: SHA-256, HMAC-SHA256, Ed25519,
// secure random bytes, constant-time comparison, hex and base64url.
//
// Every function is thread-safe. Keys are held in OpenSSL objects and never
// printed; errors name the operation, never key material.
#ifndef TETHER_CORE_CRYPTO_H_
#define TETHER_CORE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tether {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);

// Incremental SHA-256.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);
  Sha256Digest Final();  // the hasher can be reused after Final()

 private:
  void* ctx_;  // EVP_MD_CTX
};

Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// `n` bytes from the operating system's CSPRNG (via OpenSSL).
std::string RandomBytes(std::size_t n);

// Compares in time independent of where the inputs differ (not of length).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

std::string HexEncode(std::string_view bytes);
std::string HexEncode(const Sha256Digest& digest);
// Lower- or upper-case hex; fails on odd length or non-hex characters.
Result<std::string> HexDecode(std::string_view hex);

// RFC 4648 §5 without padding.
std::string Base64UrlEncode(std::string_view bytes);
// Strict: rejects padding, characters outside the alphabet and
// non-canonical trailing bits.
Result<std::string> Base64UrlDecode(std::string_view text);

// An Ed25519 private key.
class Ed25519Key {
 public:
  static Result<Ed25519Key> Generate();
  // PKCS#8 PEM, as written by PrivatePem().
  static Result<Ed25519Key> FromPrivatePem(std::string_view pem);

  std::string PrivatePem() const;
  // The 32-byte public key.
  std::string PublicKey() const;
  // The 64-byte signature of `data`.
  std::string Sign(std::string_view data) const;

 private:
  struct Deleter {
    void operator()(void* p) const;
  };
  Ed25519Key() = default;
  std::shared_ptr<void> pkey_;  // EVP_PKEY, immutable once made
};

// Verifies a 64-byte Ed25519 signature with a 32-byte public key.
bool Ed25519Verify(std::string_view public_key, std::string_view data,
                   std::string_view signature);

}  // namespace tether

#endif  // TETHER_CORE_CRYPTO_H_
