#include "core/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

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

}  // namespace
}  // namespace naut
