#include "cli/dev_command.h"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "broker/keyring.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/json.h"
#include "core/key_file.h"
#include "core/time.h"
#include "token/jwt.h"

namespace tether::cli {
namespace {

namespace json = boost::json;

int Fail(const std::string& message) {
  std::fprintf(stderr, "tether dev: %s\n", message.c_str());
  return 1;
}

struct IssuerFlags {
  std::string dir;
  std::string issuer;
  std::string audience;
  std::string sub;
  std::vector<std::string> claims;
  std::int64_t ttl = 600;
};

int Init(const IssuerFlags& f) {
  std::error_code ec;
  std::filesystem::create_directories(f.dir, ec);
  if (ec) return Fail("cannot create " + f.dir + ": " + ec.message());
  ::chmod(f.dir.c_str(), 0700);
  std::string key_path = f.dir + "/issuer.pem";
  auto pem = LoadOrCreateKeyFile(key_path, [] {
    auto k = Ed25519Key::Generate();
    return k ? k->PrivatePem() : std::string();
  });
  if (!pem) return Fail(pem.error().message);
  auto key = Ed25519Key::FromPrivatePem(*pem);
  if (!key) return Fail(key.error().message);
  std::string kid = broker::Ed25519Thumbprint(key->PublicKey());
  auto vk = token::Ed25519VerifyKey(kid, key->PublicKey());
  if (!vk) return Fail(vk.error().message);
  token::KeySet set;
  if (Status s = set.Add(std::move(*vk)); !s) return Fail(s.error().message);
  std::string jwks_path = f.dir + "/jwks.json";
  if (Status s = WriteFileAtomically(jwks_path, set.ToJwks() + "\n"); !s) {
    return Fail(s.error().message);
  }
  std::printf("issuer key: %s (mode 0600)\nJWKS:       %s (kid %s)\n",
              key_path.c_str(), jwks_path.c_str(), kid.c_str());
  return 0;
}

int Token(const IssuerFlags& f) {
  auto pem = ReadKeyFile(f.dir + "/issuer.pem");
  if (!pem) return Fail(pem.error().message);
  auto key = Ed25519Key::FromPrivatePem(*pem);
  if (!key) return Fail(key.error().message);
  std::int64_t now = NowMs() / 1000;
  json::object claims{{"iss", f.issuer},
                      {"aud", f.audience},
                      {"sub", f.sub},
                      {"iat", now},
                      {"nbf", now},
                      {"exp", now + f.ttl},
                      {"jti", HexEncode(RandomBytes(12))}};
  for (const std::string& c : f.claims) {
    std::size_t eq = c.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail("--claim takes name=value, got `" + c + "`");
    }
    std::string name = c.substr(0, eq), value = c.substr(eq + 1);
    // JSON values (numbers, booleans, lists) are taken as such.
    auto j = ParseJson(value);
    if (j && !j->is_object()) {
      claims[name] = std::move(*j);
    } else {
      claims[name] = value;
    }
  }
  auto token = token::SignJwt(
      claims, *key, broker::Ed25519Thumbprint(key->PublicKey()), "JWT");
  if (!token) return Fail(token.error().message);
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

void AddDevCommands(CLI::App& app, std::function<int()>& run) {
  CLI::App* dev = app.add_subcommand(
      "dev", "a local test identity issuer (not for production)");
  dev->require_subcommand(1);
  CLI::App* issuer = dev->add_subcommand("issuer", "a local OIDC-style issuer");
  issuer->require_subcommand(1);
  auto f = std::make_shared<IssuerFlags>();
  CLI::App* init = issuer->add_subcommand(
      "init", "create the issuer's key (if absent) and write its JWKS");
  init->add_option("--dir", f->dir, "directory for issuer.pem and jwks.json")
      ->required();
  init->callback([&run, f] { run = [f] { return Init(*f); }; });
  CLI::App* token = issuer->add_subcommand(
      "token", "print an identity token (JWT) signed by the issuer");
  token->add_option("--dir", f->dir, "the issuer's directory")->required();
  token->add_option("--issuer", f->issuer, "the `iss` claim")->required();
  token->add_option("--audience", f->audience, "the `aud` claim")->required();
  token->add_option("--sub", f->sub, "the `sub` claim")->required();
  token->add_option("--claim", f->claims, "name=value (repeatable)");
  token->add_option("--ttl", f->ttl, "seconds until `exp` (default 600)");
  token->callback([&run, f] { run = [f] { return Token(*f); }; });
}

}  // namespace tether::cli
