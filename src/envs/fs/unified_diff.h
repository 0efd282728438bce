#pragma once
// A unified diff of two texts, line by line, in the exact format of jsdiff's
// createTwoFilesPatch (4 lines of context, "Index:" header, "\ No newline at end of
// file" markers), which the reference filesystem server's edit_file returns. Thread-safe.

#include <string>
#include <string_view>

namespace naut::envs::fs {

std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        const std::string& file_name, const std::string& old_header = "original",
                        const std::string& new_header = "modified");

}  // namespace naut::envs::fs
