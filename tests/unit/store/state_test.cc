#include "store/state.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tether::store {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tether-state-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto s = StateStore::Open((dir_ / "tether.db").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  TaskRecord Task(const std::string& id, std::int64_t created) {
    TaskRecord t;
    t.id = id;
    t.subject = "sub";
    t.issuer = "test";
    t.agent_type = "Agent";
    t.agent_id = "a";
    t.agent_attrs = "{}";
    t.owner_type = "Agent";
    t.owner_id = "a";
    t.repo = "acme/api";
    t.environment = "dev";
    t.labels = "[]";
    t.created_ms = created;
    t.expires_ms = created + 1000;
    t.token_jti = "j" + id;
    return t;
  }
  std::filesystem::path dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(StateStoreTest, TasksRoundTripAndEndOnce) {
  ASSERT_TRUE(store_->InsertTask(Task("t1", 10)));
  ASSERT_TRUE(store_->InsertTask(Task("t2", 20)));
  EXPECT_FALSE(store_->InsertTask(Task("t1", 30)));  // ids are unique
  auto t = store_->GetTask("t1");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->repo, "acme/api");
  EXPECT_EQ((*t)->token_jti, "jt1");
  EXPECT_TRUE(*store_->EndTask("t1", 50, "done"));
  EXPECT_FALSE(*store_->EndTask("t1", 60, "again"));  // already ended
  EXPECT_EQ((*store_->GetTask("t1"))->end_reason, "done");
  auto active = store_->ActiveTasks();
  ASSERT_TRUE(active);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->front().id, "t2");
  EXPECT_FALSE(*store_->GetTask("nope"));
}

TEST_F(StateStoreTest, ListPaginatesInCreationOrder) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->InsertTask(Task("t" + std::to_string(i), 100 + i)));
  }
  TaskFilter f;
  f.limit = 2;
  auto page = store_->ListTasks(f);
  ASSERT_EQ(page->size(), 2u);
  f.after_id = page->back().id;
  auto next = store_->ListTasks(f);
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ(next->front().id, "t2");
}

TEST_F(StateStoreTest, RevocationsOperatorsAndKeysPersist) {
  RevocationRecord r;
  r.kind = "identity";
  r.value = "sub";
  r.created_ms = 5;
  auto id = store_->InsertRevocation(r);
  ASSERT_TRUE(id);
  r.kind = "bogus";
  EXPECT_FALSE(store_->InsertRevocation(r));  // a CHECK constraint
  OperatorRecord op{"0123", "ada", "admin", {"g1", "g2"}, "ff", 1, 0};
  ASSERT_TRUE(store_->InsertOperator(op));
  ASSERT_TRUE(store_->InsertSigningKey({"k1", 1, 0}));
  ASSERT_TRUE(store_->InsertSigningKey({"k2", 2, 0}));
  ASSERT_TRUE(store_->RetireSigningKeysExcept("k2", 3));
  // Reopen: everything is still there.
  store_.reset();
  store_ = std::move(*StateStore::Open((dir_ / "tether.db").string()));
  auto revs = store_->Revocations();
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ(revs->front().value, "sub");
  auto ops = store_->Operators();
  ASSERT_EQ(ops->size(), 1u);
  EXPECT_EQ(ops->front().groups, (std::vector<std::string>{"g1", "g2"}));
  auto keys = store_->SigningKeys();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].retired_ms, 3);
  EXPECT_EQ((*keys)[1].retired_ms, 0);
}

}  // namespace
}  // namespace tether::store
