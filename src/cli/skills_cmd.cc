// neuronaut skills list|show|search|add|rm|export|import (and consolidate, in run_cmd.cc): the
// learned skill library.

#include <fstream>
#include <iostream>
#include <memory>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/files.h"
#include "core/json.h"
#include "memory/memory_store.h"
#include "skills/skill_store.h"

namespace naut::cli {

namespace {

// A bundle holds a whole skill library (code, docs, versions); it may outgrow the default JSON
// size cap that suits one message.
constexpr size_t kMaxBundleBytes = 64 * 1024 * 1024;

struct SkillArgs {
  std::string name, query, file, output, env;
  std::vector<std::string> names, tags;
  int version = 0;
  size_t top_k = 5;
  bool all = false, json = false, allow_near = false;
};

// Both stores; the memory store must outlive the skill store.
struct Library {
  std::unique_ptr<memory::MemoryStore> memory;
  std::unique_ptr<skills::SkillStore> skills;
};

Result<Library> OpenLibrary(Context& ctx) {
  NAUT_ASSIGN_OR_RETURN(Config config, ctx.LoadConfig());
  Library lib;
  NAUT_ASSIGN_OR_RETURN(lib.memory, memory::OpenMemoryStore(config));
  NAUT_ASSIGN_OR_RETURN(DataHome home, OpenDataHome(config.home));
  NAUT_ASSIGN_OR_RETURN(lib.skills,
                        skills::SkillStore::Open(*lib.memory, {.skills_dir = home.skills_dir()}));
  return lib;
}

// The last line of an error (a traceback ends with what went wrong), at most 160 characters.
std::string OneLineError(std::string e) {
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  const size_t nl = e.rfind('\n');
  if (nl != std::string::npos) e = e.substr(nl + 1);
  return e.size() > 160 ? e.substr(0, 157) + "..." : e;
}

void PrintLine(const skills::Skill& k) {
  std::cout << k.name << " v" << k.version
            << (!k.consolidated_into.empty()
                    ? (k.consolidated_into.find(',') != std::string::npos ? " (split into "
                                                                          : " (merged into ") +
                          k.consolidated_into + ")"
                : k.superseded ? " (superseded)"
                               : "")
            << (k.verification == skills::Verification::kUnverified
                    ? ""
                    : " (" + std::string(skills::ToString(k.verification)) + ")")
            << (k.retired ? " (retired: failed " + std::to_string(k.failures_in_a_row) +
                                " times in a row)"
                          : "")
            << "  " << k.description << "  [used " << k.uses << ", ok " << k.successes
            << ", failed " << k.failures << (k.environment.empty() ? "" : ", env " + k.environment)
            << "]\n";
  if (!k.last_error.empty() && k.failures > 0)
    std::cout << "    last error: " << OneLineError(k.last_error) << "\n";
  if (k.verification == skills::Verification::kDraft)
    std::cout << "    check failed: " << OneLineError(k.verification_note) << "\n";
}

int List(Context& ctx, const SkillArgs& a) {
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto list = lib->skills->List(a.all);
  if (!list) return Fail(list.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& k : *list) out.push_back(skills::SkillToJson(k, false));
    std::cout << DumpJson(out, 2) << "\n";
  } else if (list->empty()) {
    std::cout << "no skills yet\n";
  } else {
    for (const auto& k : *list) PrintLine(k);
  }
  return kExitOk;
}

int Show(Context& ctx, const SkillArgs& a) {
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto k = lib->skills->Get(a.name, a.version);
  if (!k) return Fail(k.error());
  if (a.json) {
    std::cout << DumpJson(skills::SkillToJson(*k, true), 2) << "\n";
    return kExitOk;
  }
  PrintLine(*k);
  if (auto cases = lib->skills->Cases(k->name); cases && !cases->empty()) {
    std::cout << "passed on:\n";
    for (const auto& c : *cases) std::cout << "    " << c.call << " for \"" << c.task << "\"\n";
  }
  std::cout << "signature: " << skills::SkillSignature(*k)
            << "\nfile: " << lib->skills->FileOf(k->name).string() << "\n\n"
            << k->code << (k->code.empty() || k->code.back() != '\n' ? "\n" : "");
  return kExitOk;
}

int Search(Context& ctx, const SkillArgs& a) {
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto hits = lib->skills->Search(a.query, a.top_k, a.env, a.tags);
  if (!hits) return Fail(hits.error());
  if (a.json) {
    Json out = Json::array();
    for (const auto& h : *hits) {
      Json j = skills::SkillToJson(h.skill, false);
      j["score"] = h.score;
      j["similarity"] = h.similarity;
      out.push_back(std::move(j));
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  if (hits->empty()) std::cout << "no skills match\n";
  for (const auto& h : *hits) PrintLine(h.skill);
  return kExitOk;
}

int AddSkill(Context& ctx, const SkillArgs& a) {
  auto code = ReadFile(a.file);
  if (!code) return Fail(code.error());
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto added = lib->skills->Add(
      {.code = *code, .environment = a.env, .tags = a.tags, .allow_near_duplicate = a.allow_near});
  if (!added) return Fail(added.error());
  if (added->unchanged) {
    std::cout << added->skill.name << " v" << added->skill.version << " unchanged\n";
  } else {
    std::cout << "stored " << added->skill.name << " v" << added->skill.version
              << (added->superseded
                      ? " (supersedes v" + std::to_string(added->superseded->version) + ")"
                      : "")
              << "\n";
  }
  return kExitOk;
}

int Remove(Context& ctx, const SkillArgs& a) {
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  Status s = lib->skills->Remove(a.name);
  if (!s.ok()) return Fail(s);
  std::cout << "removed " << a.name << "\n";
  return kExitOk;
}

int Export(Context& ctx, const SkillArgs& a) {
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto bundle = lib->skills->Export(a.names);
  if (!bundle) return Fail(bundle.error());
  std::string text = DumpJson(*bundle, 2) + "\n";
  if (a.output.empty() || a.output == "-") {
    std::cout << text;
    return kExitOk;
  }
  Status s = WriteFileAtomic(a.output, text);
  if (!s.ok()) return Fail(s);
  std::cerr << "exported " << (*bundle)["skills"].size() << " skills to " << a.output << "\n";
  return kExitOk;
}

int Import(Context& ctx, const SkillArgs& a) {
  auto text = ReadFile(a.file);
  if (!text) return Fail(text.error());
  auto bundle = ParseJson(*text, a.file, kMaxBundleBytes);
  if (!bundle) return Fail(bundle.error());
  auto lib = OpenLibrary(ctx);
  if (!lib) return Fail(lib.error());
  auto report = lib->skills->Import(*bundle, a.allow_near);
  if (!report) return Fail(report.error());
  for (const auto& n : report->added) std::cout << "added " << n << "\n";
  for (const auto& n : report->unchanged) std::cout << "unchanged " << n << "\n";
  for (const auto& [n, why] : report->refused) std::cout << "refused " << n << ": " << why << "\n";
  return report->refused.empty() ? kExitOk : kExitFailure;
}

}  // namespace

void AddSkillsCommands(CLI::App& app, Context& ctx) {
  auto* sk = app.add_subcommand(
      "skills",
      "The learned skill library: list, show, search, add, rm, export, import, consolidate");
  sk->require_subcommand(1);
  auto a = std::make_shared<SkillArgs>();

  auto* list = sk->add_subcommand("list", "List the current skills");
  list->add_flag("--all", a->all, "Include superseded versions");
  list->add_flag("--json", a->json, "Print JSON");
  list->callback([&ctx, a] { ctx.exit_code = List(ctx, *a); });

  auto* show = sk->add_subcommand("show", "Print a skill's code and counts");
  show->add_option("name", a->name, "Skill name")->required();
  show->add_option("--version", a->version, "A specific version (default: the current one)");
  show->add_flag("--json", a->json, "Print JSON");
  show->callback([&ctx, a] { ctx.exit_code = Show(ctx, *a); });

  auto* search = sk->add_subcommand("search", "Find skills for a task (by meaning and words)");
  search->add_option("query", a->query, "The task")->required();
  search->add_option("-k,--top-k", a->top_k, "How many results")->capture_default_str();
  search->add_option("--env", a->env, "Only this environment");
  search->add_option("--tag", a->tags, "Only skills with this tag (repeatable)");
  search->add_flag("--json", a->json, "Print JSON");
  search->callback([&ctx, a] { ctx.exit_code = Search(ctx, *a); });

  auto* add = sk->add_subcommand("add", "Validate and store a skill from a Python file");
  add->add_option("file", a->file, "Python file with one documented entry function")->required();
  add->add_option("--env", a->env, "Environment it belongs to");
  add->add_option("--tag", a->tags, "Tag (repeatable)");
  add->add_flag("--allow-near-duplicate", a->allow_near, "Store it even when a twin exists");
  add->callback([&ctx, a] { ctx.exit_code = AddSkill(ctx, *a); });

  auto* rm = sk->add_subcommand("rm", "Delete a skill (every version) and its file");
  rm->add_option("name", a->name, "Skill name")->required();
  rm->callback([&ctx, a] { ctx.exit_code = Remove(ctx, *a); });

  auto* exp = sk->add_subcommand("export", "Write the current skills as a portable JSON bundle");
  exp->add_option("names", a->names, "Only these skills");
  exp->add_option("-o,--output", a->output, "File to write (default: stdout)");
  exp->callback([&ctx, a] { ctx.exit_code = Export(ctx, *a); });

  auto* imp = sk->add_subcommand("import", "Add the skills of a JSON bundle (each validated)");
  imp->add_option("file", a->file, "Bundle written by `neuronaut skills export`")->required();
  imp->add_flag("--allow-near-duplicates", a->allow_near, "Store twins of existing skills too");
  imp->callback([&ctx, a] { ctx.exit_code = Import(ctx, *a); });

  AddSkillsConsolidateCommand(*sk, ctx);
}

}  // namespace naut::cli
