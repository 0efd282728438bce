// The steps of sandbox::Run one by one: Plan and Classify as pure functions (no process), then
// a few real runs through all four steps. The hostile cases are in
// tests/integration/sandbox/adversarial_test.cc.

#include "sandbox/sandbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "sandbox/run_steps.h"

namespace naut::sandbox::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr Caller kUser{1234, 2345};
constexpr Caller kRoot{0, 0};
constexpr int64_t kMiB = 1024 * 1024;

// A scratch workspace per test.
class SandboxStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    root_ = fs::temp_directory_path() / ("naut-sandbox-unit-" + std::to_string(rd()));
    fs::create_directories(root_ / "ws" / "sub");
    workspace_ = fs::canonical(root_ / "ws");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  Spec MakeSpec(Mode mode = Mode::kIsolated) const {
    Spec spec;
    spec.argv = {"python3", "-c", "print(1)"};
    spec.workspace = workspace_;
    spec.mode = mode;
    return spec;
  }

  RunPlan PlanOk(const Spec& spec, const Caller& caller = kUser) const {
    auto plan = Plan(spec, caller);
    EXPECT_TRUE(plan.ok()) << plan.error().ToString();
    return plan.ok() ? std::move(*plan) : RunPlan{};
  }

  fs::path root_, workspace_;
};

// ---- Plan ----------------------------------------------------------------------------------

using PlanTest = SandboxStepTest;

TEST_F(PlanTest, IsolatedEnvironmentHasItsHomeAndTmpInTheSandbox) {
  RunPlan plan = PlanOk(MakeSpec());
  EXPECT_THAT(plan.child.env,
              ElementsAre("HOME=/tmp", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin",
                          "PYTHONDONTWRITEBYTECODE=1", "TMPDIR=/tmp", "USER=sandbox"));
}

TEST_F(PlanTest, UnisolatedHomeIsTheWorkspaceAndTmpTheHosts) {
  RunPlan plan = PlanOk(MakeSpec(Mode::kUnisolated));
  EXPECT_THAT(plan.child.env, Contains("HOME=" + workspace_.string()));
  EXPECT_THAT(plan.child.env, Contains("TMPDIR=/tmp"));
  EXPECT_FALSE(plan.isolated);
  EXPECT_FALSE(plan.child.isolated);
}

TEST_F(PlanTest, SpecEnvironmentOverridesTheDefaults) {
  Spec spec = MakeSpec();
  spec.env = {{"HOME", "/work/home"}, {"NAUT_X", "1"}};
  RunPlan plan = PlanOk(spec);
  EXPECT_THAT(plan.child.env, Contains("HOME=/work/home"));
  EXPECT_THAT(plan.child.env, Not(Contains("HOME=/tmp")));
  EXPECT_THAT(plan.child.env, Contains("NAUT_X=1"));
}

TEST_F(PlanTest, WorkdirIsResolvedInsideTheWorkspace) {
  Spec spec = MakeSpec();
  EXPECT_EQ(PlanOk(spec).child.workdir, "/work");
  spec.workdir = "sub/";
  EXPECT_EQ(PlanOk(spec).child.workdir, "/work/sub");
  spec.workdir = "sub/../sub/x";
  EXPECT_EQ(PlanOk(spec).child.workdir, "/work/sub/x");
  spec.mode = Mode::kUnisolated;
  spec.workdir = "";
  EXPECT_EQ(PlanOk(spec).child.workdir, workspace_.string());
  spec.workdir = "sub";
  EXPECT_EQ(PlanOk(spec).child.workdir, (workspace_ / "sub").string());
}

TEST_F(PlanTest, BadSpecsAreRefusedNamingWhatIsWrong) {
  Spec spec = MakeSpec();
  spec.argv.clear();
  EXPECT_EQ(Plan(spec, kUser).error().code(), Code::kInvalidArgument);
  spec.argv = {""};
  EXPECT_EQ(Plan(spec, kUser).error().code(), Code::kInvalidArgument);

  spec = MakeSpec();
  spec.workspace = root_ / "missing";
  auto missing = Plan(spec, kUser);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(missing.error().message(), HasSubstr("missing' is not a directory"));

  for (const char* workdir : {"../elsewhere", "/etc", "sub/../../x"}) {
    spec = MakeSpec();
    spec.workdir = workdir;
    auto r = Plan(spec, kUser);
    ASSERT_FALSE(r.ok()) << workdir;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << workdir;
    EXPECT_THAT(r.error().message(), HasSubstr("must be relative and inside the workspace"));
  }
}

TEST_F(PlanTest, BareProgramIsLookedUpAndAPathIsTakenAsGiven) {
  Spec spec = MakeSpec();
  RunPlan plan = PlanOk(spec);
  EXPECT_THAT(plan.child.exec_paths,
              ElementsAre("/usr/local/bin/python3", "/usr/bin/python3", "/bin/python3",
                          "/usr/local/sbin/python3", "/usr/sbin/python3", "/sbin/python3"));
  EXPECT_THAT(plan.child.args, ElementsAre("python3", "-c", "print(1)"));
  EXPECT_EQ(plan.program, "python3");
  spec.argv = {"./run.sh"};
  EXPECT_THAT(PlanOk(spec).child.exec_paths, ElementsAre("./run.sh"));
  spec.argv = {"/usr/bin/env"};
  EXPECT_THAT(PlanOk(spec).child.exec_paths, ElementsAre("/usr/bin/env"));
}

TEST_F(PlanTest, IsolatedCommandRunsAsTheInsideIdMappedToTheCaller) {
  RunPlan plan = PlanOk(MakeSpec(), kUser);
  EXPECT_TRUE(plan.child.change_ids);
  EXPECT_EQ(plan.child.inside_uid, kInsideId);
  EXPECT_EQ(plan.child.inside_gid, kInsideId);
  EXPECT_FALSE(plan.child.drop_groups);
  EXPECT_TRUE(plan.deny_setgroups);
  EXPECT_EQ(plan.uid_map, "1000 1234 1\n");
  EXPECT_EQ(plan.gid_map, "1000 2345 1\n");
  EXPECT_FALSE(plan.hand_workspace);
}

TEST_F(PlanTest, RootCallerIsMappedToTheUnprivilegedHostId) {
  RunPlan plan = PlanOk(MakeSpec(), kRoot);
  EXPECT_EQ(plan.child.inside_uid, kInsideId);
  EXPECT_TRUE(plan.child.drop_groups);
  EXPECT_FALSE(plan.deny_setgroups);
  EXPECT_EQ(plan.uid_map, "1000 1999999 1\n");
  EXPECT_EQ(plan.gid_map, "1000 1999999 1\n");
  EXPECT_TRUE(plan.hand_workspace);
}

TEST_F(PlanTest, UnisolatedKeepsTheCallersIdsUnlessRoot) {
  RunPlan user = PlanOk(MakeSpec(Mode::kUnisolated), kUser);
  EXPECT_FALSE(user.child.change_ids);
  EXPECT_FALSE(user.child.drop_groups);
  EXPECT_FALSE(user.hand_workspace);
  EXPECT_THAT(user.uid_map, IsEmpty());
  RunPlan root = PlanOk(MakeSpec(Mode::kUnisolated), kRoot);
  EXPECT_TRUE(root.child.change_ids);
  EXPECT_EQ(root.child.inside_uid, kHostIdWhenRoot);
  EXPECT_EQ(root.child.inside_gid, kHostIdWhenRoot);
  EXPECT_TRUE(root.child.drop_groups);
  EXPECT_TRUE(root.hand_workspace);
}

TEST_F(PlanTest, LimitsBecomeRlimits) {
  Spec spec = MakeSpec();
  spec.limits.cpu_s = 2.5;
  spec.limits.memory_mb = 300;
  spec.limits.processes = 7;
  spec.limits.file_size_mb = 5;
  spec.limits.open_files = 99;
  std::map<int, std::pair<rlim_t, rlim_t>> got;
  for (const auto& l : PlanOk(spec).child.limits)
    got[l.resource] = {l.value.rlim_cur, l.value.rlim_max};
  using P = std::pair<rlim_t, rlim_t>;
  EXPECT_EQ(got[RLIMIT_CPU], P(3, 4));  // whole seconds, SIGKILL one second after SIGXCPU
  EXPECT_EQ(got[RLIMIT_AS], P(300 * kMiB, 300 * kMiB));
  EXPECT_EQ(got[RLIMIT_NPROC], P(7, 7));
  EXPECT_EQ(got[RLIMIT_FSIZE], P(5 * kMiB, 5 * kMiB));
  EXPECT_EQ(got[RLIMIT_NOFILE], P(99, 99));
  EXPECT_EQ(got[RLIMIT_CORE], P(0, 0));
  EXPECT_EQ(got[RLIMIT_MEMLOCK], P(64 * 1024, 64 * 1024));
  spec.limits.cpu_s = 0.2;
  for (const auto& l : PlanOk(spec).child.limits) {
    if (l.resource == RLIMIT_CPU) {
      EXPECT_EQ(P(l.value.rlim_cur, l.value.rlim_max), P(1, 2));
    }
  }
}

bool HasStep(const RunPlan& plan, MountStep::Kind kind, const std::string& source,
             const std::string& target, const std::string& data = "") {
  return std::any_of(plan.child.steps.begin(), plan.child.steps.end(), [&](const MountStep& s) {
    return s.kind == kind && s.source == source && s.target == target && s.data == data;
  });
}

const MountStep* FindStep(const RunPlan& plan, MountStep::Kind kind, const std::string& target) {
  for (const auto& s : plan.child.steps) {
    if (s.kind == kind && s.target == target) return &s;
  }
  return nullptr;
}

TEST_F(PlanTest, IsolatedRootHasTheWorkspaceAPrivateTmpAndItsOwnProc) {
  Spec spec = MakeSpec();
  spec.limits.tmp_mb = 32;
  spec.limits.max_new_files = 500;
  RunPlan plan = PlanOk(spec);
  EXPECT_TRUE(HasStep(plan, MountStep::Kind::kTmpfs, "", "/newroot/tmp",
                      "size=32m,nr_inodes=500,mode=1777"));
  EXPECT_TRUE(HasStep(plan, MountStep::Kind::kTmpfs, "", "/newroot/dev/shm",
                      "size=32m,nr_inodes=500,mode=1777"));
  EXPECT_TRUE(HasStep(plan, MountStep::Kind::kProc, "", "/newroot/proc"));
  const MountStep* work = FindStep(plan, MountStep::Kind::kBind, "/newroot/work");
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->source, "/oldroot" + workspace_.string());
  EXPECT_FALSE(work->read_only);
  const MountStep* usr = FindStep(plan, MountStep::Kind::kBind, "/newroot/usr");
  ASSERT_NE(usr, nullptr);
  EXPECT_TRUE(usr->read_only);
  EXPECT_TRUE(HasStep(plan, MountStep::Kind::kWriteFile, "", "/newroot/etc/hostname", "sandbox\n"));
  EXPECT_EQ(FindStep(plan, MountStep::Kind::kBind, "/newroot/etc/shadow"), nullptr);

  EXPECT_THAT(PlanOk(MakeSpec(Mode::kUnisolated)).child.steps, IsEmpty());
}

TEST_F(PlanTest, ExtraBindsAreCheckedAndPlanned) {
  fs::create_directories(root_ / "tools");
  Spec spec = MakeSpec();
  spec.binds = {{root_ / "tools", "/opt/tools", false}};
  RunPlan plan = PlanOk(spec);
  const MountStep* tools = FindStep(plan, MountStep::Kind::kBind, "/newroot/opt/tools");
  ASSERT_NE(tools, nullptr);
  EXPECT_EQ(tools->source, "/oldroot" + fs::canonical(root_ / "tools").string());
  EXPECT_TRUE(tools->read_only);

  spec.binds = {{"tools", "/opt/tools", false}};
  EXPECT_EQ(Plan(spec, kUser).error().code(), Code::kInvalidArgument);
  for (const char* reserved : {"/usr/local/x", "/work/sub", "/etc", "/tmp/x"}) {
    spec.binds = {{root_ / "tools", reserved, false}};
    auto r = Plan(spec, kUser);
    ASSERT_FALSE(r.ok()) << reserved;
    EXPECT_THAT(r.error().message(), HasSubstr("is built by the sandbox")) << reserved;
  }
  spec.binds = {{root_ / "nothing-here", "/opt/x", false}};
  auto missing = Plan(spec, kUser);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("nothing-here"));
}

// ---- Classify ------------------------------------------------------------------------------

std::string Record(ReportTag tag, int32_t error = 0, int32_t wait_status = 0,
                   const std::string& what = "") {
  ReportRecord record{};
  record.tag = tag;
  record.error = error;
  record.wait_status = wait_status;
  std::memcpy(record.what, what.data(), std::min(what.size(), sizeof(record.what)));
  return std::string(reinterpret_cast<const char*>(&record), sizeof(record));
}

int Exited(int code) { return code << 8; }
int Signalled(int sig) { return sig; }

RawOutcome Outcome(std::string report, LimitHit stop = LimitHit::kNone, int launched_status = 0) {
  RawOutcome raw;
  raw.stop = stop;
  raw.launched_status = launched_status;
  raw.report = std::move(report);
  raw.out.cap = raw.err.cap = 1024;
  raw.wall_s = 1.5;
  raw.cpu_s = 0.25;
  raw.peak_memory_kb = 4096;
  return raw;
}

Limits TestLimits() {
  Limits l;
  l.wall_s = 5;
  l.cpu_s = 2.5;
  l.memory_mb = 256;
  l.file_size_mb = 8;
  l.disk_mb = 48;
  l.max_new_files = 2000;
  return l;
}

RunResult ClassifyOk(RawOutcome raw, bool isolated = true) {
  auto r = Classify(std::move(raw), isolated, TestLimits(), "prog");
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(*r) : RunResult{};
}

TEST(ClassifyTest, TheReportedExitIsTheResult) {
  RunResult r = ClassifyOk(Outcome(Record(kReportExit, 0, Exited(3))));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.limit, LimitHit::kNone);
  EXPECT_THAT(r.limit_detail, IsEmpty());
  EXPECT_TRUE(r.isolated);
  EXPECT_EQ(r.wall_s, 1.5);
  EXPECT_EQ(r.cpu_s, 0.25);
  EXPECT_EQ(r.peak_memory_kb, 4096);
  EXPECT_TRUE(ClassifyOk(Outcome(Record(kReportExit, 0, Exited(0)))).success());
}

TEST(ClassifyTest, WallClockStopBeforeAnyReportIsAKill) {
  RunResult r = ClassifyOk(Outcome("", LimitHit::kWallTime, Signalled(SIGKILL)));
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.limit, LimitHit::kWallTime);
  EXPECT_EQ(r.limit_detail, "wall-clock limit of 5 s reached; every process of the run was killed");
  EXPECT_FALSE(r.success());
}

TEST(ClassifyTest, AStopKeepsTheStatusTheCommandReported) {
  RunResult r = ClassifyOk(Outcome(Record(kReportExit, 0, Exited(0)), LimitHit::kWallTime));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.limit, LimitHit::kWallTime);
  EXPECT_FALSE(r.success());
}

TEST(ClassifyTest, EachStopOfTheSupervisorSaysWhatWasHit) {
  RunResult disk = ClassifyOk(Outcome("", LimitHit::kDisk));
  EXPECT_EQ(disk.limit, LimitHit::kDisk);
  EXPECT_EQ(disk.signal, SIGKILL);
  EXPECT_EQ(disk.limit_detail,
            "disk limit of 48 MiB written to the workspace reached; every process of the run was "
            "killed");
  RunResult files = ClassifyOk(Outcome("", LimitHit::kFiles));
  EXPECT_EQ(files.limit, LimitHit::kFiles);
  EXPECT_EQ(files.limit_detail,
            "limit of 2000 new files in the workspace reached; every process of the run was "
            "killed");
  RunResult cancelled = ClassifyOk(Outcome("", LimitHit::kCancelled));
  EXPECT_EQ(cancelled.limit, LimitHit::kCancelled);
  EXPECT_EQ(cancelled.limit_detail, "cancelled by the caller; every process of the run was killed");
}

TEST(ClassifyTest, TheEndingTellsTheCpuLimit) {
  RunResult xcpu = ClassifyOk(Outcome(Record(kReportExit, 0, Signalled(SIGXCPU))));
  EXPECT_EQ(xcpu.signal, SIGXCPU);
  EXPECT_EQ(xcpu.limit, LimitHit::kCpuTime);
  EXPECT_EQ(xcpu.limit_detail, "CPU time limit of 3 s per process reached");
  // A shell reports its child's signal as 128 + signal.
  EXPECT_EQ(ClassifyOk(Outcome(Record(kReportExit, 0, Exited(128 + SIGXCPU)))).limit,
            LimitHit::kCpuTime);
  // SIGKILL at the hard limit, once the CPU seconds are spent...
  RawOutcome spent = Outcome(Record(kReportExit, 0, Signalled(SIGKILL)));
  spent.cpu_s = 3.0;
  EXPECT_EQ(ClassifyOk(std::move(spent)).limit, LimitHit::kCpuTime);
  // ... and not before.
  RunResult killed = ClassifyOk(Outcome(Record(kReportExit, 0, Signalled(SIGKILL))));
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_EQ(killed.limit, LimitHit::kNone);
}

TEST(ClassifyTest, TheEndingTellsTheFileSizeAndMemoryLimits) {
  RunResult fsize = ClassifyOk(Outcome(Record(kReportExit, 0, Signalled(SIGXFSZ))));
  EXPECT_EQ(fsize.limit, LimitHit::kFileSize);
  EXPECT_EQ(fsize.limit_detail, "file size limit of 8 MiB reached");

  RawOutcome oom = Outcome(Record(kReportExit, 0, Exited(1)));
  const std::string trace = "Traceback ...\nMemoryError\n";
  oom.err.Add(trace.data(), trace.size());
  RunResult memory = ClassifyOk(std::move(oom));
  EXPECT_EQ(memory.limit, LimitHit::kMemory);
  EXPECT_EQ(memory.limit_detail, "memory limit of 256 MiB (address space per process) reached");

  // A command that succeeded only mentioned it.
  RawOutcome fine = Outcome(Record(kReportExit, 0, Exited(0)));
  fine.err.Add(trace.data(), trace.size());
  EXPECT_EQ(ClassifyOk(std::move(fine)).limit, LimitHit::kNone);
}

TEST(ClassifyTest, OutputBeyondTheCapIsDroppedVisibly) {
  RawOutcome raw = Outcome(Record(kReportExit, 0, Exited(0)));
  raw.out.cap = 10;
  const std::string text = "0123456789abcdefghijklmno";  // 25 bytes
  raw.out.Add(text.data(), 20);
  raw.out.Add(text.data() + 20, 5);
  raw.err.Add("oops\n", 5);
  RunResult r = ClassifyOk(std::move(raw));
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.out_bytes, 25);
  EXPECT_EQ(r.out, "0123456789\n[sandbox: output truncated, 15 more bytes not shown]\n");
  EXPECT_FALSE(r.err_truncated);
  EXPECT_EQ(r.err_bytes, 5);
  EXPECT_EQ(r.err, "oops\n");
}

TEST(ClassifyTest, SetupAndExecFailuresAreErrorsNotResults) {
  auto setup = Classify(Outcome(Record(kReportSetupError, ENOENT, 0, "bind /newroot/opt/x")), true,
                        TestLimits(), "prog");
  ASSERT_FALSE(setup.ok());
  EXPECT_EQ(setup.error().code(), Code::kInternal);
  EXPECT_EQ(setup.error().message(),
            "sandbox: setting up the sandbox failed at 'bind "
            "/newroot/opt/x': " +
                std::string(std::strerror(ENOENT)));
  auto exec = Classify(Outcome(Record(kReportExecError, EACCES)), true, TestLimits(), "prog");
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.error().code(), Code::kNotFound);
  EXPECT_EQ(exec.error().message(),
            "sandbox: cannot execute 'prog': " + std::string(std::strerror(EACCES)));
}

TEST(DecodeReportTest, BadBytesAreBoundedOrIgnored) {
  // A step name that fills the record without its terminator stops at the record's end.
  auto unterminated = DecodeReport(Record(kReportSetupError, EPERM, 0, std::string(300, 'x')), "p");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_THAT(unterminated.error().message(),
              AllOf(HasSubstr("'" + std::string(sizeof(ReportRecord::what) - 1, 'x') + "'"),
                    Not(HasSubstr(std::string(sizeof(ReportRecord::what), 'x')))));
  // A partial record, an unknown tag: no status.
  auto partial = DecodeReport(Record(kReportExit, 0, Exited(0)).substr(0, 5), "p");
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
  std::string garbage(sizeof(ReportRecord) * 2, '\xff');
  auto unknown = DecodeReport(garbage, "p");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());
  // Whole records in order: an exit after garbage counts, a failure after an exit wins.
  auto after = DecodeReport(garbage + Record(kReportExit, 0, Exited(4)) + "\x01\x02", "p");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->value_or(-1), Exited(4));
  auto failed =
      DecodeReport(Record(kReportExit, 0, Exited(0)) + Record(kReportExecError, ENOENT), "p");
  EXPECT_FALSE(failed.ok());
}

TEST(ClassifyTest, IsolatedRunWithoutAReportOrAStopIsAnError) {
  auto none = Classify(Outcome("", LimitHit::kNone, Signalled(SIGKILL)), true, TestLimits(), "p");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), Code::kInternal);
  EXPECT_EQ(none.error().message(), "sandbox: the sandbox ended without a report (signal 9)");
  auto garbage = Classify(Outcome(std::string("R\0\0", 3), LimitHit::kNone, Exited(125)), true,
                          TestLimits(), "p");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().message(), "sandbox: the sandbox ended without a report (status 125)");
}

TEST(ClassifyTest, UnisolatedStatusIsTheLaunchedChilds) {
  RunResult r = ClassifyOk(Outcome("", LimitHit::kNone, Exited(7)), /*isolated=*/false);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.isolated);
  EXPECT_THAT(r.Describe(), HasSubstr("NOT ISOLATED"));
  RunResult signalled = ClassifyOk(Outcome("", LimitHit::kNone, Signalled(SIGTERM)), false);
  EXPECT_EQ(signalled.signal, SIGTERM);
}

// ---- Real runs through every step ----------------------------------------------------------

class SandboxRunTest : public SandboxStepTest {
 protected:
  void SetUp() override {
    SandboxStepTest::SetUp();
    if (Status s = CheckIsolationAvailable(); !s.ok()) {
      GTEST_SKIP() << "no sandbox on this machine: " << s.ToString();
    }
  }
  Spec Shell(const std::string& script, Mode mode = Mode::kIsolated) const {
    Spec spec = MakeSpec(mode);
    spec.argv = {"/bin/sh", "-c", script};
    spec.limits.wall_s = 20;
    return spec;
  }
};

TEST_F(SandboxRunTest, StdinOutputAndExitCodeGoThrough) {
  Spec spec = Shell("cat; echo err >&2; exit 3");
  spec.stdin_data = "hello";
  auto r = sandbox::Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->out, "hello");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->limit, LimitHit::kNone);
  EXPECT_TRUE(r->isolated);
}

TEST_F(SandboxRunTest, TheCommandSeesThePlannedEnvironmentAndWorkdir) {
  Spec spec = Shell("echo $HOME $TMPDIR $USER; pwd; id -u");
  spec.workdir = "sub";
  auto r = sandbox::Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->out, "/tmp /tmp sandbox\n/work/sub\n1000\n");
}

TEST_F(SandboxRunTest, TheWallClockStopKillsTheRun) {
  Spec spec = Shell("sleep 30");
  spec.limits.wall_s = 0.5;
  auto r = sandbox::Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->limit, LimitHit::kWallTime);
  EXPECT_EQ(r->signal, SIGKILL);
}

TEST_F(SandboxRunTest, ACancelledRunIsKilled) {
  std::stop_source stop;
  stop.request_stop();
  auto r = sandbox::Run(Shell("sleep 30"), stop.get_token());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->limit, LimitHit::kCancelled);
  EXPECT_EQ(r->signal, SIGKILL);
}

TEST_F(SandboxRunTest, AMissingProgramIsNotFound) {
  Spec spec = MakeSpec();
  spec.argv = {"naut-no-such-program"};
  auto r = sandbox::Run(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("cannot execute 'naut-no-such-program'"));
}

using UnisolatedRunTest = SandboxStepTest;

TEST_F(UnisolatedRunTest, HasTheWorkspaceAsHomeAndWorkdir) {
  Spec spec = MakeSpec(Mode::kUnisolated);
  spec.argv = {"/bin/sh", "-c", "echo $HOME; pwd; echo late >&2"};
  spec.limits.wall_s = 20;
  auto r = sandbox::Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->out, workspace_.string() + "\n" + workspace_.string() + "\n");
  EXPECT_EQ(r->err, "late\n");
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->isolated);
}

}  // namespace
}  // namespace naut::sandbox::internal
