#include "sandbox/sandbox.h"

#include <unistd.h>

#include <cstring>
#include <system_error>

#include "sandbox/run_steps.h"

namespace naut::sandbox {

namespace fs = std::filesystem;

Result<Mode> ParseMode(std::string_view text) {
  if (text == "isolated") return Mode::kIsolated;
  if (text == "unisolated") return Mode::kUnisolated;
  return InvalidArgument("sandbox: mode '" + std::string(text) +
                         "' is not one of isolated, unisolated");
}

Limits Limits::FromConfig(const SandboxConfig& config) {
  Limits l;
  l.cpu_s = config.cpu_s;
  l.wall_s = config.wall_s;
  l.memory_mb = config.memory_mb;
  l.processes = config.processes;
  l.file_size_mb = config.file_size_mb;
  l.open_files = config.open_files;
  l.output_kb = config.output_kb;
  return l;
}

std::string_view LimitName(LimitHit hit) {
  switch (hit) {
    case LimitHit::kNone:
      return "none";
    case LimitHit::kWallTime:
      return "wall_time";
    case LimitHit::kCpuTime:
      return "cpu_time";
    case LimitHit::kMemory:
      return "memory";
    case LimitHit::kFileSize:
      return "file_size";
    case LimitHit::kDisk:
      return "disk";
    case LimitHit::kFiles:
      return "files";
    case LimitHit::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string RunResult::Describe() const {
  std::string text =
      signal != 0 ? "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")"
                  : "exit code " + std::to_string(exit_code);
  if (limit != LimitHit::kNone) text += "; " + limit_detail;
  if (!isolated) text += "; NOT ISOLATED (sandbox mode 'unisolated')";
  return text;
}

Json RunResult::ToJson() const {
  Json j = {
      {"exit_code", signal != 0 ? Json(nullptr) : Json(exit_code)},
      {"signal", signal != 0 ? Json(signal) : Json(nullptr)},
      {"limit", limit == LimitHit::kNone ? Json(nullptr) : Json(std::string(LimitName(limit)))},
      {"stdout", out},
      {"stderr", err},
      {"stdout_truncated", out_truncated},
      {"stderr_truncated", err_truncated},
      {"wall_s", wall_s},
      {"cpu_s", cpu_s},
      {"peak_memory_kb", peak_memory_kb},
      {"isolated", isolated}};
  if (limit != LimitHit::kNone) j["limit_detail"] = limit_detail;
  return j;
}

Result<RunResult> Run(const Spec& spec, std::stop_token cancel) {
  NAUT_ASSIGN_OR_RETURN(internal::RunPlan plan, internal::Plan(spec, internal::CurrentCaller()));
  NAUT_ASSIGN_OR_RETURN(internal::LaunchedChild child, internal::Launch(plan));
  NAUT_ASSIGN_OR_RETURN(
      internal::RawOutcome raw,
      internal::Supervise(child, spec.stdin_data, plan.limits, plan.workspace, std::move(cancel)));
  return internal::Classify(std::move(raw), plan.isolated, plan.limits, plan.program);
}

Status CheckIsolationAvailable() {
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec) / ("naut-sandbox-check-" + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  if (ec) return Internal("sandbox: cannot create '" + dir.string() + "': " + ec.message());
  Spec spec;
  spec.argv = {"/bin/true"};
  spec.workspace = dir;
  spec.limits.wall_s = 20;
  auto result = Run(spec);
  fs::remove_all(dir, ec);
  if (!result.ok()) return result.error();
  if (!result->success())
    return Internal("sandbox: /bin/true failed inside the sandbox: " + result->Describe() + " " +
                    result->err);
  return Status::Ok();
}

}  // namespace naut::sandbox
