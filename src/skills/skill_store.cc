#include "skills/skill_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/files.h"
#include "core/ids.h"

namespace naut::skills {

namespace fs = std::filesystem;
using memory::Kind;
using memory::MemoryWriter;
using memory::NewMemory;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, "skills with versions and outcome counts",
     R"sql(
CREATE TABLE skills (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  description TEXT NOT NULL,
  docstring TEXT NOT NULL,
  code TEXT NOT NULL,
  language TEXT NOT NULL DEFAULT 'python',
  params TEXT NOT NULL DEFAULT '[]',
  supersedes INTEGER NOT NULL DEFAULT 0,
  superseded INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  uses INTEGER NOT NULL DEFAULT 0,
  successes INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  environment TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '',
  memory_id INTEGER NOT NULL DEFAULT 0,
  UNIQUE (name, version)
);
CREATE INDEX skills_current ON skills (superseded, name);
)sql"},
    {2, "skills keep their last error and are retired after failing in a row",
     R"sql(
ALTER TABLE skills ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE skills ADD COLUMN failures_in_a_row INTEGER NOT NULL DEFAULT 0;
ALTER TABLE skills ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
)sql"},
    {3, "a skill version is verified by running it on its task, or kept as a draft",
     R"sql(
ALTER TABLE skills ADD COLUMN verification TEXT NOT NULL DEFAULT 'unverified';
ALTER TABLE skills ADD COLUMN verification_note TEXT NOT NULL DEFAULT '';
)sql"},
    {4, "the tasks a skill passed on, and skills consolidated into one",
     R"sql(
ALTER TABLE skills ADD COLUMN consolidated_into TEXT NOT NULL DEFAULT '';
CREATE TABLE skill_cases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  task TEXT NOT NULL,
  milestone TEXT NOT NULL DEFAULT '',
  environment TEXT NOT NULL DEFAULT '',
  call TEXT NOT NULL,
  start_state TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX skill_cases_name ON skill_cases (name, task);
)sql"},
};

constexpr const char* kColumns =
    "id, name, version, description, docstring, code, language, params, supersedes, superseded, "
    "created, uses, successes, failures, environment, tags, memory_id, last_error, "
    "failures_in_a_row, retired, verification, verification_note, consolidated_into";

std::string JoinTags(const std::vector<std::string>& tags) {
  std::string s;
  for (const auto& t : tags) s += (s.empty() ? "" : ",") + t;
  return s;
}

std::vector<std::string> SplitTags(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Json ParamsToJson(const std::vector<Param>& params) {
  Json a = Json::array();
  for (const auto& p : params) {
    Json j{{"name", p.name}, {"annotation", p.annotation}};
    j["default"] = p.default_value ? Json(*p.default_value) : Json(nullptr);
    a.push_back(std::move(j));
  }
  return a;
}

std::vector<Param> ParamsFromJson(const std::string& text) {
  std::vector<Param> params;
  auto j = ParseJson(text, "skill params");
  if (!j || !j->is_array()) return params;
  for (const Json& p : *j) {
    if (!p.is_object()) continue;
    Param param;
    param.name = p.value("name", "");
    param.annotation = p.value("annotation", "");
    if (p.contains("default") && p["default"].is_string()) param.default_value = p["default"];
    params.push_back(std::move(param));
  }
  return params;
}

Skill ReadSkill(const store::Statement& s) {
  Skill k;
  k.id = s.ColumnInt(0);
  k.name = s.ColumnText(1);
  k.version = static_cast<int>(s.ColumnInt(2));
  k.description = s.ColumnText(3);
  k.docstring = s.ColumnText(4);
  k.code = s.ColumnText(5);
  k.language = s.ColumnText(6);
  k.params = ParamsFromJson(s.ColumnText(7));
  k.supersedes = s.ColumnInt(8);
  k.superseded = s.ColumnInt(9) != 0;
  k.created = s.ColumnText(10);
  k.uses = s.ColumnInt(11);
  k.successes = s.ColumnInt(12);
  k.failures = s.ColumnInt(13);
  k.environment = s.ColumnText(14);
  k.tags = SplitTags(s.ColumnText(15));
  k.memory_id = s.ColumnInt(16);
  k.last_error = s.ColumnText(17);
  k.failures_in_a_row = s.ColumnInt(18);
  k.retired = s.ColumnInt(19) != 0;
  k.verification = VerificationFromString(s.ColumnText(20)).value_or(Verification::kUnverified);
  k.verification_note = s.ColumnText(21);
  k.consolidated_into = s.ColumnText(22);
  return k;
}

// What retrieval sees of a skill: its name as words, its docstring, then its code.
std::string SearchText(const std::string& name, const std::string& docstring,
                       const std::string& code) {
  std::string words = name;
  for (char& c : words) {
    if (c == '_') c = ' ';
  }
  return words + ": " + docstring + "\n\n" + code;
}

std::string FileContent(const Skill& k) {
  std::string header = "# Skill '" + k.name + "', version " + std::to_string(k.version) + " (" +
                       k.created +
                       "), kept by NeuroNaut.\n"
                       "# This file mirrors the skill library; edits here are not read back.\n";
  if (!k.environment.empty()) header += "# Environment: " + k.environment + "\n";
  std::string code = k.code;
  if (code.empty() || code.back() != '\n') code += "\n";
  return header + "\n" + code;
}

}  // namespace

std::string_view ToString(Verification v) {
  switch (v) {
    case Verification::kVerified:
      return "verified";
    case Verification::kDraft:
      return "draft";
    case Verification::kUnverified:
      break;
  }
  return "unverified";
}

std::optional<Verification> VerificationFromString(std::string_view s) {
  for (auto v : {Verification::kUnverified, Verification::kVerified, Verification::kDraft}) {
    if (s == ToString(v)) return v;
  }
  return std::nullopt;
}

Status CheckSkillName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) {
    return InvalidArgument("skill name '" + name +
                           "' is not a Python identifier of at most 64 characters");
  }
  return Status::Ok();
}

Result<std::unique_ptr<SkillStore>> SkillStore::Open(memory::MemoryStore& memory,
                                                     SkillStoreOptions options) {
  NAUT_RETURN_IF_ERROR(memory.db().Migrate("skills", kMigrations));
  if (options.skills_dir.empty()) options.skills_dir = memory.db().path().parent_path() / "skills";
  auto store = std::unique_ptr<SkillStore>(new SkillStore(memory, std::move(options)));
  NAUT_RETURN_IF_ERROR(store->SyncFiles());
  return store;
}

Result<std::vector<Skill>> SkillStore::Query(const std::string& where,
                                             const std::vector<std::string>& args) {
  NAUT_ASSIGN_OR_RETURN(auto q, memory_.db().Prepare(std::string("SELECT ") + kColumns +
                                                     " FROM skills WHERE " + where));
  for (size_t i = 0; i < args.size(); ++i) q.Bind(static_cast<int>(i + 1), args[i]);
  std::vector<Skill> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadSkill(q));
  }
  return out;
}

Result<Skill> SkillStore::Get(const std::string& name, int version) {
  NAUT_ASSIGN_OR_RETURN(
      auto found, version > 0 ? Query("name = ? AND version = ?", {name, std::to_string(version)})
                              : Query("name = ? AND superseded = 0", {name}));
  if (found.empty()) {
    return NotFound("skill '" + name + "'" +
                    (version > 0 ? " version " + std::to_string(version) : "") + " does not exist");
  }
  return found.front();
}

Result<std::vector<Skill>> SkillStore::List(bool include_superseded) {
  return Query(include_superseded ? "1 ORDER BY name, version" : "superseded = 0 ORDER BY name",
               {});
}

Result<std::vector<Skill>> SkillStore::Offered() {
  return Query("superseded = 0 AND retired = 0 ORDER BY name", {});
}

Result<std::vector<Skill>> SkillStore::Versions(const std::string& name) {
  return Query("name = ? ORDER BY version", {name});
}

Result<AddedSkill> SkillStore::Add(const NewSkill& in) {
  NAUT_ASSIGN_OR_RETURN(SkillShape shape, ValidateSkill(in.code));
  if (!in.name.empty() && in.name != shape.entry) {
    return InvalidArgument("skill refused: it is named '" + in.name +
                           "' but its entry function is '" + shape.entry + "'");
  }
  NAUT_RETURN_IF_ERROR(CheckSkillName(shape.entry));
  for (const auto& t : in.tags) {
    if (t.empty() || t.find(',') != std::string::npos) {
      return InvalidArgument("skill tag '" + t + "' must be non-empty and have no comma");
    }
  }
  AddedSkill result;
  auto current = Get(shape.entry);
  if (current) {
    if (current->code == in.code) {
      result.skill = *current;
      result.unchanged = true;
      return result;
    }
  } else if (current.error().code() != Code::kNotFound) {
    return current.error();
  }

  const std::string text = SearchText(shape.entry, shape.docstring, in.code);
  NAUT_ASSIGN_OR_RETURN(memory::Vector vec, memory_.embedder().EmbedOne(text));
  if (!in.allow_near_duplicate) {
    NAUT_ASSIGN_OR_RETURN(
        auto twins,
        memory_.Search(
            {.text = text, .top_k = 3, .mode = memory::SearchMode::kVector, .kind = Kind::kSkill}));
    for (const auto& hit : twins) {
      std::string twin = hit.memory.ref.substr(0, hit.memory.ref.find('@'));
      if (twin == shape.entry || hit.similarity < options_.near_duplicate) continue;
      return AlreadyExists("skill '" + shape.entry + "' is a near-duplicate of skill '" + twin +
                           "' (similarity " + std::to_string(hit.similarity).substr(0, 5) +
                           "); name it '" + twin +
                           "' to store it as a new version, or allow near-duplicates");
    }
  }

  Skill k;
  k.name = shape.entry;
  k.version = current ? current->version + 1 : 1;
  k.docstring = shape.docstring;
  k.description = shape.docstring.substr(0, shape.docstring.find('\n'));
  k.code = in.code;
  k.params = shape.params;
  k.supersedes = current ? current->id : 0;
  k.created = NowIso8601();
  k.environment = in.environment;
  k.tags = in.tags;
  NAUT_RETURN_IF_ERROR(memory_.Write([&](MemoryWriter& w) -> Status {
    if (current) {
      NAUT_ASSIGN_OR_RETURN(auto up,
                            w.db().Prepare("UPDATE skills SET superseded = 1 WHERE id = ?"));
      up.Bind(1, current->id);
      NAUT_RETURN_IF_ERROR(up.Run());
      if (current->memory_id > 0) {
        Status s = w.Remove(current->memory_id);
        if (!s.ok() && s.code() != Code::kNotFound) return s;
      }
    }
    NewMemory m;
    m.kind = Kind::kSkill;
    m.text = text;
    m.environment = k.environment;
    m.tags = k.tags;
    m.ref = k.name + "@" + std::to_string(k.version);
    NAUT_ASSIGN_OR_RETURN(k.memory_id, w.Insert(m, vec));
    NAUT_ASSIGN_OR_RETURN(
        auto ins, w.db().Prepare("INSERT INTO skills (name, version, description, docstring, "
                                 "code, language, params, supersedes, created, environment, "
                                 "tags, memory_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, k.name)
        .Bind(2, k.version)
        .Bind(3, k.description)
        .Bind(4, k.docstring)
        .Bind(5, k.code)
        .Bind(6, k.language)
        .Bind(7, DumpJson(ParamsToJson(k.params)))
        .Bind(8, k.supersedes)
        .Bind(9, k.created)
        .Bind(10, k.environment)
        .Bind(11, JoinTags(k.tags))
        .Bind(12, k.memory_id);
    NAUT_RETURN_IF_ERROR(ins.Run());
    k.id = w.db().LastInsertRowId();
    return Status::Ok();
  }));
  if (current) {
    result.superseded = *current;
    result.superseded->superseded = true;
  }
  result.skill = k;
  Status file = WriteFile(k);
  if (!file.ok())
    spdlog::warn("skills: {} (the skill is stored; the file is rewritten on next open)",
                 file.ToString());
  return result;
}

Result<std::vector<SkillHit>> SkillStore::Search(const std::string& text, size_t top_k,
                                                 const std::string& environment,
                                                 const std::vector<std::string>& tags) {
  // Twice as many candidates as asked for: retired skills are dropped and the rest re-ranked.
  NAUT_ASSIGN_OR_RETURN(auto hits, memory_.Search({.text = text,
                                                   .top_k = 2 * top_k,
                                                   .kind = Kind::kSkill,
                                                   .environment = environment,
                                                   .tags = tags}));
  std::vector<SkillHit> out;
  for (const auto& h : hits) {
    NAUT_ASSIGN_OR_RETURN(auto found, Query("memory_id = ? AND superseded = 0 AND retired = 0",
                                            {std::to_string(h.memory.id)}));
    if (found.empty()) continue;
    out.push_back({found.front(), h.score, h.similarity});
  }
  // Among skills about as relevant, the ones that have worked come first: the retrieval score
  // plus a small share of the success rate (Laplace-smoothed, so an unused skill counts 1/2),
  // and as much again for a version that passed its check (less for one that failed it).
  auto ranked = [this](const SkillHit& h) {
    const double rate = static_cast<double>(h.skill.successes + 1) /
                        static_cast<double>(h.skill.successes + h.skill.failures + 2);
    const double checked = h.skill.verification == Verification::kVerified ? 0.5
                           : h.skill.verification == Verification::kDraft  ? -0.5
                                                                           : 0.0;
    return h.score + options_.success_weight * (rate - 0.5 + checked);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const SkillHit& a, const SkillHit& b) { return ranked(a) > ranked(b); });
  if (out.size() > top_k) out.resize(top_k);
  return out;
}

Status SkillStore::Remove(const std::string& name) {
  NAUT_ASSIGN_OR_RETURN(auto versions, Versions(name));
  if (versions.empty()) return NotFound("skill '" + name + "' does not exist");
  NAUT_RETURN_IF_ERROR(memory_.Write([&](MemoryWriter& w) -> Status {
    for (const auto& v : versions) {
      if (v.superseded || v.memory_id == 0) continue;
      Status s = w.Remove(v.memory_id);
      if (!s.ok() && s.code() != Code::kNotFound) return s;
    }
    NAUT_ASSIGN_OR_RETURN(auto del, w.db().Prepare("DELETE FROM skills WHERE name = ?"));
    del.Bind(1, name);
    return del.Run();
  }));
  std::error_code ec;
  fs::remove(FileOf(name), ec);
  return Status::Ok();
}

Result<Skill> SkillStore::RecordOutcome(const std::string& name, bool success,
                                        const std::string& error) {
  NAUT_ASSIGN_OR_RETURN(
      auto up,
      memory_.db().Prepare(
          success ? "UPDATE skills SET uses = uses + 1, successes = successes + 1, "
                    "failures_in_a_row = 0 WHERE name = ? AND superseded = 0"
                  : "UPDATE skills SET uses = uses + 1, failures = failures + 1, "
                    "failures_in_a_row = failures_in_a_row + 1, last_error = ?2, "
                    "retired = (failures_in_a_row + 1 >= ?3) WHERE name = ?1 AND superseded = 0"));
  up.Bind(1, name);
  if (!success) {
    // At most a screenful: a traceback's last lines say what went wrong.
    constexpr size_t kMaxError = 2000;
    const std::string kept =
        error.size() > kMaxError ? error.substr(error.size() - kMaxError) : error;
    up.Bind(2, kept.empty() ? std::string("failed (no error given)") : kept)
        .Bind(3, static_cast<int64_t>(options_.retire_after));
  }
  NAUT_RETURN_IF_ERROR(up.Run());
  if (memory_.db().Changes() == 0) return NotFound("skill '" + name + "' does not exist");
  NAUT_ASSIGN_OR_RETURN(Skill k, Get(name));
  if (k.retired && !success && k.failures_in_a_row == options_.retire_after)
    spdlog::info("skills: '{}' v{} retired after failing {} times in a row (last: {})", k.name,
                 k.version, k.failures_in_a_row, k.last_error.substr(0, 200));
  return k;
}

Result<Skill> SkillStore::SetVerification(const std::string& name, int version, Verification state,
                                          const std::string& note) {
  NAUT_ASSIGN_OR_RETURN(Skill k, Get(name, version));
  // A note is a checker's answer or a traceback's end: at most a screenful of it.
  constexpr size_t kMaxNote = 2000;
  const std::string kept = note.size() > kMaxNote ? note.substr(note.size() - kMaxNote) : note;
  NAUT_ASSIGN_OR_RETURN(auto up, memory_.db().Prepare("UPDATE skills SET verification = ?, "
                                                      "verification_note = ? WHERE id = ?"));
  up.Bind(1, std::string(ToString(state))).Bind(2, kept).Bind(3, k.id);
  NAUT_RETURN_IF_ERROR(up.Run());
  k.verification = state;
  k.verification_note = kept;
  return k;
}

Status SkillStore::AddCase(const SkillCase& c) {
  NAUT_ASSIGN_OR_RETURN(Skill k, Get(c.skill));
  const std::string state = DumpJson(c.start_state);
  if (state.size() > kMaxCaseStateBytes) {
    return InvalidArgument("the state of task '" + c.task + "' is " + std::to_string(state.size()) +
                           " bytes, more than a case keeps (" + std::to_string(kMaxCaseStateBytes) +
                           ")");
  }
  NAUT_ASSIGN_OR_RETURN(store::Transaction tx, memory_.db().Begin());
  NAUT_ASSIGN_OR_RETURN(
      auto del, memory_.db().Prepare("DELETE FROM skill_cases WHERE name = ? AND task = ?"));
  del.Bind(1, k.name).Bind(2, c.task);
  NAUT_RETURN_IF_ERROR(del.Run());
  NAUT_ASSIGN_OR_RETURN(
      auto ins, memory_.db().Prepare("INSERT INTO skill_cases (name, version, task, milestone, "
                                     "environment, call, start_state, created) "
                                     "VALUES (?,?,?,?,?,?,?,?)"));
  ins.Bind(1, k.name)
      .Bind(2, k.version)
      .Bind(3, c.task)
      .Bind(4, c.milestone)
      .Bind(5, c.environment.empty() ? k.environment : c.environment)
      .Bind(6, c.call.empty() ? k.name + "()" : c.call)
      .Bind(7, state)
      .Bind(8, NowIso8601());
  NAUT_RETURN_IF_ERROR(ins.Run());
  return tx.Commit();
}

Result<std::vector<SkillCase>> SkillStore::Cases(const std::string& name) {
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      memory_.db().Prepare("SELECT id, name, version, task, milestone, environment, call, "
                           "start_state, created FROM skill_cases WHERE name = ? ORDER BY id"));
  q.Bind(1, name);
  std::vector<SkillCase> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    SkillCase c;
    c.id = q.ColumnInt(0);
    c.skill = q.ColumnText(1);
    c.version = static_cast<int>(q.ColumnInt(2));
    c.task = q.ColumnText(3);
    c.milestone = q.ColumnText(4);
    c.environment = q.ColumnText(5);
    c.call = q.ColumnText(6);
    auto state = ParseJson(q.ColumnText(7), "skill case state");
    if (!state) {
      spdlog::warn("skills: case {} of '{}' has an unreadable state, left out: {}", c.id, name,
                   state.error().message());
      continue;
    }
    c.start_state = std::move(*state);
    c.created = q.ColumnText(8);
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// Keywords and the words every skill has: they say nothing about what a skill does.
bool IsCommonWord(const std::string& w) {
  static const std::set<std::string> kEverywhere = {"tools", "self", "print", "len", "range"};
  return IsPythonKeyword(w) || kEverywhere.contains(w);
}

std::set<std::string> CodeWords(const std::string& code) {
  std::set<std::string> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty() && !IsCommonWord(w)) words.insert(w);
    w.clear();
  };
  for (char c : code) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      w += c;
    } else {
      flush();
    }
  }
  flush();
  return words;
}

}  // namespace

double CodeSimilarity(const std::string& a, const std::string& b) {
  const auto wa = CodeWords(a), wb = CodeWords(b);
  if (wa.empty() && wb.empty()) return 1;
  size_t both = 0;
  for (const auto& w : wa) both += wb.contains(w) ? 1 : 0;
  return static_cast<double>(both) / static_cast<double>(wa.size() + wb.size() - both);
}

Result<std::vector<SkillGroup>> SkillStore::SimilarGroups(const std::string& environment,
                                                          double min_similarity) {
  NAUT_ASSIGN_OR_RETURN(auto offered, Offered());
  std::vector<Skill> skills;
  for (auto& k : offered) {
    if (environment.empty() || k.environment == environment) skills.push_back(std::move(k));
  }
  if (skills.size() < 2) return std::vector<SkillGroup>{};
  std::vector<std::string> texts;
  texts.reserve(skills.size());
  for (const auto& k : skills) texts.push_back(SearchText(k.name, k.docstring, ""));
  NAUT_ASSIGN_OR_RETURN(auto vectors, memory_.embedder().Embed(texts));
  const size_t n = skills.size();
  std::vector<std::vector<double>> score(n, std::vector<double>(n, 0));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double s =
          (memory::Dot(vectors[i], vectors[j]) + CodeSimilarity(skills[i].code, skills[j].code)) /
          2;
      score[i][j] = score[j][i] = s;
    }
  }
  // Complete linkage: two groups join when every pair across them scores at least the
  // threshold, the most alike pair first, so a chain of look-alikes does not make one group.
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < n; ++i) groups.push_back({i});
  auto link = [&](const std::vector<size_t>& a, const std::vector<size_t>& b) {
    double low = 1;
    for (size_t i : a) {
      for (size_t j : b) low = std::min(low, score[i][j]);
    }
    return low;
  };
  while (true) {
    double best = -1;
    size_t ba = 0, bb = 0;
    for (size_t a = 0; a < groups.size(); ++a) {
      for (size_t b = a + 1; b < groups.size(); ++b) {
        const double l = link(groups[a], groups[b]);
        if (l > best) best = l, ba = a, bb = b;
      }
    }
    if (best < min_similarity) break;
    groups[ba].insert(groups[ba].end(), groups[bb].begin(), groups[bb].end());
    groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(bb));
  }
  std::vector<SkillGroup> out;
  for (const auto& g : groups) {
    if (g.size() < 2) continue;
    SkillGroup group;
    double low = 1;
    for (size_t i = 0; i < g.size(); ++i) {
      for (size_t j = i + 1; j < g.size(); ++j) low = std::min(low, score[g[i]][g[j]]);
    }
    group.similarity = low;
    for (size_t i : g) group.skills.push_back(skills[i]);
    out.push_back(std::move(group));
  }
  std::stable_sort(out.begin(), out.end(), [](const SkillGroup& a, const SkillGroup& b) {
    return a.similarity > b.similarity;
  });
  return out;
}

Result<AddedSkill> SkillStore::AddVerified(NewSkill in, const std::string& note,
                                           const std::vector<SkillCase>& cases) {
  in.allow_near_duplicate = true;  // it is meant to be like the skills it replaces
  NAUT_ASSIGN_OR_RETURN(AddedSkill added, Add(in));
  const std::string name = added.skill.name;
  NAUT_ASSIGN_OR_RETURN(added.skill, SetVerification(name, 0, Verification::kVerified, note));
  for (SkillCase c : cases) {
    c.skill = name;
    Status s = AddCase(c);
    if (!s.ok()) spdlog::warn("skills: a case of '{}' was not kept: {}", name, s.ToString());
  }
  return added;
}

Status SkillStore::Supersede(const Skill& old, const std::string& by, bool remove_file) {
  NAUT_RETURN_IF_ERROR(memory_.Write([&](MemoryWriter& w) -> Status {
    NAUT_ASSIGN_OR_RETURN(auto up, w.db().Prepare("UPDATE skills SET superseded = 1, "
                                                  "consolidated_into = ? WHERE id = ?"));
    up.Bind(1, by).Bind(2, old.id);
    NAUT_RETURN_IF_ERROR(up.Run());
    // Already gone when a new version of the same name took its place.
    if (old.memory_id > 0) {
      Status s = w.Remove(old.memory_id);
      if (!s.ok() && s.code() != Code::kNotFound) return s;
    }
    return Status::Ok();
  }));
  if (remove_file) {
    std::error_code ec;
    fs::remove(FileOf(old.name), ec);
  }
  return Status::Ok();
}

Result<AddedSkill> SkillStore::AddConsolidated(NewSkill in, const std::vector<std::string>& sources,
                                               const std::string& note,
                                               const std::vector<SkillCase>& cases) {
  NAUT_ASSIGN_OR_RETURN(AddedSkill added, AddVerified(std::move(in), note, cases));
  const std::string& name = added.skill.name;
  for (const auto& source : sources) {
    if (source == name) continue;
    NAUT_ASSIGN_OR_RETURN(Skill old, Get(source));
    NAUT_RETURN_IF_ERROR(Supersede(old, name, /*remove_file=*/true));
  }
  // A source of the same name became the new skill's previous version.
  if (added.superseded)
    NAUT_RETURN_IF_ERROR(Supersede(*added.superseded, name, /*remove_file=*/false));
  return added;
}

Result<std::vector<Skill>> SkillStore::Overgrown(const std::string& environment,
                                                 double max_task_similarity) {
  NAUT_ASSIGN_OR_RETURN(auto offered, Offered());
  std::vector<std::pair<double, Skill>> found;
  for (auto& k : offered) {
    if (!environment.empty() && k.environment != environment) continue;
    NAUT_ASSIGN_OR_RETURN(auto cases, Cases(k.name));
    if (cases.size() < 2) continue;
    std::vector<std::string> tasks;
    tasks.reserve(cases.size());
    for (const auto& c : cases) tasks.push_back(c.task);
    NAUT_ASSIGN_OR_RETURN(auto vectors, memory_.embedder().Embed(tasks));
    double least = 1;
    for (size_t i = 0; i < vectors.size(); ++i) {
      for (size_t j = i + 1; j < vectors.size(); ++j)
        least = std::min(least, static_cast<double>(memory::Dot(vectors[i], vectors[j])));
    }
    if (least < max_task_similarity) found.emplace_back(least, std::move(k));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Skill> out;
  out.reserve(found.size());
  for (auto& [least, k] : found) out.push_back(std::move(k));
  return out;
}

Result<std::vector<AddedSkill>> SkillStore::AddSplit(
    const std::string& source,
    const std::vector<std::pair<NewSkill, std::vector<SkillCase>>>& parts,
    const std::string& note) {
  NAUT_ASSIGN_OR_RETURN(Skill old, Get(source));
  std::vector<AddedSkill> added;
  std::string names;
  bool same_name = false;  // a part named like the source is its next version, file and all
  for (const auto& [skill, cases] : parts) {
    NAUT_ASSIGN_OR_RETURN(AddedSkill a, AddVerified(skill, note, cases));
    names += (names.empty() ? "" : ", ") + a.skill.name;
    same_name = same_name || a.skill.name == source;
    added.push_back(std::move(a));
  }
  NAUT_RETURN_IF_ERROR(Supersede(old, names, /*remove_file=*/!same_name));
  return added;
}

std::string SkillSignature(const Skill& k) {
  std::string s = k.name + "(";
  for (size_t i = 0; i < k.params.size(); ++i) {
    const auto& p = k.params[i];
    if (i) s += ", ";
    s += p.name;
    if (!p.annotation.empty()) s += ": " + p.annotation;
    if (p.default_value) s += " = " + *p.default_value;
  }
  return s + ")";
}

Json SkillToJson(const Skill& k, bool with_code) {
  Json j{{"name", k.name},
         {"version", k.version},
         {"description", k.description},
         {"signature", SkillSignature(k)},
         {"environment", k.environment},
         {"tags", k.tags},
         {"uses", k.uses},
         {"successes", k.successes},
         {"failures", k.failures},
         {"last_error", k.last_error},
         {"retired", k.retired},
         {"verification", ToString(k.verification)},
         {"verification_note", k.verification_note},
         {"created", k.created},
         {"superseded", k.superseded},
         {"consolidated_into", k.consolidated_into}};
  if (with_code) {
    j["docstring"] = k.docstring;
    j["code"] = k.code;
  }
  return j;
}

Status SkillStore::WriteFile(const Skill& skill) {
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(options_.skills_dir));
  return WriteFileAtomic(FileOf(skill.name), FileContent(skill));
}

Status SkillStore::SyncFiles() {
  NAUT_ASSIGN_OR_RETURN(auto skills, List());
  for (const auto& k : skills) {
    auto have = ReadFile(FileOf(k.name));
    if (have && *have == FileContent(k)) continue;
    NAUT_RETURN_IF_ERROR(WriteFile(k));
  }
  return Status::Ok();
}

Result<Json> SkillStore::Export(const std::vector<std::string>& names) {
  std::vector<Skill> skills;
  if (names.empty()) {
    NAUT_ASSIGN_OR_RETURN(skills, List());
  } else {
    for (const auto& n : names) {
      NAUT_ASSIGN_OR_RETURN(Skill k, Get(n));
      skills.push_back(std::move(k));
    }
  }
  Json list = Json::array();
  for (const auto& k : skills) {
    list.push_back({{"name", k.name},
                    {"version", k.version},
                    {"language", k.language},
                    {"description", k.description},
                    {"code", k.code},
                    {"environment", k.environment},
                    {"tags", k.tags},
                    {"created", k.created},
                    {"uses", k.uses},
                    {"successes", k.successes},
                    {"failures", k.failures}});
  }
  return Json{
      {"format", "neuronaut-skills"}, {"version", 1}, {"exported", NowIso8601()}, {"skills", list}};
}

Result<SkillStore::ImportReport> SkillStore::Import(const Json& bundle,
                                                    bool allow_near_duplicates) {
  if (!bundle.is_object() || bundle.value("format", "") != "neuronaut-skills" ||
      !bundle.contains("skills") || !bundle["skills"].is_array()) {
    return InvalidArgument(
        "skills bundle: expected {\"format\": \"neuronaut-skills\", \"skills\": [...]}");
  }
  if (!bundle.contains("version") || !bundle["version"].is_number_integer() ||
      bundle["version"].get<int>() != 1) {
    return InvalidArgument("skills bundle: unsupported version (this neuronaut reads version 1)");
  }
  ImportReport report;
  size_t i = 0;
  for (const Json& e : bundle["skills"]) {
    std::string label = "skills[" + std::to_string(i++) + "]";
    if (!e.is_object() || !e.contains("code") || !e["code"].is_string()) {
      report.refused.emplace_back(label, "no \"code\" string");
      continue;
    }
    if (e.contains("language") && e["language"] != "python") {
      report.refused.emplace_back(label, "language is not python");
      continue;
    }
    NewSkill n;
    n.code = e["code"];
    if (e.contains("name") && e["name"].is_string()) {
      n.name = e["name"];
      label = n.name;
    }
    if (e.contains("environment") && e["environment"].is_string()) n.environment = e["environment"];
    if (e.contains("tags") && e["tags"].is_array()) {
      for (const Json& t : e["tags"]) {
        if (t.is_string()) n.tags.push_back(t);
      }
    }
    n.allow_near_duplicate = allow_near_duplicates;
    auto added = Add(n);
    if (!added) {
      if (added.error().code() == Code::kUnavailable) return added.error();
      report.refused.emplace_back(label, added.error().message());
    } else if (added->unchanged) {
      report.unchanged.push_back(added->skill.name);
    } else {
      report.added.push_back(added->skill.name);
    }
  }
  return report;
}

}  // namespace naut::skills
