// Task-token signing rate next to raw OpenSSL Ed25519 signing of a message
// of the same size, in one process. Prints JSON:
//   {"openssl_per_s": ..., "tether_per_s": ..., "ratio": ..., "bytes": ...}
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/crypto.h"
#include "token/jwt.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double Rate(F&& f, double seconds) {
  // Warm up, then count calls in the window.
  for (int i = 0; i < 200; ++i) f(i);
  auto start = Clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  long n = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 100; ++i) f(static_cast<int>(n + i));
    n += 100;
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::stod(argv[1]) : 3.0;
  auto key = tether::Ed25519Key::Generate();
  if (!key) return 1;
  boost::json::object claims{{"iss", "http://127.0.0.1:8700"},
                             {"aud", "http://127.0.0.1:8700"},
                             {"sub", "repo:acme/api:ref:refs/heads/main"},
                             {"tid", "t0123456789abcdef01234567"},
                             {"jti", "j0123456789abcdef01234567"},
                             {"iat", 1795740000},
                             {"nbf", 1795740000},
                             {"exp", 1795743600}};
  std::string kid = "Wbs08x4fg--YcHgafP7NzTlaJsrG9NoQ2twwGk2TXOk";
  std::string sample =
      *tether::token::SignJwt(claims, *key, kid, "tether-task+jwt");
  std::string message(sample.substr(0, sample.rfind('.')));

  // Raw OpenSSL: one EVP_PKEY, a fresh EVP_MD_CTX per signature.
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  unsigned char sig[64];
  double openssl = Rate(
      [&](int) {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        std::size_t len = sizeof sig;
        EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey);
        EVP_DigestSign(ctx, sig, &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size());
        EVP_MD_CTX_free(ctx);
      },
      seconds);
  std::size_t sink = 0;
  double ours = Rate(
      [&](int i) {
        claims["jti"] = "j" + std::to_string(i);
        sink += tether::token::SignJwt(claims, *key, kid, "tether-task+jwt")
                    ->size();
      },
      seconds);
  EVP_PKEY_free(pkey);
  std::printf(
      "{\"openssl_per_s\": %.0f, \"tether_per_s\": %.0f, \"ratio\": %.3f, "
      "\"bytes\": %zu, \"sink\": %zu}\n",
      openssl, ours, ours / openssl, message.size(), sink % 7);
  return 0;
}
