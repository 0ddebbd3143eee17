// tether's own certificate authority for intercepted tunnels: when an agent
// CONNECTs to a host tether has routes for, tether answers the TLS
// handshake itself with a leaf certificate for that host signed by this CA,
// so it can read, decide and forward each request inside.
//
// The CA is made at first start: an ECDSA P-256 key (a 0600 file) and a
// self-signed certificate valid ten years, which agents are told to trust
// (`tether run` sets SSL_CERT_FILE, GIT_SSL_CAINFO, NODE_EXTRA_CA_CERTS ...).
// Leaf certificates (P-256, 30 days, the host as subjectAltName, serverAuth
// only) are minted on first use per host and cached.
#ifndef TETHER_PROXY_INTERCEPT_CA_H_
#define TETHER_PROXY_INTERCEPT_CA_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tether::proxy {

// A certificate and its key, PEM.
struct CertifiedKey {
  std::string cert_pem;  // the leaf, then the CA
  std::string key_pem;
};

class InterceptCa {
 public:
  // Loads the key (0600; refused if more permissive) and the certificate
  // (public: agents read it), creating both when the key is missing and
  // the certificate when it is missing or made for another key.
  static Result<std::unique_ptr<InterceptCa>> LoadOrCreate(
      const std::string& key_path, const std::string& cert_path);
  ~InterceptCa();
  InterceptCa(const InterceptCa&) = delete;
  InterceptCa& operator=(const InterceptCa&) = delete;

  const std::string& cert_pem() const { return ca_cert_pem_; }
  const std::string& cert_path() const { return cert_path_; }
  // A leaf for `host` (a DNS name or an IP literal). Thread-safe.
  Result<std::shared_ptr<const CertifiedKey>> LeafFor(std::string_view host);

 private:
  InterceptCa() = default;
  std::string cert_path_;
  std::string ca_cert_pem_;
  void* ca_key_ = nullptr;    // EVP_PKEY
  void* ca_cert_ = nullptr;   // X509
  void* leaf_key_ = nullptr;  // EVP_PKEY, shared by the leaves
  std::string leaf_key_pem_;
  std::mutex mu_;
  // Leaves live 30 days; one older than a week is minted again.
  struct Minted {
    std::shared_ptr<const CertifiedKey> leaf;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Minted, std::less<>> leaves_;  // guarded by mu_
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_INTERCEPT_CA_H_
