#include "core/home_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/subprocess.h"

namespace naut {
namespace {

namespace fs = std::filesystem;

class HomeLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_.root = fs::temp_directory_path() / ("naut-lock-" + NewId());
    fs::create_directories(home_.root);
  }
  void TearDown() override { fs::remove_all(home_.root); }
  DataHome home_;
};

TEST_F(HomeLockTest, ASecondHolderIsRefusedWithTheFirstOnesRunAndPid) {
  auto first = HomeLock::Acquire(home_, "run-one", "neuronaut run");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_FALSE(first->took_over());

  auto second = HomeLock::Acquire(home_, "run-two", "neuronaut run");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
  const std::string m = second.error().message();
  EXPECT_NE(m.find("run run-one"), std::string::npos) << m;
  EXPECT_NE(m.find("pid " + std::to_string(getpid())), std::string::npos) << m;
  EXPECT_NE(m.find(home_.root.string()), std::string::npos) << m;

  auto holder = HomeLock::Holder(home_);
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(holder->run_id, "run-one");
  EXPECT_EQ(holder->what, "neuronaut run");
}

TEST_F(HomeLockTest, ReleasedOnDestructionAndThenFree) {
  {
    auto lock = HomeLock::Acquire(home_, "a", "neuronaut run");
    ASSERT_TRUE(lock.ok());
  }
  EXPECT_FALSE(HomeLock::Holder(home_).has_value());
  auto again = HomeLock::Acquire(home_, "b", "neuronaut run");
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_FALSE(again->took_over()) << "a clean release leaves nobody to take over from";
}

// A holder killed with SIGKILL never cleans up; the next one takes over and hears about it.
TEST_F(HomeLockTest, AKilledHoldersLockIsTakenOverNotTrusted) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = HomeLock::Acquire(home_, "run-dead", "neuronaut run");
    char c = lock.ok() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, 'y');
  EXPECT_FALSE(HomeLock::Acquire(home_, "run-live", "neuronaut run").ok());

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  auto lock = HomeLock::Acquire(home_, "run-live", "neuronaut run");
  ASSERT_TRUE(lock.ok()) << lock.error().ToString();
  ASSERT_TRUE(lock->took_over().has_value());
  EXPECT_EQ(lock->took_over()->run_id, "run-dead");
  EXPECT_EQ(lock->took_over()->pid, child);
  EXPECT_EQ(HomeLock::Holder(home_)->run_id, "run-live");
}

// A child process started by the holder (an MCP server, the sandbox) does not keep the lock
// after the holder lets go.
TEST_F(HomeLockTest, ChildProcessesDoNotInheritTheLock) {
  auto lock = std::make_unique<Result<HomeLock>>(HomeLock::Acquire(home_, "a", "neuronaut run"));
  ASSERT_TRUE(lock->ok());
  auto sleeper = Subprocess::Spawn({.argv = {"sleep", "30"}, .pipe_stdin = false});
  ASSERT_TRUE(sleeper.ok()) << sleeper.error().ToString();
  lock.reset();
  auto next = HomeLock::Acquire(home_, "b", "neuronaut run");
  EXPECT_TRUE(next.ok()) << next.error().ToString();
  (*sleeper)->Signal(SIGKILL);
  (*sleeper)->Wait();
}

}  // namespace
}  // namespace naut
