#include "cli/service_unit.h"

#include <gtest/gtest.h>

#include <sstream>

namespace naut::cli {
namespace {

ServiceUnitOptions Options() {
  ServiceUnitOptions o;
  o.binary = "/opt/neuronaut/bin/neuronaut";
  o.home = "/home/ada/.neuronaut";
  o.working_dir = "/home/ada/neuronaut";
  o.env = "rpg";
  return o;
}

// The lines of `section` ("[Service]") in `unit`, comments left out.
std::vector<std::string> Section(const std::string& unit, const std::string& section) {
  std::vector<std::string> lines;
  std::istringstream in(unit);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') {
      inside = line == section;
      continue;
    }
    if (inside && !line.empty() && line.front() != '#') lines.push_back(line);
  }
  return lines;
}

bool Has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(ServiceUnitTest, SystemUnitRunsTheAgentAsANotifyServiceWithAWatchdog) {
  auto unit = ServiceUnitText(Options());
  auto service = Section(unit, "[Service]");
  EXPECT_TRUE(Has(service, "Type=notify")) << unit;
  EXPECT_TRUE(Has(service, "NotifyAccess=main"));
  EXPECT_TRUE(Has(service,
                  "ExecStart=/opt/neuronaut/bin/neuronaut --home /home/ada/.neuronaut "
                  "run --env rpg"))
      << unit;
  EXPECT_TRUE(Has(service, "WorkingDirectory=/home/ada/neuronaut"));
  EXPECT_TRUE(Has(service, "Restart=on-failure"));
  EXPECT_TRUE(Has(service, "RestartSec=15"));
  EXPECT_TRUE(Has(service, "WatchdogSec=60"));
  EXPECT_TRUE(Has(service, "TimeoutStopSec=90"));
  EXPECT_TRUE(Has(service, "KillMode=mixed"));
  EXPECT_TRUE(Has(service, "StandardOutput=journal"));
  EXPECT_TRUE(Has(service, "StandardError=journal"));
  EXPECT_TRUE(Has(service, "NoNewPrivileges=yes"));
  EXPECT_TRUE(Has(service, "ProtectSystem=strict"));
  EXPECT_TRUE(Has(service, "ProtectHome=read-only"));
  EXPECT_TRUE(Has(service, "ReadWritePaths=/home/ada/.neuronaut"));
  EXPECT_TRUE(Has(service, "PrivateTmp=yes"));
  EXPECT_EQ(Section(unit, "[Install]"), std::vector<std::string>{"WantedBy=multi-user.target"});
  EXPECT_TRUE(Has(Section(unit, "[Unit]"), "After=network-online.target"));
}

// NeuroNaut's sandbox needs unprivileged user namespaces and a /proc mount of its own.
TEST(ServiceUnitTest, NothingThatWouldBreakNeuroNautsOwnSandbox) {
  for (bool user : {false, true}) {
    auto o = Options();
    o.user = user;
    for (const auto& line : Section(ServiceUnitText(o), "[Service]")) {
      for (const char* key : {"RestrictNamespaces=", "PrivateUsers=", "ProtectProc=", "ProcSubset=",
                              "ProtectKernelTunables=", "ProtectKernelLogs=", "PrivateDevices=",
                              "DevicePolicy=", "SystemCallFilter=", "MemoryDenyWriteExecute="}) {
        EXPECT_NE(line.rfind(key, 0), 0u) << line;
      }
    }
  }
}

TEST(ServiceUnitTest, UserUnitIsWantedByDefaultTargetAndNeedsNoSystemTargets) {
  auto o = Options();
  o.user = true;
  auto unit = ServiceUnitText(o);
  EXPECT_EQ(Section(unit, "[Install]"), std::vector<std::string>{"WantedBy=default.target"});
  EXPECT_EQ(unit.find("network-online.target"), std::string::npos)
      << "a user manager has no network-online.target";
  EXPECT_NE(unit.find("service install --user"), std::string::npos);
}

TEST(ServiceUnitTest, ConfigFlagsEnvironmentAndExtraWritablePathsArePassedOn) {
  auto o = Options();
  o.config_file = "/etc/neuronaut/neuronaut.toml";
  o.global_args = {"--llm-model", "qwen 7b", "--set", "agent.max_rounds=3"};
  o.environment = {{"LLM_BASE_URL", "http://10.0.0.2:8080"}};
  o.writable = {"/srv/work space"};
  o.env = "/srv/profiles/telegram.toml";
  auto service = Section(ServiceUnitText(o), "[Service]");
  EXPECT_TRUE(Has(service,
                  "ExecStart=/opt/neuronaut/bin/neuronaut --home /home/ada/.neuronaut --config "
                  "/etc/neuronaut/neuronaut.toml --llm-model \"qwen 7b\" --set agent.max_rounds=3 "
                  "run --env /srv/profiles/telegram.toml"));
  EXPECT_TRUE(Has(service, "Environment=LLM_BASE_URL=http://10.0.0.2:8080"));
  EXPECT_TRUE(Has(service, "ReadWritePaths=\"-/srv/work space\""));
}

TEST(ServiceUnitTest, NoPrivateTmpWhenItWouldHideTheDataHome) {
  auto o = Options();
  o.private_tmp = false;
  auto service = Section(ServiceUnitText(o), "[Service]");
  EXPECT_FALSE(Has(service, "PrivateTmp=yes"));
  EXPECT_TRUE(Has(service, "ProtectSystem=strict"));
}

TEST(ServiceUnitTest, WordsAreQuotedAndSpecifiersEscaped) {
  EXPECT_EQ(SystemdQuote("/usr/bin/neuronaut"), "/usr/bin/neuronaut");
  EXPECT_EQ(SystemdQuote("a b"), "\"a b\"");
  EXPECT_EQ(SystemdQuote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(SystemdQuote("100%"), "100%%");
  EXPECT_EQ(SystemdQuote("$HOME"), "$$HOME");
  EXPECT_EQ(SystemdQuote(""), "\"\"");
  EXPECT_EQ(SystemdQuote(";"), "\\;");
  EXPECT_EQ(SystemdQuote("it's"), "\"it's\"");
  // Environment= expands no variables, so $ stays single there; % is a specifier everywhere.
  auto o = Options();
  o.environment = {{"LLM_MODEL", "m$1 50%"}};
  EXPECT_TRUE(Has(Section(ServiceUnitText(o), "[Service]"), "Environment=\"LLM_MODEL=m$1 50%%\""));
}

TEST(ServiceUnitTest, UnitPathFollowsXdgConfigHomeThenHome) {
  EXPECT_EQ(*ServiceUnitPath(false, "", ""), "/etc/systemd/system/neuronaut.service");
  EXPECT_EQ(*ServiceUnitPath(true, "", "/home/ada"),
            "/home/ada/.config/systemd/user/neuronaut.service");
  EXPECT_EQ(*ServiceUnitPath(true, "/xdg", "/home/ada"), "/xdg/systemd/user/neuronaut.service");
  EXPECT_EQ(*ServiceUnitPath(true, "relative", "/home/ada"),
            "/home/ada/.config/systemd/user/neuronaut.service");
  auto none = ServiceUnitPath(true, "", "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("HOME"), std::string::npos);
}

}  // namespace
}  // namespace naut::cli
