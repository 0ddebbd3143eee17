#include "proxy/intercept_ca.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>

#include "core/files.h"
#include "core/key_file.h"

namespace tether::proxy {
namespace {

Error CryptoError(const std::string& what) {
  return MakeError("crypto_error", "proxy CA: " + what);
}

EVP_PKEY* NewP256Key() { return EVP_EC_gen("P-256"); }

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr,
                               nullptr) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  return out;
}

bool AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `subject_cn` with `key`'s public half, signed by
// `issuer_key` (self-signed when issuer is null).
X509* MakeCert(EVP_PKEY* key, const std::string& subject_cn, X509* issuer,
               EVP_PKEY* issuer_key, long days, bool ca,
               const std::string& san) {
  X509* cert = X509_new();
  if (!cert) return nullptr;
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -24 * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), days * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tether"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>(subject_cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(signer));
  bool ok = true;
  if (ca) {
    ok = AddExt(cert, signer, NID_basic_constraints,
                "critical,CA:TRUE,pathlen:0") &&
         AddExt(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         AddExt(cert, signer, NID_subject_key_identifier, "hash");
  } else {
    ok = AddExt(cert, signer, NID_basic_constraints, "critical,CA:FALSE") &&
         AddExt(cert, signer, NID_key_usage, "critical,digitalSignature") &&
         AddExt(cert, signer, NID_ext_key_usage, "serverAuth") &&
         AddExt(cert, signer, NID_subject_alt_name, san.c_str()) &&
         AddExt(cert, signer, NID_authority_key_identifier, "keyid:always");
  }
  if (!ok ||
      X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

bool IsIpLiteral(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;
  if (host.empty()) return false;
  for (char c : host) {
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

InterceptCa::~InterceptCa() {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(leaf_key_));
  X509_free(static_cast<X509*>(ca_cert_));
}

Result<std::unique_ptr<InterceptCa>> InterceptCa::LoadOrCreate(
    const std::string& key_path, const std::string& cert_path) {
  std::unique_ptr<InterceptCa> ca(new InterceptCa());
  ca->cert_path_ = cert_path;
  bool created = !std::filesystem::exists(key_path);
  auto key_pem = LoadOrCreateKeyFile(key_path, [] {
    EVP_PKEY* k = NewP256Key();
    std::string pem = k ? KeyPem(k) : std::string();
    EVP_PKEY_free(k);
    return pem;
  });
  if (!key_pem) return key_pem.error();
  BIO* bio =
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) return CryptoError(key_path + " is not a PEM private key");
  ca->ca_key_ = key;
  X509* cert = nullptr;
  if (!created && std::filesystem::exists(ca->cert_path_)) {
    auto pem = ReadFile(ca->cert_path_, 64 * 1024);
    if (!pem) return pem.error();
    BIO* b = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
    cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    if (cert && X509_check_private_key(cert, key) != 1) {
      X509_free(cert);
      cert = nullptr;  // made for another key: make a new one
    }
  }
  if (!cert) {
    cert = MakeCert(key, "tether proxy CA", nullptr, nullptr, 3650, true, "");
    if (!cert) return CryptoError("cannot make the CA certificate");
    if (Status s = WriteFileAtomically(ca->cert_path_, CertPem(cert)); !s) {
      X509_free(cert);
      return s.error();
    }
  }
  ca->ca_cert_ = cert;
  ca->ca_cert_pem_ = CertPem(cert);
  EVP_PKEY* leaf = NewP256Key();
  if (!leaf) return CryptoError("cannot make a leaf key");
  ca->leaf_key_ = leaf;
  ca->leaf_key_pem_ = KeyPem(leaf);
  return ca;
}

Result<std::shared_ptr<const CertifiedKey>> InterceptCa::LeafFor(
    std::string_view host) {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (auto it = leaves_.find(host);
      it != leaves_.end() && now - it->second.at < std::chrono::hours(24 * 7)) {
    return it->second.leaf;
  }
  std::string san = (IsIpLiteral(host) ? "IP:" : "DNS:") + std::string(host);
  X509* cert = MakeCert(static_cast<EVP_PKEY*>(leaf_key_), std::string(host),
                        static_cast<X509*>(ca_cert_),
                        static_cast<EVP_PKEY*>(ca_key_), 30, false, san);
  if (!cert)
    return CryptoError("cannot make a certificate for " + std::string(host));
  auto ck = std::make_shared<CertifiedKey>();
  ck->cert_pem = CertPem(cert) + ca_cert_pem_;
  ck->key_pem = leaf_key_pem_;
  X509_free(cert);
  if (leaves_.size() >= 10'000) leaves_.clear();
  leaves_[std::string(host)] = Minted{ck, now};
  return std::shared_ptr<const CertifiedKey>(ck);
}

}  // namespace tether::proxy
