#pragma once
// Test support (header-only): a skill library as the agent opens it, a memory store and a skill
// store in a new temporary directory (hashing embedder, no model), removed again when it goes.

#include <filesystem>
#include <memory>
#include <string>

#include "core/ids.h"
#include "memory/embedder.h"
#include "memory/memory_store.h"
#include "skills/skill_store.h"

namespace naut::skills::testing {

struct TempSkillStore {
  std::filesystem::path dir;
  std::unique_ptr<memory::MemoryStore> memory;
  std::unique_ptr<SkillStore> skills;

  // Opens both under a new directory named `prefix` and an id; the error when one does not open.
  Status Open(const std::string& prefix) {
    dir = std::filesystem::temp_directory_path() / (prefix + NewId());
    std::filesystem::create_directories(dir);
    auto opened = memory::MemoryStore::Open(dir / "neuronaut.db",
                                            std::make_unique<memory::HashingEmbedder>(256),
                                            {.index_dir = dir / "index"});
    if (!opened) return opened.error();
    memory = std::move(*opened);
    auto store = SkillStore::Open(*memory, {.skills_dir = dir / "skills"});
    if (!store) return store.error();
    skills = std::move(*store);
    return Status::Ok();
  }
  TempSkillStore() = default;
  TempSkillStore(const TempSkillStore&) = delete;
  TempSkillStore& operator=(const TempSkillStore&) = delete;
  ~TempSkillStore() {
    skills.reset();
    memory.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace naut::skills::testing
