#include "secrets/secret_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <climits>

#include "core/crypto.h"
#include "core/entity_ids.h"
#include "core/json.h"
#include "core/key_file.h"
#include "core/text.h"

namespace tether::secrets {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxUserBytes = 256;
constexpr std::size_t kMaxHeaderNameBytes = 64;
constexpr std::size_t kMaxCreatedByBytes = 256;

// tether.db's PRAGMA user_version belongs to the state store's migrations
// (store/state.cc); the secrets table keeps its own schema version in
// secrets_schema, so that neither sequence needs to know about the other.
const store::Migration kMigrations[] = {
    {1, "secrets", R"sql(
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  format TEXT NOT NULL CHECK (format IN ('bearer', 'basic', 'header')),
  basic_user TEXT NOT NULL,
  header_name TEXT NOT NULL,
  bindings TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  sealed BLOB NOT NULL
);
)sql"},
};

constexpr const char* kMetaColumns =
    "name, format, basic_user, header_name, bindings, created_ms, updated_ms, "
    "created_by, version, key_id";

Error Invalid(std::string message) {
  return MakeError("invalid_request", std::move(message));
}

Error Corrupt(std::string_view name, std::string_view what) {
  return MakeError("secret_corrupt",
                   "secret " + Quote(name) + " " + std::string(what));
}

// Rolls back unless committed: every early return leaves no transaction.
class Transaction {
 public:
  explicit Transaction(store::SqliteDb& db) : db_(db) {}
  ~Transaction() {
    if (open_) (void)db_.Exec("ROLLBACK");
  }
  Status Begin() {
    if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s) return s;
    open_ = true;
    return {};
  }
  Status Commit() {
    Status s = db_.Exec("COMMIT");
    if (s) open_ = false;
    return s;
  }

 private:
  store::SqliteDb& db_;
  bool open_ = false;
};

Status MigrateSecretsSchema(store::SqliteDb& db) {
  Transaction txn(db);
  if (Status s = txn.Begin(); !s) return s;
  // Read inside the write transaction: two processes opening a new database
  // at once must not both apply migration 1.
  if (Status s = db.Exec("CREATE TABLE IF NOT EXISTS secrets_schema "
                         "(version INTEGER NOT NULL)");
      !s) {
    return s;
  }
  auto version =
      db.QueryInt("SELECT coalesce(max(version), 0) FROM secrets_schema");
  if (!version) return version.error();
  int latest = static_cast<int>(std::size(kMigrations));
  if (*version > latest) {
    return MakeError("store_error", "the secrets table in `" + db.path() +
                                        "` has schema version " +
                                        std::to_string(*version) +
                                        ", newer than this tether knows (" +
                                        std::to_string(latest) + ")");
  }
  if (*version == latest) return txn.Commit();
  for (const store::Migration& m : kMigrations) {
    if (m.version <= *version) continue;
    if (Status s = db.Exec(m.sql); !s) {
      return MakeError(s.error().code, std::string("secrets migration ") +
                                           std::to_string(m.version) + " (" +
                                           m.description +
                                           ") failed: " + s.error().message);
    }
  }
  if (Status s = db.Exec("DELETE FROM secrets_schema; INSERT INTO "
                         "secrets_schema (version) VALUES (" +
                         std::to_string(latest) + ")");
      !s) {
    return s;
  }
  return txn.Commit();
}

char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IsControl(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// RFC 9110 tchar.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name == "." ||
      name == "..") {
    return Invalid("a secret name is 1 to 128 characters, not `.` or `..`");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return Invalid("secret name " + Quote(name) +
                     " may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return {};
}

// The message never quotes the value.
Status ValidateValue(Format format, std::string_view value) {
  if (value.empty()) return Invalid("the secret value is empty");
  if (value.size() > kMaxValueBytes) {
    return Invalid("the secret value is longer than " +
                   std::to_string(kMaxValueBytes) + " bytes");
  }
  for (char c : value) {
    if (IsControl(c) && c != '\t') {
      return Invalid(
          "the secret value contains a control character (a line break, "
          "NUL ...); it is sent in an HTTP header");
    }
  }
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  if (format != Format::kBasic && (blank(value.front()) || blank(value.back())))
    return Invalid(
        "the secret value begins or ends with a space or tab, which HTTP "
        "would strip from the header");
  return {};
}

// Headers that frame or route the request, hop-by-hop headers a proxy
// drops or rewrites, and Cookie, which stays the agent's: a credential sent
// in one would be lost, break the request's framing, or mix with what the
// agent sent.
bool IsReservedHeader(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "host",
      "content-length",
      "transfer-encoding",
      "connection",
      "keep-alive",
      "proxy-connection",
      "upgrade",
      "te",
      "trailer",
      "expect",
      "content-type",
      "content-encoding",
      "cookie",
      "set-cookie",
      "proxy-authorization",
      "forwarded",
      "x-forwarded-for",
      "x-forwarded-host",
      "x-forwarded-proto",
      "via",
  };
  for (std::string_view r : kReserved) {
    if (EqualsIgnoreCase(name, r)) return true;
  }
  return false;
}

Status ValidateFormatFields(const SecretMeta& meta) {
  if (meta.format != Format::kBasic && !meta.basic_user.empty())
    return Invalid("basic_user is only for the basic format");
  if (meta.format != Format::kHeader && !meta.header_name.empty())
    return Invalid("header_name is only for the header format");
  if (meta.format == Format::kBasic) {
    if (meta.basic_user.size() > kMaxUserBytes)
      return Invalid("basic_user is longer than 256 bytes");
    for (char c : meta.basic_user) {
      // RFC 7617: the user-id cannot contain a colon or control characters.
      if (c == ':' || IsControl(c))
        return Invalid("basic_user may not contain ':' or control characters");
    }
  }
  if (meta.format == Format::kHeader) {
    const std::string& h = meta.header_name;
    if (h.empty() || h.size() > kMaxHeaderNameBytes ||
        !std::all_of(h.begin(), h.end(), IsTokenChar)) {
      return Invalid("header_name " + Quote(h) +
                     " is not an HTTP header name of 1 to 64 characters");
    }
    if (IsReservedHeader(h)) {
      return Invalid("header_name " + Quote(h) +
                     " is reserved; a credential cannot be sent in it");
    }
  }
  return {};
}

Result<std::string> CanonicalBindingHost(std::string_view host) {
  bool wildcard = host.starts_with("*.");
  std::string_view rest = wildcard ? host.substr(2) : host;
  auto canonical = CanonicalHost(rest);
  if (!canonical) {
    return Invalid("binding host " + Quote(host) +
                   " is not a host name (a wildcard is allowed only as a "
                   "leading `*.`)");
  }
  if (!wildcard) return std::move(*canonical);
  // "*.com" would hand the credential to every .com host.
  if (canonical->find('.') == std::string::npos) {
    return Invalid("binding host " + Quote(host) +
                   " is too broad: a wildcard needs at least two labels "
                   "after `*.`");
  }
  return "*." + *canonical;
}

bool IsPathPrefixChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9')) {
    return true;
  }
  // RFC 3986 pchar and '/', less '%' (an encoded character would compare
  // unequal to its decoded form) and '*' (which reads like a glob).
  return std::string_view("-._~!$&'()+,;=:@/").find(c) !=
         std::string_view::npos;
}

// True if every segment of `path` (which starts with '/') is non-empty and
// neither "." nor "..".
bool SegmentsClean(std::string_view path) {
  std::size_t start = 1;
  while (true) {
    std::size_t slash = path.find('/', start);
    std::string_view seg = path.substr(start, slash == std::string_view::npos
                                                  ? std::string_view::npos
                                                  : slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

Result<std::string> CanonicalPathPrefix(std::string_view prefix) {
  if (prefix.empty()) return std::string();
  std::string shown = Quote(prefix);
  if (prefix.front() != '/')
    return Invalid("path prefix " + shown + " must start with '/'");
  if (prefix.size() > kMaxPathPrefixBytes)
    return Invalid("a path prefix is at most 1024 characters");
  if (!std::all_of(prefix.begin(), prefix.end(), IsPathPrefixChar)) {
    return Invalid("path prefix " + shown +
                   " may contain only letters, digits, '/' and "
                   "-._~!$&'()+,;=:@ (no wildcards or percent-encoding)");
  }
  std::string p(prefix);
  if (p.back() == '/') p.pop_back();  // "/repos/acme/" means "/repos/acme"
  if (!p.empty() && !SegmentsClean(p)) {
    return Invalid("path prefix " + shown +
                   " has an empty, `.` or `..` segment");
  }
  return p;
}

Status ValidateAndCanonicalize(SecretMeta& meta, std::string_view value) {
  if (Status s = ValidateName(meta.name); !s) return s;
  if (Status s = ValidateFormatFields(meta); !s) return s;
  if (Status s = ValidateValue(meta.format, value); !s) return s;
  if (meta.created_by.size() > kMaxCreatedByBytes ||
      std::any_of(meta.created_by.begin(), meta.created_by.end(), IsControl)) {
    return Invalid(
        "created_by is at most 256 characters without control characters");
  }
  if (meta.bindings.empty()) {
    return Invalid("secret " + Quote(meta.name) +
                   " needs at least one binding (a host it may be sent to)");
  }
  if (meta.bindings.size() > kMaxBindings)
    return Invalid("a secret has at most 64 bindings");
  std::vector<Binding> canonical;
  for (const Binding& b : meta.bindings) {
    auto host = CanonicalBindingHost(b.host);
    if (!host) return host.error();
    auto prefix = CanonicalPathPrefix(b.path_prefix);
    if (!prefix) return prefix.error();
    Binding c{std::move(*host), std::move(*prefix)};
    if (std::find(canonical.begin(), canonical.end(), c) == canonical.end())
      canonical.push_back(std::move(c));
  }
  meta.bindings = std::move(canonical);
  return {};
}

std::string BindingsToJson(const std::vector<Binding>& bindings) {
  boost::json::array a;
  for (const Binding& b : bindings) {
    a.push_back(
        boost::json::object{{"host", b.host}, {"path_prefix", b.path_prefix}});
  }
  return SerializeJson(a);
}

std::optional<std::vector<Binding>> BindingsFromJson(std::string_view text) {
  auto j = ParseJson(text);
  if (!j || !j->is_array()) return std::nullopt;
  std::vector<Binding> out;
  for (const auto& v : j->get_array()) {
    const auto* o = v.if_object();
    if (!o) return std::nullopt;
    const auto* host = o->if_contains("host");
    const auto* prefix = o->if_contains("path_prefix");
    if (!host || !host->is_string() || !prefix || !prefix->is_string())
      return std::nullopt;
    out.push_back(Binding{std::string(host->get_string()),
                          std::string(prefix->get_string())});
  }
  return out;
}

void AppendField(std::string& out, std::string_view field) {
  std::uint32_t n = static_cast<std::uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(field);
}

// The additional authenticated data: everything that decides where and how
// the value is sent, length-prefixed so that no two metas encode alike.
std::string Aad(const SecretMeta& meta) {
  std::string aad = "tether secret v1";
  AppendField(aad, meta.name);
  AppendField(aad, std::to_string(meta.version));
  AppendField(aad, FormatName(meta.format));
  AppendField(aad, meta.basic_user);
  AppendField(aad, meta.header_name);
  AppendField(aad, std::to_string(meta.bindings.size()));
  for (const Binding& b : meta.bindings) {
    AppendField(aad, b.host);
    AppendField(aad, b.path_prefix);
  }
  return aad;
}

// Names the master key without revealing it, so that a secret written under
// another key is reported as such rather than as tampering.
std::string KeyId(std::string_view key) {
  Sha256Digest d = HmacSha256(key, "tether secrets key id");
  return HexEncode(
      std::string_view(reinterpret_cast<const char*>(d.data()), 8));
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// nonce | ciphertext | tag.
Result<std::string> Seal(std::string_view key, std::string_view aad,
                         std::string_view plaintext) {
  std::string nonce = RandomBytes(kNonceBytes);
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  std::copy(nonce.begin(), nonce.end(), out.begin());
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + kNonceBytes);
  CipherCtx c;
  int len = 0;
  int total = 0;
  bool ok = c.ctx &&
            EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr,
                               nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes,
                                nullptr) == 1 &&
            EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, Bytes(key),
                               Bytes(nonce)) == 1 &&
            EVP_EncryptUpdate(c.ctx, nullptr, &len, Bytes(aad),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(c.ctx, ct, &len, Bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(c.ctx, ct + total, &len) == 1;
  total += len;
  ok = ok && static_cast<std::size_t>(total) == plaintext.size() &&
       EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes,
                           ct + total) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return MakeError("crypto_error", "aes-256-gcm encryption failed");
  }
  return out;
}

// The plaintext, or nullopt if `sealed` is malformed or its tag does not
// verify under `key` and `aad`.
std::optional<std::string> Unseal(std::string_view key, std::string_view aad,
                                  std::string_view sealed) {
  if (sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  std::string_view nonce = sealed.substr(0, kNonceBytes);
  std::string_view ct =
      sealed.substr(kNonceBytes, sealed.size() - kNonceBytes - kTagBytes);
  std::string tag(sealed.substr(sealed.size() - kTagBytes));
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  CipherCtx c;
  int len = 0;
  int total = 0;
  bool ok = c.ctx &&
            EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, nullptr,
                               nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes,
                                nullptr) == 1 &&
            EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, Bytes(key),
                               Bytes(nonce)) == 1 &&
            EVP_DecryptUpdate(c.ctx, nullptr, &len, Bytes(aad),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(c.ctx, pt, &len, Bytes(ct),
                              static_cast<int>(ct.size())) == 1;
  total = len;
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes,
                           tag.data()) == 1 &&
       EVP_DecryptFinal_ex(c.ctx, pt + total, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return std::nullopt;
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          Bytes(bytes), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// A row read with kMetaColumns (and possibly more after them).
Result<SecretMeta> ReadMeta(const store::Statement& s) {
  SecretMeta m;
  m.name = std::string(s.ColumnText(0));
  auto format = ParseFormat(s.ColumnText(1));
  auto bindings = BindingsFromJson(s.ColumnText(4));
  if (!format || !bindings) return Corrupt(m.name, "has unreadable metadata");
  m.format = *format;
  m.basic_user = std::string(s.ColumnText(2));
  m.header_name = std::string(s.ColumnText(3));
  m.bindings = std::move(*bindings);
  m.created_ms = s.ColumnInt(5);
  m.updated_ms = s.ColumnInt(6);
  m.created_by = std::string(s.ColumnText(7));
  std::int64_t version = s.ColumnInt(8);
  if (version < 1 || version > INT_MAX)
    return Corrupt(m.name, "has an invalid version");
  m.version = static_cast<int>(version);
  return m;
}

}  // namespace

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kBearer:
      return "bearer";
    case Format::kBasic:
      return "basic";
    case Format::kHeader:
      return "header";
  }
  return "bearer";
}

Result<Format> ParseFormat(std::string_view name) {
  for (Format f : {Format::kBearer, Format::kBasic, Format::kHeader}) {
    if (name == FormatName(f)) return f;
  }
  return Invalid("secret format " + Quote(name) +
                 " is not one of bearer, basic, header");
}

std::string KeyPath(const Config& config) {
  if (!config.secrets.key_file.empty()) return config.secrets.key_file;
  std::string dir =
      config.keys.dir.empty() ? config.data_dir + "/keys" : config.keys.dir;
  return dir + "/secrets.key";
}

Result<std::unique_ptr<SecretStore>> SecretStore::Open(
    const std::string& db_path, const std::string& key_path) {
  auto text = LoadOrCreateKeyFile(
      key_path, [] { return HexEncode(RandomBytes(kKeyBytes)) + "\n"; });
  if (!text) return text.error();
  std::string hex = std::move(*text);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r'))
    hex.pop_back();
  auto key = HexDecode(hex);
  OPENSSL_cleanse(hex.data(), hex.size());
  if (!key || key->size() != kKeyBytes) {
    if (key) OPENSSL_cleanse(key->data(), key->size());
    return MakeError("invalid_key", "`" + key_path +
                                        "` must hold a 32-byte key as 64 hex "
                                        "digits");
  }
  auto db = store::SqliteDb::Open(db_path, {});
  if (!db) {
    OPENSSL_cleanse(key->data(), key->size());
    return db.error();
  }
  std::unique_ptr<SecretStore> secrets(
      new SecretStore(std::move(*db), std::move(*key)));
  // Zero the pages a deleted or overwritten secret leaves behind.
  if (Status s = secrets->db_->Exec("PRAGMA secure_delete=ON"); !s)
    return s.error();
  if (Status s = MigrateSecretsSchema(*secrets->db_); !s) return s.error();
  return secrets;
}

SecretStore::~SecretStore() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<SecretMeta> SecretStore::Put(SecretMeta meta, std::string_view value,
                                    std::int64_t now_ms) {
  if (Status s = ValidateAndCanonicalize(meta, value); !s) return s.error();
  std::lock_guard lock(mu_);
  Transaction txn(*db_);
  if (Status s = txn.Begin(); !s) return s.error();
  auto prev = db_->Prepare(
      "SELECT version, created_ms, created_by FROM secrets WHERE name = ?");
  if (!prev) return prev.error();
  prev->Bind(1, meta.name);
  auto row = prev->Step();
  if (!row) return row.error();
  meta.version = 1;
  meta.created_ms = now_ms;
  if (*row) {
    std::int64_t version = prev->ColumnInt(0);
    if (version < 1 || version >= INT_MAX)
      return Corrupt(meta.name, "has an invalid version");
    meta.version = static_cast<int>(version) + 1;
    meta.created_ms = prev->ColumnInt(1);
    meta.created_by = std::string(prev->ColumnText(2));
  }
  meta.updated_ms = now_ms;
  auto sealed = Seal(key_, Aad(meta), value);
  if (!sealed) return sealed.error();
  auto put = db_->Prepare(
      "INSERT INTO secrets (name, format, basic_user, header_name, bindings, "
      "created_ms, updated_ms, created_by, version, key_id, sealed) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (name) DO UPDATE SET "
      "format = excluded.format, basic_user = excluded.basic_user, "
      "header_name = excluded.header_name, bindings = excluded.bindings, "
      "updated_ms = excluded.updated_ms, version = excluded.version, "
      "key_id = excluded.key_id, sealed = excluded.sealed");
  if (!put) return put.error();
  put->Bind(1, meta.name)
      .Bind(2, FormatName(meta.format))
      .Bind(3, meta.basic_user)
      .Bind(4, meta.header_name)
      .Bind(5, BindingsToJson(meta.bindings))
      .Bind(6, meta.created_ms)
      .Bind(7, meta.updated_ms)
      .Bind(8, meta.created_by)
      .Bind(9, std::int64_t{meta.version})
      .Bind(10, KeyId(key_))
      .BindBlob(11, *sealed);
  if (Status s = put->Run(); !s) return s.error();
  if (Status s = txn.Commit(); !s) return s.error();
  return meta;
}

Result<std::vector<SecretMeta>> SecretStore::List() {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kMetaColumns +
                        " FROM secrets ORDER BY name");
  if (!s) return s.error();
  std::vector<SecretMeta> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    auto meta = ReadMeta(*s);
    if (!meta) return meta.error();
    out.push_back(std::move(*meta));
  }
  return out;
}

Result<std::optional<SecretMeta>> SecretStore::Meta(std::string_view name) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kMetaColumns +
                        " FROM secrets WHERE name = ?");
  if (!s) return s.error();
  s->Bind(1, name);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<SecretMeta>();
  auto meta = ReadMeta(*s);
  if (!meta) return meta.error();
  return std::optional<SecretMeta>(std::move(*meta));
}

Status SecretStore::Delete(std::string_view name) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare("DELETE FROM secrets WHERE name = ?");
  if (!s) return s.error();
  s->Bind(1, name);
  if (Status st = s->Run(); !st) return st;
  if (db_->Changes() == 0) {
    return MakeError("not_found", "no secret named " + Quote(name));
  }
  return {};
}

Result<std::optional<Secret>> SecretStore::Get(std::string_view name) {
  std::lock_guard lock(mu_);
  auto s = db_->Prepare(std::string("SELECT ") + kMetaColumns +
                        ", sealed FROM secrets WHERE name = ?");
  if (!s) return s.error();
  s->Bind(1, name);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<Secret>();
  auto meta = ReadMeta(*s);
  if (!meta) return meta.error();
  auto value = Unseal(key_, Aad(*meta), s->ColumnBlob(10));
  if (!value) {
    if (s->ColumnText(9) != KeyId(key_)) {
      return MakeError("invalid_key", "secret " + Quote(meta->name) +
                                          " was encrypted under another "
                                          "master key than this one");
    }
    return Corrupt(meta->name,
                   "does not decrypt: its ciphertext or "
                   "metadata was changed outside tether");
  }
  return std::optional<Secret>(Secret{std::move(*meta), std::move(*value)});
}

Result<std::string> SecretStore::Value(std::string_view name) {
  auto secret = Get(name);
  if (!secret) return secret.error();
  if (!*secret) {
    return MakeError("not_found", "no secret named " + Quote(name));
  }
  return std::move((*secret)->value);
}

Result<std::vector<std::string>> SecretStore::AllValues() {
  auto metas = List();
  if (!metas) return metas.error();
  std::vector<std::string> out;
  for (const SecretMeta& m : *metas) {
    auto secret = Get(m.name);
    if (!secret) return secret.error();
    if (!*secret) continue;  // deleted since List()
    Secret& s = **secret;
    if (s.meta.format == Format::kBasic) {
      // The form in which it leaves tether: "Basic <this>".
      std::string credential = InjectionHeader(s.meta, s.value).second;
      out.push_back(credential.substr(credential.find(' ') + 1));
      OPENSSL_cleanse(credential.data(), credential.size());
    }
    out.push_back(std::move(s.value));
  }
  return out;
}

namespace {

// A normalized absolute path with no query: no dot or empty segments, and
// nothing an upstream might decode into one.
bool PathIsPlain(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find_first_of("?#\\") != std::string_view::npos) return false;
  for (std::size_t p = path.find('%'); p != std::string_view::npos;
       p = path.find('%', p + 1)) {
    std::string_view enc = path.substr(p, 3);
    if (EqualsIgnoreCase(enc, "%2e") || EqualsIgnoreCase(enc, "%2f") ||
        EqualsIgnoreCase(enc, "%5c")) {
      return false;
    }
  }
  // A trailing slash is an ordinary path ("/repos/acme/"), not an empty
  // segment an upstream might collapse.
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path == "/" || SegmentsClean(path);
}

bool HostMatches(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return EqualsIgnoreCase(pattern, host);
  std::string_view suffix = pattern.substr(1);  // ".example.com"
  return host.size() > suffix.size() &&
         EqualsIgnoreCase(host.substr(host.size() - suffix.size()), suffix);
}

bool PathMatches(std::string_view prefix, std::string_view path) {
  if (prefix.empty()) return true;
  if (!PathIsPlain(path) || !path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace

bool BindingAllows(const SecretMeta& meta, std::string_view host,
                   std::string_view path) {
  if (host.empty()) return false;
  for (const Binding& b : meta.bindings) {
    if (HostMatches(b.host, host) && PathMatches(b.path_prefix, path))
      return true;
  }
  return false;
}

std::pair<std::string, std::string> InjectionHeader(const SecretMeta& meta,
                                                    std::string_view value) {
  switch (meta.format) {
    case Format::kBasic: {
      std::string plain = meta.basic_user + ":" + std::string(value);
      std::string encoded = Base64(plain);
      OPENSSL_cleanse(plain.data(), plain.size());
      return {"Authorization", "Basic " + encoded};
    }
    case Format::kHeader:
      return {meta.header_name, std::string(value)};
    case Format::kBearer:
      break;
  }
  return {"Authorization", "Bearer " + std::string(value)};
}

bool IsCredentialHeader(std::string_view name, const SecretMeta* meta) {
  // Well-known carriers of API credentials: the generic ones, GitLab's
  // (Private-Token, Job-Token, Deploy-Token), Google's, AWS's session token,
  // Vault's, the Docker Engine's registry auth and Azure API Management's.
  static constexpr std::string_view kNames[] = {
      "authorization",
      "proxy-authorization",
      "x-api-key",
      "api-key",
      "x-auth-token",
      "x-access-token",
      "private-token",
      "job-token",
      "deploy-token",
      "x-goog-api-key",
      "x-amz-security-token",
      "x-vault-token",
      "x-registry-auth",
      "ocp-apim-subscription-key",
  };
  for (std::string_view n : kNames) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return meta != nullptr && !meta->header_name.empty() &&
         EqualsIgnoreCase(name, meta->header_name);
}

}  // namespace tether::secrets
