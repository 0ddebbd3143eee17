// The store of upstream credentials: the real tokens and passwords tether
// injects into requests it has allowed, so that the agent never holds them.
//
// Each secret is encrypted at rest with AES-256-GCM under the secrets master
// key (a 0600 key file), in the `secrets` table of tether.db. The metadata
// says where the value may go (bindings: host and optional path prefix) and
// how it is sent (format). The additional authenticated data of the
// ciphertext covers the name, the version and that metadata: a ciphertext
// moved to another row, paired with another version, or re-bound to another
// host or header by someone who can write the database does not decrypt
// (code "secret_corrupt"). What AAD cannot catch is a whole row restored
// from an older copy of the database: that takes a record kept elsewhere,
// such as the version in the audit event of each put.
//
// Values leave the store only through Get(), Value() and AllValues(); List()
// and Meta() never carry one. Error codes: invalid_request (a name, value,
// binding or format field refused; the message never contains the value),
// not_found, secret_corrupt, invalid_key (the master key file does not hold
// a key, or a secret was written under another key), insecure_key_file and
// io_error (from core/key_file.h), crypto_error, and the store_* codes of
// store/sqlite.h.
#ifndef TETHER_SECRETS_SECRET_STORE_H_
#define TETHER_SECRETS_SECRET_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "store/sqlite.h"

namespace tether::secrets {

// Where a secret may be injected. `host` is canonical (lower-case, no
// trailing dot), or "*." followed by one, which matches strict subdomains
// at any depth (not the name itself). `path_prefix` is empty (any path) or a
// normalized path starting with '/' that matches whole segments.
struct Binding {
  std::string host;
  std::string path_prefix;

  bool operator==(const Binding&) const = default;
};

// How the value is sent upstream (see InjectionHeader).
enum class Format { kBearer, kBasic, kHeader };

struct SecretMeta {
  std::string name;  // [A-Za-z0-9._-]{1,128}, case-sensitive
  Format format = Format::kBearer;
  std::string basic_user;   // kBasic only; may be empty
  std::string header_name;  // kHeader only
  std::vector<Binding> bindings;
  // Set by the store: when it was first put and by whom (the audit log says
  // who put each later version), when it was last put, and the version,
  // which counts puts under this name from 1.
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::string created_by;
  int version = 0;
};

struct Secret {
  SecretMeta meta;
  std::string value;
};

// Limits on what Put() accepts.
inline constexpr std::size_t kMaxNameBytes = 128;
inline constexpr std::size_t kMaxValueBytes = 64 * 1024;
inline constexpr std::size_t kMaxBindings = 64;
inline constexpr std::size_t kMaxPathPrefixBytes = 1024;

// The master key's path for `config`: [secrets] key_file, else
// <keys dir>/secrets.key ([keys] dir, else <data_dir>/keys).
std::string KeyPath(const Config& config);

// Thread-safe: one database connection behind a mutex. Other connections to
// tether.db (the state store's) may be open at the same time.
class SecretStore {
 public:
  // Opens tether.db at `db_path` (creating it and the `secrets` table) and
  // the master key at `key_path`: 32 random bytes as 64 hex digits, created
  // with mode 0600 on first use; a file readable by anyone but its owner is
  // refused.
  static Result<std::unique_ptr<SecretStore>> Open(const std::string& db_path,
                                                   const std::string& key_path);
  ~SecretStore();
  SecretStore(const SecretStore&) = delete;
  SecretStore& operator=(const SecretStore&) = delete;

  // Validates `meta` and `value`, then stores the value encrypted (a fresh
  // nonce each time). Hosts are canonicalized, trailing slashes dropped from
  // path prefixes and duplicate bindings merged. Overwriting a name bumps its
  // version and keeps created_ms and created_by; meta's version and times
  // are ignored. Durable when it returns. Returns the metadata as stored.
  //
  // The value must be 1 .. kMaxValueBytes bytes without control characters
  // other than tab (it travels in a header); for kBearer and kHeader it may
  // not begin or end with a space or tab, which HTTP would strip.
  Result<SecretMeta> Put(SecretMeta meta, std::string_view value,
                         std::int64_t now_ms);

  // Sorted by name; values are never read.
  Result<std::vector<SecretMeta>> List();
  Result<std::optional<SecretMeta>> Meta(std::string_view name);
  // Fails with not_found if there is no such secret.
  Status Delete(std::string_view name);

  // The metadata and value from one row, verified together. Meta() and
  // List() read the row without decrypting, so a binding changed in the
  // database shows there; the proxy decides from Get(), whose metadata is
  // covered by the tag. Nullopt if there is no such secret.
  Result<std::optional<Secret>> Get(std::string_view name);
  // Get(name)'s value; not_found if there is none.
  Result<std::string> Value(std::string_view name);
  // Every string that must never be written to the audit log, for the
  // redactor at start and after every Put: each value, and for kBasic the
  // base64 credential sent upstream. Fails if any secret does not decrypt.
  Result<std::vector<std::string>> AllValues();

 private:
  SecretStore(std::unique_ptr<store::SqliteDb> db, std::string key)
      : db_(std::move(db)), key_(std::move(key)) {}

  std::mutex mu_;
  std::unique_ptr<store::SqliteDb> db_;  // guarded by mu_
  std::string key_;  // 32 bytes; never changed, wiped on destruction
};

// Whether `meta` may be injected into a request to `host` (canonical) at
// `path` (normalized, without query): true if one binding matches the host
// (exactly, or as a strict subdomain of a "*." binding; ASCII
// case-insensitive) and its path prefix (empty, equal to the path, or the
// path continues it with '/'; case-sensitive). When a binding has a prefix,
// a path that is not plainly normalized (dot segments, empty ones but a
// trailing slash, a query or fragment, backslashes, percent-encoded '.', '/'
// or '\') matches nothing: upstream might resolve it outside the prefix.
// Every path proxy::NormalizeTarget produces is plain. Pure; for the proxy.
bool BindingAllows(const SecretMeta& meta, std::string_view host,
                   std::string_view path);

// The header to send upstream: {"Authorization", "Bearer <value>"},
// {"Authorization", "Basic <base64(user:value)>"} (RFC 4648 base64 with
// padding), or {header_name, value}.
std::pair<std::string, std::string> InjectionHeader(const SecretMeta& meta,
                                                    std::string_view value);

// Whether a request header named `name` (any case) may carry a credential
// and so is removed before one is injected: the agent's own credential
// (its task token, or a token it should not have) must not reach the
// upstream next to, or instead of, the injected one. The names are
// Authorization, Proxy-Authorization, X-Api-Key, Api-Key, X-Auth-Token,
// X-Access-Token, Private-Token, Job-Token, Deploy-Token, X-Goog-Api-Key,
// X-Amz-Security-Token, X-Vault-Token, X-Registry-Auth,
// Ocp-Apim-Subscription-Key, and `meta`'s header_name when `meta` is not
// null. Cookie is not among them: tether injects no cookies.
bool IsCredentialHeader(std::string_view name, const SecretMeta* meta);

std::string_view FormatName(Format f);  // "bearer" | "basic" | "header"
// The inverse of FormatName (code invalid_request for anything else).
Result<Format> ParseFormat(std::string_view name);

}  // namespace tether::secrets

#endif  // TETHER_SECRETS_SECRET_STORE_H_
