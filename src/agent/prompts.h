#pragma once
// The model prompts. The text lives in prompts/<name>.txt in the source tree and is compiled
// into the binary; a file <data home>/prompts/<name>.txt overrides it, so a user can tune a
// prompt without rebuilding. Placeholders are written {{name}}.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace naut::agent {

// The prompt `name`: the override in `override_dir` when present, else the built-in text.
Result<std::string> LoadPrompt(const std::string& name,
                               const std::filesystem::path& override_dir = {});

// Names of the built-in prompts.
std::vector<std::string> BuiltinPromptNames();

// Replaces every {{key}} with its value. A placeholder without a value is an error naming it,
// so a prompt edited by a user cannot silently lose the task or the tools.
Result<std::string> RenderPrompt(const std::string& text,
                                 const std::map<std::string, std::string>& values);

}  // namespace naut::agent
