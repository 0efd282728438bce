#pragma once
// Shared fixture of the sandbox integration tests: a scratch tree with a workspace, a host
// "secret" outside it and a fake data home; a snapshot of everything the sandbox must not
// change, compared after every test; and a scan for processes that outlived their run.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "sandbox/sandbox.h"

namespace naut::sandbox::testing {

class HostGuardTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs under the sandbox with the fixture's workspace, the marker in the environment and
  // `limits` (defaults shortened for tests).
  RunResult Run(std::vector<std::string> argv, const Limits& limits, std::string stdin_data = {});
  RunResult Python(const std::string& code, const Limits& limits);
  RunResult Python(const std::string& code) { return Python(code, TestLimits()); }
  RunResult Shell(const std::string& script, const Limits& limits);
  RunResult Shell(const std::string& script) { return Shell(script, TestLimits()); }

  static Limits TestLimits();

  // Everything outside the workspace the fixture owns, path -> content (+ mode).
  std::map<std::string, std::string> Snapshot() const;
  // Host processes whose environment carries this test's marker.
  std::vector<pid_t> Leftovers() const;

  std::filesystem::path root_, workspace_, outside_, home_;
  std::string token_;
  std::string secret_;  // content of outside_/secret.txt
  std::map<std::string, std::string> snapshot_;
  std::string hostname_;
  Mode mode_ = Mode::kIsolated;
};

std::string ReadAll(const std::filesystem::path& path);

}  // namespace naut::sandbox::testing
