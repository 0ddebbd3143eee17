#include "broker/keyring.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tether::broker {
namespace {

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-keyring-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "keys");
    store_ = std::move(*store::StateStore::Open((dir_ / "tether.db").string()));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string Sign(const SigningKeyring& ring) {
    boost::json::object claims{{"iss", "x"}, {"aud", "x"}, {"exp", 2000}};
    return *ring.Sign(claims, "tether-task+jwt");
  }
  bool Verifies(const SigningKeyring& ring, const std::string& token) {
    token::VerifyPolicy p{
        .issuer = "x", .audience = "x", .type = "tether-task+jwt", .now = 1000};
    return static_cast<bool>(token::VerifyJwt(token, *ring.verify_keys(), p));
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::StateStore> store_;
};

TEST_F(KeyringTest, FirstOpenCreatesAnOwnerOnlyKey) {
  auto ring = SigningKeyring::Open(*store_, (dir_ / "keys").string(), 1000, 1);
  ASSERT_TRUE(ring) << ring.error().message;
  std::string kid = (*ring)->active_kid();
  auto path = dir_ / "keys" / ("token-signing-" + kid + ".pem");
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(
      std::filesystem::status(path).permissions() & std::filesystem::perms::all,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_TRUE(Verifies(**ring, Sign(**ring)));
  // Reopening finds the same key.
  auto again = SigningKeyring::Open(*store_, (dir_ / "keys").string(), 1000, 2);
  EXPECT_EQ((*again)->active_kid(), kid);
}

TEST_F(KeyringTest, RetiredKeysVerifyUntilTheirTokensExpire) {
  auto ring = SigningKeyring::Open(*store_, (dir_ / "keys").string(), 1000, 1);
  ASSERT_TRUE(ring);
  std::string old_kid = (*ring)->active_kid();
  std::string old_token = Sign(**ring);
  auto new_kid = (*ring)->Rotate(100);
  ASSERT_TRUE(new_kid);
  EXPECT_NE(*new_kid, old_kid);
  EXPECT_TRUE(Verifies(**ring, old_token));
  EXPECT_TRUE(Verifies(**ring, Sign(**ring)));
  EXPECT_NE((*ring)->Jwks().find(old_kid), std::string::npos);
  // Past the retention, a restart forgets the old key and deletes its file.
  auto later =
      SigningKeyring::Open(*store_, (dir_ / "keys").string(), 1000, 100 + 1001);
  ASSERT_TRUE(later);
  EXPECT_FALSE(Verifies(**later, old_token));
  EXPECT_EQ((*later)->Jwks().find(old_kid), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "keys" /
                                       ("token-signing-" + old_kid + ".pem")));
}

TEST(ThumbprintTest, MatchesRfc7638) {
  // RFC 8037 Appendix A.3: the Ed25519 test key's thumbprint.
  std::string x = *HexDecode(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(Ed25519Thumbprint(x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

}  // namespace
}  // namespace tether::broker
