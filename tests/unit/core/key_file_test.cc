#include "core/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace tether {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-keys-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(KeyFileTest, CreatedOnceWithMode0600) {
  std::string path = (dir_ / "keys" / "k.key").string();
  int made = 0;
  auto make = [&] {
    ++made;
    return std::string("secret-" + std::to_string(made));
  };
  auto first = LoadOrCreateKeyFile(path, make);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = LoadOrCreateKeyFile(path, make);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, "secret-1");
  EXPECT_EQ(*second, "secret-1");
  EXPECT_EQ(made, 1);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ / "keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(KeyFileTest, RefusesPermissiveModes) {
  std::string path = (dir_ / "k.key").string();
  std::filesystem::create_directories(dir_);
  ASSERT_TRUE(WriteKeyFile(path, "x").ok());
  chmod(path.c_str(), 0644);
  auto r = ReadKeyFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "insecure_key_file");
  EXPECT_NE(r.error().message.find("0644"), std::string::npos);
  EXPECT_FALSE(WriteKeyFile(path, "y").ok());  // never overwrites
}

TEST_F(KeyFileTest, RefusesSymlinks) {
  std::filesystem::create_directories(dir_);
  std::string target = (dir_ / "real.key").string();
  ASSERT_TRUE(WriteKeyFile(target, "x").ok());
  std::filesystem::create_symlink(target, dir_ / "link.key");
  EXPECT_FALSE(ReadKeyFile((dir_ / "link.key").string()).ok());
}

}  // namespace
}  // namespace tether
