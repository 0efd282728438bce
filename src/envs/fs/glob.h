#pragma once
// Glob matching of relative paths with the semantics the reference filesystem server gets
// from minimatch with {dot: true}: `*`, `?`, `[...]` within a segment, `**` across segments,
// `{a,b}` alternatives; a pattern without `/` matches only top-level names. Thread-safe.

#include <string_view>

namespace naut::envs::fs {

bool GlobMatch(std::string_view pattern, std::string_view path);

}  // namespace naut::envs::fs
