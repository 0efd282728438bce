#pragma once
// Small helpers for reading TOML files (toml++) with errors a user can act on; shared by the
// configuration loader and the environment profile loader. Thread-safe: no state.

#include <toml++/toml.h>

#include <string>

namespace naut {

// "a string", "an integer", "a number", "a boolean", "an array", "a table", "a date or time":
// the kind of value found, for messages such as "expected a string, found an integer".
std::string TomlTypeName(const toml::node& node);

}  // namespace naut
