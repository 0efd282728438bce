// `neuronaut sandbox check|run` as a user runs them: the real binary, a fresh data home.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/subprocess.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CliSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    home_ = fs::temp_directory_path() / ("naut-cli-sandbox-" + std::to_string(rd()));
    fs::create_directories(home_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  CommandResult Cli(std::vector<std::string> args, std::string input = {}) {
    SpawnOptions o;
    o.argv = {NAUT_CLI, "--home", home_.string()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    auto r = RunCommand(o, input, std::chrono::seconds(60));
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : CommandResult{};
  }
  fs::path home_;
};

TEST_F(CliSandboxTest, CheckSaysItWorks) {
  auto r = Cli({"sandbox", "check"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok: isolated sandbox works"));
}

TEST_F(CliSandboxTest, RunPassesOutputStdinAndExitCode) {
  auto r = Cli(
      {"sandbox", "run", "--", "/bin/sh", "-c", "cat; echo uid=$(id -u); ls /root 2>&1; exit 7"},
      "piped\n");
  EXPECT_EQ(r.status.exit_code, 7) << r.err;
  EXPECT_THAT(r.out, HasSubstr("piped\nuid=1000\n"));
  EXPECT_THAT(r.out, HasSubstr("No such file"));
  EXPECT_THAT(r.err, HasSubstr("exit code 7"));
}

TEST_F(CliSandboxTest, RunJsonReportsTheWallClockLimit) {
  auto r = Cli({"sandbox", "run", "--json", "--timeout", "1", "--", "/bin/sleep", "30"});
  EXPECT_THAT(r.out, HasSubstr("\"limit\": \"wall_time\""));
  EXPECT_EQ(r.status.exit_code, 128 + 9);
}

TEST_F(CliSandboxTest, UnisolatedModeOnlyByNameAndMarked) {
  auto bad = Cli({"--set", "sandbox.mode=none", "sandbox", "run", "--", "/bin/true"});
  EXPECT_NE(bad.status.exit_code, 0);
  auto r = Cli({"--set", "sandbox.mode=unisolated", "sandbox", "run", "--", "/bin/true"});
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("NOT ISOLATED"));
}

TEST_F(CliSandboxTest, MissingProgramIsAClearError) {
  auto r = Cli({"sandbox", "run", "--", "no-such-program-naut"});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot execute 'no-such-program-naut'"));
}

}  // namespace
}  // namespace naut
