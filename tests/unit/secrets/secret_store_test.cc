#include "secrets/secret_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/key_file.h"
#include "store/sqlite.h"
#include "store/state.h"

namespace tether::secrets {
namespace {

constexpr std::string_view kValue = "ghp_tetherTestValue0123456789abcdefXYZ";

std::string ReadRaw(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SecretMeta Bearer(const std::string& name, const std::string& host,
                  const std::string& prefix = "") {
  SecretMeta m;
  m.name = name;
  m.format = Format::kBearer;
  m.bindings = {{host, prefix}};
  m.created_by = "operator:alice";
  return m;
}

class SecretStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-secrets-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_path_ = (dir_ / "tether.db").string();
    key_path_ = (dir_ / "keys" / "secrets.key").string();
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = SecretStore::Open(db_path_, key_path_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  // A second connection, standing for someone who can write tether.db.
  std::unique_ptr<store::SqliteDb> Raw() {
    auto db = store::SqliteDb::Open(db_path_, {});
    EXPECT_TRUE(db) << db.error().message;
    return db ? std::move(*db) : nullptr;
  }
  std::string Sealed(const std::string& name) {
    auto db = Raw();
    auto s = db->Prepare("SELECT sealed FROM secrets WHERE name = ?");
    EXPECT_TRUE(s);
    s->Bind(1, name);
    EXPECT_TRUE(*s->Step());
    return std::string(s->ColumnBlob(0));
  }
  void SetSealed(const std::string& name, std::string_view sealed) {
    auto db = Raw();
    auto s = db->Prepare("UPDATE secrets SET sealed = ? WHERE name = ?");
    ASSERT_TRUE(s);
    s->BindBlob(1, sealed).Bind(2, name);
    ASSERT_TRUE(s->Run());
    ASSERT_EQ(db->Changes(), 1);
  }

  std::filesystem::path dir_;
  std::string db_path_;
  std::string key_path_;
  std::unique_ptr<SecretStore> store_;
};

TEST_F(SecretStoreTest, RoundTripNeverListsValues) {
  auto put =
      store_->Put(Bearer("gh", "api.github.com", "/repos/acme"), kValue, 1000);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->version, 1);
  EXPECT_EQ(put->created_ms, 1000);
  EXPECT_EQ(put->updated_ms, 1000);
  EXPECT_EQ(put->created_by, "operator:alice");

  auto value = store_->Value("gh");
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value, kValue);

  auto meta = store_->Meta("gh");
  ASSERT_TRUE(meta && *meta);
  EXPECT_EQ((*meta)->format, Format::kBearer);
  ASSERT_EQ((*meta)->bindings.size(), 1u);
  EXPECT_EQ((*meta)->bindings[0].host, "api.github.com");
  EXPECT_EQ((*meta)->bindings[0].path_prefix, "/repos/acme");

  auto got = store_->Get("gh");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, kValue);
  EXPECT_EQ((*got)->meta.bindings, (*meta)->bindings);

  ASSERT_TRUE(store_->Put(Bearer("a-first", "x.example"), "v2", 1).ok());
  auto list = store_->List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a-first");  // sorted by name
  EXPECT_EQ((*list)[1].name, "gh");

  auto missing = store_->Meta("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
  auto no_value = store_->Value("nope");
  ASSERT_FALSE(no_value);
  EXPECT_EQ(no_value.error().code, "not_found");
}

TEST_F(SecretStoreTest, SurvivesReopenAlongsideTheStateStore) {
  // The state store owns tether.db's user_version; both schemas coexist in
  // whichever order they are opened.
  auto state = store::StateStore::Open(db_path_);
  ASSERT_TRUE(state) << state.error().message;
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 5).ok());
  Reopen();
  auto value = store_->Value("gh");
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value, kValue);
  state->reset();
  auto again = store::StateStore::Open(db_path_);
  ASSERT_TRUE(again) << again.error().message;
}

TEST_F(SecretStoreTest, ValueNeverInTheDatabaseFiles) {
  SecretMeta basic = Bearer("reg", "registry.example");
  basic.format = Format::kBasic;
  basic.basic_user = "x-access-token";
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  ASSERT_TRUE(store_->Put(basic, kValue, 2).ok());
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 3).ok());
  std::string encoded =
      InjectionHeader(store_->Meta("reg")->value(), kValue).second;
  encoded = encoded.substr(encoded.find(' ') + 1);
  for (const char* suffix : {"", "-wal"}) {
    std::string bytes = ReadRaw(db_path_ + suffix);
    if (std::string(suffix).empty()) {
      ASSERT_FALSE(bytes.empty());
    }
    EXPECT_EQ(bytes.find(kValue), std::string::npos) << suffix;
    EXPECT_EQ(bytes.find(encoded), std::string::npos) << suffix;
    // Not even a recognizable piece of it.
    EXPECT_EQ(bytes.find(kValue.substr(0, 12)), std::string::npos) << suffix;
  }
  std::string key = ReadRaw(key_path_);
  EXPECT_EQ(key.find(kValue), std::string::npos);
}

TEST_F(SecretStoreTest, FlippedCiphertextByteIsCorrupt) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  std::string sealed = Sealed("gh");
  ASSERT_EQ(sealed.size(), 12 + kValue.size() + 16);
  // Nonce, ciphertext and tag each covered.
  for (std::size_t at : {std::size_t{0}, std::size_t{12}, sealed.size() - 1}) {
    std::string bad = sealed;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    SetSealed("gh", bad);
    auto v = store_->Value("gh");
    ASSERT_FALSE(v) << at;
    EXPECT_EQ(v.error().code, "secret_corrupt");
    EXPECT_EQ(v.error().message.find(kValue), std::string::npos);
  }
  SetSealed("gh", sealed.substr(0, 20));  // truncated
  EXPECT_EQ(store_->Value("gh").error().code, "secret_corrupt");
  SetSealed("gh", sealed);
  EXPECT_TRUE(store_->Value("gh").ok());
  // AllValues fails closed rather than leaving a value out of the redactor.
  SetSealed("gh", sealed.substr(0, sealed.size() - 1) + "x");
  auto all = store_->AllValues();
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().code, "secret_corrupt");
}

TEST_F(SecretStoreTest, CiphertextMovedToAnotherNameDoesNotDecrypt) {
  ASSERT_TRUE(store_->Put(Bearer("prod", "api.github.com"), kValue, 1).ok());
  ASSERT_TRUE(
      store_->Put(Bearer("dev", "api.github.com"), "dev-value", 1).ok());
  auto db = Raw();
  ASSERT_TRUE(
      db->Exec("UPDATE secrets SET sealed = (SELECT sealed FROM "
               "secrets WHERE name = 'prod') WHERE name = 'dev'"));
  auto v = store_->Value("dev");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, "secret_corrupt");
  EXPECT_EQ(*store_->Value("prod"), kValue);
}

TEST_F(SecretStoreTest, RebindingInTheDatabaseDoesNotDecrypt) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  auto db = Raw();
  ASSERT_TRUE(db->Exec(
      "UPDATE secrets SET bindings = "
      "'[{\"host\":\"evil.example\",\"path_prefix\":\"\"}]' WHERE name = "
      "'gh'"));
  // Meta() shows the row as it is; Get() refuses to hand out the value.
  EXPECT_EQ((*store_->Meta("gh"))->bindings[0].host, "evil.example");
  auto got = store_->Get("gh");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "secret_corrupt");
  ASSERT_TRUE(
      db->Exec("UPDATE secrets SET bindings = "
               "'[{\"host\":\"api.github.com\",\"path_prefix\":\"\"}]', "
               "format = 'header', header_name = 'X-Leak' WHERE name = 'gh'"));
  EXPECT_EQ(store_->Get("gh").error().code, "secret_corrupt");
}

TEST_F(SecretStoreTest, OlderVersionsCiphertextDoesNotDecrypt) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), "old-value", 1).ok());
  std::string v1 = Sealed("gh");
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 2).ok());
  SetSealed("gh", v1);
  EXPECT_EQ(store_->Value("gh").error().code, "secret_corrupt");
}

TEST_F(SecretStoreTest, OverwriteBumpsVersionAndKeepsCreation) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), "one", 100).ok());
  std::string first = Sealed("gh");
  SecretMeta again = Bearer("gh", "uploads.github.com");
  again.created_by = "operator:bob";
  auto put = store_->Put(again, "two", 200);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->version, 2);
  EXPECT_EQ(put->created_ms, 100);
  EXPECT_EQ(put->updated_ms, 200);
  EXPECT_EQ(put->created_by, "operator:alice");
  EXPECT_EQ(put->bindings[0].host, "uploads.github.com");
  EXPECT_EQ(*store_->Value("gh"), "two");
  EXPECT_EQ((*store_->Meta("gh"))->version, 2);
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), "two", 300).ok());
  EXPECT_EQ((*store_->Meta("gh"))->version, 3);
  // Same value, fresh nonce.
  EXPECT_NE(Sealed("gh").substr(0, 12), first.substr(0, 12));
}

TEST_F(SecretStoreTest, DeleteRemovesAndReportsMissing) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  ASSERT_TRUE(store_->Delete("gh").ok());
  EXPECT_FALSE(*store_->Meta("gh"));
  EXPECT_EQ(store_->Value("gh").error().code, "not_found");
  Status again = store_->Delete("gh");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "not_found");
  EXPECT_TRUE(store_->AllValues()->empty());
}

TEST_F(SecretStoreTest, KeyFileIsCreated0600AndAPermissiveOneIsRefused) {
  struct stat st;
  ASSERT_EQ(::stat(key_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = ReadRaw(key_path_);
  EXPECT_EQ(text.size(), 65u);  // 64 hex digits and a newline
  store_.reset();
  ASSERT_EQ(::chmod(key_path_.c_str(), 0644), 0);
  auto s = SecretStore::Open(db_path_, key_path_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "insecure_key_file");
  ASSERT_EQ(::chmod(key_path_.c_str(), 0600), 0);
  EXPECT_TRUE(SecretStore::Open(db_path_, key_path_).ok());
}

TEST_F(SecretStoreTest, KeyFileWithoutAKeyIsRefused) {
  std::string path = (dir_ / "short.key").string();
  ASSERT_TRUE(WriteKeyFile(path, "abcd\n").ok());
  auto s = SecretStore::Open(db_path_, path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "invalid_key");
}

TEST_F(SecretStoreTest, AnotherMasterKeyIsReportedAsSuch) {
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  store_.reset();
  auto other = SecretStore::Open(db_path_, (dir_ / "other.key").string());
  ASSERT_TRUE(other) << other.error().message;
  auto v = (*other)->Value("gh");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, "invalid_key");
}

TEST_F(SecretStoreTest, AllValuesIncludesTheBasicCredential) {
  SecretMeta basic = Bearer("reg", "registry.example");
  basic.format = Format::kBasic;
  basic.basic_user = "x-access-token";
  ASSERT_TRUE(store_->Put(basic, "abc", 1).ok());
  ASSERT_TRUE(store_->Put(Bearer("gh", "api.github.com"), kValue, 1).ok());
  auto all = store_->AllValues();
  ASSERT_TRUE(all) << all.error().message;
  std::vector<std::string> want = {std::string(kValue),
                                   "eC1hY2Nlc3MtdG9rZW46YWJj", "abc"};
  std::sort(all->begin(), all->end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*all, want);
}

TEST_F(SecretStoreTest, BindingsAreCanonicalized) {
  SecretMeta m = Bearer("gh", "API.GitHub.com.", "/repos/acme/");
  m.bindings.push_back({"api.github.com", "/repos/acme"});  // duplicate
  m.bindings.push_back({"*.GHE.Example.com", "/"});
  auto put = store_->Put(m, kValue, 1);
  ASSERT_TRUE(put) << put.error().message;
  std::vector<Binding> want = {{"api.github.com", "/repos/acme"},
                               {"*.ghe.example.com", ""}};
  EXPECT_EQ(put->bindings, want);
  EXPECT_EQ((*store_->Meta("gh"))->bindings, want);
}

TEST_F(SecretStoreTest, RefusesBadInput) {
  struct Case {
    const char* what;
    SecretMeta meta;
    std::string value;
  };
  auto with = [](auto change) {
    SecretMeta m = Bearer("ok", "api.github.com");
    change(m);
    return m;
  };
  std::vector<Case> cases = {
      {"empty name", with([](SecretMeta& m) { m.name = ""; }), "v"},
      {"long name", with([](SecretMeta& m) { m.name = std::string(129, 'a'); }),
       "v"},
      {"slash in name", with([](SecretMeta& m) { m.name = "a/b"; }), "v"},
      {"space in name", with([](SecretMeta& m) { m.name = "a b"; }), "v"},
      {"dot-dot name", with([](SecretMeta& m) { m.name = ".."; }), "v"},
      {"empty value", Bearer("ok", "api.github.com"), ""},
      {"huge value", Bearer("ok", "api.github.com"),
       std::string(64 * 1024 + 1, 'a')},
      {"LF in value", Bearer("ok", "api.github.com"), "abc\ndef"},
      {"CR in value", Bearer("ok", "api.github.com"), "abc\rdef"},
      {"NUL in value", Bearer("ok", "api.github.com"), std::string("a\0b", 3)},
      {"trailing newline", Bearer("ok", "api.github.com"), "abc\n"},
      {"trailing space", Bearer("ok", "api.github.com"), "abc "},
      {"no bindings", with([](SecretMeta& m) { m.bindings.clear(); }), "v"},
      {"too many bindings", with([](SecretMeta& m) {
         m.bindings.clear();
         for (int i = 0; i < 65; ++i)
           m.bindings.push_back({"h" + std::to_string(i) + ".example", ""});
       }),
       "v"},
      {"bare star", with([](SecretMeta& m) { m.bindings[0].host = "*"; }), "v"},
      {"star TLD", with([](SecretMeta& m) { m.bindings[0].host = "*.com"; }),
       "v"},
      {"inner star",
       with([](SecretMeta& m) { m.bindings[0].host = "api.*.com"; }), "v"},
      {"star without dot",
       with([](SecretMeta& m) { m.bindings[0].host = "*github.com"; }), "v"},
      {"host with port",
       with([](SecretMeta& m) { m.bindings[0].host = "api.github.com:443"; }),
       "v"},
      {"host with scheme", with([](SecretMeta& m) {
         m.bindings[0].host = "https://api.github.com";
       }),
       "v"},
      {"empty host", with([](SecretMeta& m) { m.bindings[0].host = ""; }), "v"},
      {"relative prefix",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "repos"; }), "v"},
      {"dot-dot prefix",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "/repos/../x"; }),
       "v"},
      {"empty segment",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "/repos//x"; }),
       "v"},
      {"query in prefix",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "/repos?x=1"; }),
       "v"},
      {"encoded prefix",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "/repos%2Fx"; }),
       "v"},
      {"glob prefix",
       with([](SecretMeta& m) { m.bindings[0].path_prefix = "/repos/*"; }),
       "v"},
      {"user with colon", with([](SecretMeta& m) {
         m.format = Format::kBasic;
         m.basic_user = "a:b";
       }),
       "v"},
      {"user with LF", with([](SecretMeta& m) {
         m.format = Format::kBasic;
         m.basic_user = "a\nb";
       }),
       "v"},
      {"user for bearer", with([](SecretMeta& m) { m.basic_user = "u"; }), "v"},
      {"header for bearer",
       with([](SecretMeta& m) { m.header_name = "X-Api-Key"; }), "v"},
      {"no header name",
       with([](SecretMeta& m) { m.format = Format::kHeader; }), "v"},
      {"header with colon", with([](SecretMeta& m) {
         m.format = Format::kHeader;
         m.header_name = "X-Key:";
       }),
       "v"},
      {"header with space", with([](SecretMeta& m) {
         m.format = Format::kHeader;
         m.header_name = "X Key";
       }),
       "v"},
      {"created_by with LF",
       with([](SecretMeta& m) { m.created_by = "alice\nbob"; }), "v"},
  };
  for (const char* reserved :
       {"Host", "content-length", "Transfer-Encoding", "Connection", "Cookie",
        "Proxy-Authorization", "TE", "Upgrade"}) {
    cases.push_back({reserved, with([&](SecretMeta& m) {
                       m.format = Format::kHeader;
                       m.header_name = reserved;
                     }),
                     "v"});
  }
  for (const Case& c : cases) {
    auto put = store_->Put(c.meta, c.value, 1);
    ASSERT_FALSE(put) << c.what;
    EXPECT_EQ(put.error().code, "invalid_request") << c.what;
    if (c.value.size() > 2) {
      EXPECT_EQ(put.error().message.find(c.value), std::string::npos) << c.what;
    }
  }
  EXPECT_TRUE(store_->List()->empty());
  // The edges of what is allowed.
  SecretMeta tab_ok = Bearer("a.b_c-D9", "api.github.com");
  EXPECT_TRUE(store_->Put(tab_ok, "a\tb", 1).ok());
  SecretMeta basic = Bearer(std::string(128, 'n'), "api.github.com");
  basic.format = Format::kBasic;  // an empty user is allowed (RFC 7617)
  EXPECT_TRUE(store_->Put(basic, " spaces are fine in basic ", 1).ok());
  EXPECT_TRUE(
      store_
          ->Put(Bearer("big", "api.github.com"), std::string(64 * 1024, 'a'), 1)
          .ok());
}

TEST(BindingAllows, MatchesHostsAndWholePathSegments) {
  SecretMeta m;
  m.bindings = {{"api.github.com", "/repos/acme"},
                {"*.ghe.example.com", ""},
                {"uploads.github.com", ""}};
  struct Row {
    const char* host;
    const char* path;
    bool allowed;
  };
  const Row rows[] = {
      {"api.github.com", "/repos/acme", true},
      {"api.github.com", "/repos/acme/api/pulls", true},
      {"api.github.com", "/repos/acme/", true},
      {"api.github.com", "/repos/acme/api/", true},
      {"api.github.com", "/repos/acme//", false},
      {"api.github.com", "/repos/acmex", false},
      {"api.github.com", "/repos/acme-evil/x", false},
      {"api.github.com", "/repos", false},
      {"api.github.com", "/", false},
      {"api.github.com", "/repos/ACME/api", false},  // paths are case-sensitive
      {"API.GitHub.COM", "/repos/acme/api", true},   // hosts are not
      {"api.github.com", "/repos/acme/../other/x", false},
      {"api.github.com", "/repos/acme/%2e%2e/other", false},
      {"api.github.com", "/repos/acme/x%2Fy", false},
      {"api.github.com", "/repos/acme//x", false},
      {"api.github.com", "/repos/acme/./x", false},
      {"api.github.com", "/repos/acme?x=1", false},
      {"api.github.com", "/repos/acme\\..\\x", false},
      {"api.github.com", "repos/acme", false},
      {"api.github.com", "", false},
      {"github.com", "/repos/acme", false},
      {"evilapi.github.com", "/repos/acme", false},
      {"api.github.com.evil.example", "/repos/acme", false},
      {"a.ghe.example.com", "/anything", true},
      {"a.b.ghe.example.com", "/anything", true},
      {"A.GHE.example.COM", "/", true},
      {"ghe.example.com", "/", false},  // strict subdomains only
      {"xghe.example.com", "/", false},
      {".ghe.example.com", "/", false},
      {"uploads.github.com", "/anything/../at/all", true},  // no prefix bound
      {"", "/", false},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(BindingAllows(m, r.host, r.path), r.allowed)
        << r.host << " " << r.path;
  }
  SecretMeta none;
  EXPECT_FALSE(BindingAllows(none, "api.github.com", "/"));
}

TEST(InjectionHeader, EachFormat) {
  SecretMeta m;
  m.format = Format::kBearer;
  EXPECT_EQ(
      InjectionHeader(m, "abc"),
      std::make_pair(std::string("Authorization"), std::string("Bearer abc")));
  m.format = Format::kBasic;
  m.basic_user = "x-access-token";
  EXPECT_EQ(InjectionHeader(m, "abc").second, "Basic eC1hY2Nlc3MtdG9rZW46YWJj");
  m.basic_user = "";
  // RFC 7617's own example, and padding of both lengths.
  m.basic_user = "Aladdin";
  EXPECT_EQ(InjectionHeader(m, "open sesame").second,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  m.basic_user = "u";
  EXPECT_EQ(InjectionHeader(m, "pw").second, "Basic dTpwdw==");
  EXPECT_EQ(InjectionHeader(m, "pwd").second, "Basic dTpwd2Q=");
  m.format = Format::kHeader;
  m.basic_user.clear();
  m.header_name = "PRIVATE-TOKEN";
  EXPECT_EQ(
      InjectionHeader(m, "glpat-1"),
      std::make_pair(std::string("PRIVATE-TOKEN"), std::string("glpat-1")));
}

TEST(IsCredentialHeader, CaseInsensitiveListAndTheSecretsOwn) {
  for (const char* h :
       {"Authorization", "authorization", "AUTHORIZATION",
        "Proxy-Authorization", "x-api-key", "X-API-KEY", "Api-Key",
        "X-Auth-Token", "X-Access-Token", "PRIVATE-TOKEN", "Job-Token",
        "Deploy-Token", "X-Goog-Api-Key", "X-Amz-Security-Token",
        "X-Vault-Token", "X-Registry-Auth", "Ocp-Apim-Subscription-Key"}) {
    EXPECT_TRUE(IsCredentialHeader(h, nullptr)) << h;
  }
  for (const char* h : {"Cookie", "Accept", "User-Agent", "Idempotency-Key",
                        "X-GitHub-Api-Version", "Authorizations", ""}) {
    EXPECT_FALSE(IsCredentialHeader(h, nullptr)) << h;
  }
  SecretMeta m;
  m.format = Format::kHeader;
  m.header_name = "X-Custom-Token";
  EXPECT_TRUE(IsCredentialHeader("x-custom-token", &m));
  EXPECT_FALSE(IsCredentialHeader("x-custom-token", nullptr));
  SecretMeta bearer;
  EXPECT_FALSE(IsCredentialHeader("", &bearer));
}

TEST(Formats, NamesRoundTrip) {
  for (Format f : {Format::kBearer, Format::kBasic, Format::kHeader}) {
    auto parsed = ParseFormat(FormatName(f));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(ParseFormat("Bearer").error().code, "invalid_request");
  EXPECT_FALSE(ParseFormat("token"));
}

TEST(KeyPath, ConfiguredOrInTheKeysDirectory) {
  auto defaults = ParseConfig("", "t.toml");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(KeyPath(*defaults), "tether-data/keys/secrets.key");
  auto keys_dir = ParseConfig("[keys]\ndir = \"/etc/tether/keys\"\n", "t.toml");
  ASSERT_TRUE(keys_dir);
  EXPECT_EQ(KeyPath(*keys_dir), "/etc/tether/keys/secrets.key");
  auto set = ParseConfig("[secrets]\nkey_file = \"/run/secrets.key\"\n", "t");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(KeyPath(*set), "/run/secrets.key");
}

}  // namespace
}  // namespace tether::secrets
