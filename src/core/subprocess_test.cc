#include "core/subprocess.h"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace naut {
namespace {

using namespace std::chrono_literals;

TEST(SubprocessTest, RunsAndCapturesBothStreams) {
  auto r = RunCommand({.argv = {"sh", "-c", "cat; echo err >&2; exit 3"}}, "hello", 10s);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "hello");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->status.exit_code, 3);
  EXPECT_FALSE(r->timed_out);
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  auto r = RunCommand({.argv = {"naut-no-such-program"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(SubprocessTest, TimeoutKillsTheWholeGroup) {
  auto r = RunCommand({.argv = {"sh", "-c", "sleep 30 & sleep 30"}}, "", 200ms);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->status.signal, SIGKILL);
}

TEST(SubprocessTest, EnvironmentIsPassed) {
  auto r = RunCommand({.argv = {"sh", "-c", "printf %s \"$NAUT_X\""}, .env = {{"NAUT_X", "42"}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "42");
}

TEST(SubprocessTest, DestructorReapsARunningChild) {
  pid_t pid;
  {
    auto p = Subprocess::Spawn({.argv = {"sleep", "30"}});
    ASSERT_TRUE(p);
    pid = (*p)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);
}

// With parent_death_signal the child goes when its parent does, here the thread that spawned it
// (the kernel's notion of parent), without anyone reaching its destructor; the same child
// without it lives on.
TEST(SubprocessTest, ParentDeathSignalEndsTheChildWithTheThreadThatSpawnedIt) {
  for (int death_signal : {SIGKILL, 0}) {
    std::unique_ptr<Subprocess> child;
    std::thread spawner([&] {
      auto p = Subprocess::Spawn({.argv = {"sleep", "30"},
                                  .env = {{"NAUT_SPAWNED_BY", "a thread"}},
                                  .cwd = "/",
                                  .pipe_stdout = false,
                                  .parent_death_signal = death_signal});
      ASSERT_TRUE(p) << p.error().ToString();
      child = std::move(*p);
    });
    spawner.join();
    ASSERT_NE(child, nullptr);
    auto ended = child->WaitFor(death_signal != 0 ? 10s : 300ms);
    if (death_signal != 0) {
      ASSERT_TRUE(ended.has_value()) << "the child outlived the thread that spawned it";
      EXPECT_EQ(ended->signal, SIGKILL);
    } else {
      EXPECT_FALSE(ended.has_value()) << ended->ToString();
    }
  }
}

TEST(SubprocessTest, ParentDeathSignalSpawnPassesStreamsAndReportsAMissingProgram) {
  auto r = RunCommand({.argv = {"sh", "-c", "cat; printf %s \"$NAUT_X\" >&2; pwd"},
                       .env = {{"NAUT_X", "42"}},
                       .cwd = "/tmp",
                       .parent_death_signal = SIGKILL},
                      "in", 10s);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "in/tmp\n");
  EXPECT_EQ(r->err, "42");
  EXPECT_TRUE(r->status.success());
  auto missing = Subprocess::Spawn({.argv = {"naut-no-such-program"}, .parent_death_signal = 9});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  auto bad_dir = Subprocess::Spawn(
      {.argv = {"true"}, .cwd = "/naut-no-such-dir", .parent_death_signal = SIGKILL});
  ASSERT_FALSE(bad_dir);
  EXPECT_NE(bad_dir.error().message().find("No such file"), std::string::npos)
      << bad_dir.error().message();
}

}  // namespace
}  // namespace naut
