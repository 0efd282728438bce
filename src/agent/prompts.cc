#include "agent/prompts.h"

#include "agent/prompts_data.h"
#include "core/files.h"

namespace naut::agent {

Result<std::string> LoadPrompt(const std::string& name, const std::filesystem::path& override_dir) {
  if (!override_dir.empty()) {
    std::filesystem::path p = override_dir / (name + ".txt");
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return ReadFile(p);
  }
  for (const auto& [n, text] : internal::kBuiltinPrompts) {
    if (n == name) return std::string(text);
  }
  return NotFound("prompt '" + name + "' is not built in");
}

std::vector<std::string> BuiltinPromptNames() {
  std::vector<std::string> out;
  for (const auto& [n, text] : internal::kBuiltinPrompts) out.emplace_back(n);
  return out;
}

Result<std::string> RenderPrompt(const std::string& text,
                                 const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size() * 2);
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      break;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      out.append(text, pos, std::string::npos);
      break;
    }
    std::string key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    if (it == values.end())
      return InvalidArgument("prompt placeholder {{" + key + "}} has no value");
    out.append(text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
  return out;
}

}  // namespace naut::agent
