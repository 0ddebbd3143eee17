#include "store/sqlite.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace tether::store {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-sqlite-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteTest, OpensInWalWithFullSync) {
  auto db = SqliteDb::Open(path_, {});
  ASSERT_TRUE(db.ok()) << db.error().message;
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA synchronous"), 2);
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode->Step().value());
  EXPECT_EQ(mode->ColumnText(0), "wal");
}

TEST_F(SqliteTest, MigrationsApplyOnceAndInOrder) {
  const Migration v2[] = {
      {1, "t", "CREATE TABLE t (a INTEGER)"},
      {2, "t.b", "ALTER TABLE t ADD COLUMN b TEXT"},
  };
  {
    auto db = SqliteDb::Open(path_, {});
    ASSERT_TRUE(Migrate(**db, std::span(v2).first(1), "test").ok());
    EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 1);
  }
  auto db = SqliteDb::Open(path_, {});
  Status s = Migrate(**db, v2, "test");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(Migrate(**db, v2, "test").ok());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 2);
  EXPECT_TRUE((*db)->Exec("INSERT INTO t (a, b) VALUES (1, 'x')").ok());
}

TEST_F(SqliteTest, RefusesANewerSchemaAndRollsBackAFailedMigration) {
  const Migration good[] = {{1, "t", "CREATE TABLE t (a INTEGER)"}};
  const Migration bad[] = {{1, "t", "CREATE TABLE t (a INTEGER)"},
                           {2, "broken", "CREATE TABLE u (a); NOT SQL"}};
  auto db = SqliteDb::Open(path_, {});
  ASSERT_TRUE(Migrate(**db, bad, "test").ok() == false);
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 1);
  EXPECT_FALSE((*db)->Exec("SELECT * FROM u").ok());  // rolled back
  ASSERT_TRUE((*db)->Exec("PRAGMA user_version=7").ok());
  Status s = Migrate(**db, good, "test");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

TEST_F(SqliteTest, StatementsBindAndRead) {
  auto db = SqliteDb::Open(path_, {});
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (i INTEGER, s TEXT, b BLOB)").ok());
  auto ins = (*db)->Prepare("INSERT INTO t VALUES (?, ?, ?)");
  ASSERT_TRUE(ins.ok());
  ins->Bind(1, std::int64_t{-5})
      .Bind(2, "text")
      .BindBlob(3, std::string("\0x", 2));
  ASSERT_TRUE(ins->Run().ok());
  auto sel = (*db)->Prepare("SELECT i, s, b FROM t");
  ASSERT_TRUE(sel->Step().value());
  EXPECT_EQ(sel->ColumnInt(0), -5);
  EXPECT_EQ(sel->ColumnText(1), "text");
  EXPECT_EQ(sel->ColumnBlob(2), std::string("\0x", 2));
  EXPECT_FALSE(sel->Step().value());
  auto bad = (*db)->Prepare("SELECT nope FROM t");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "store_error");
}

TEST_F(SqliteTest, ReportsAnUnopenablePath) {
  auto db = SqliteDb::Open((dir_ / "missing" / "x.db").string(), {});
  ASSERT_FALSE(db.ok());
}

}  // namespace
}  // namespace tether::store
