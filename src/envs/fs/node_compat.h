#pragma once
// What the fs server needs of Node.js to answer exactly as @modelcontextprotocol/server-filesystem
// does: Node's wording for system errors, the reference's path handling (normalizePath,
// path.resolve, `~` expansion, isPathWithinAllowedDirectories), JavaScript's Date text and
// string functions, and the reference's formatSize. Pure functions; thread-safe.

#include <ctime>
#include <string>
#include <vector>

namespace naut::envs::fs {

// Node's text for a failed system call: "ENOENT: no such file or directory, open '/x'", with
// " -> '<dest>'" for calls on two paths (rename). Unknown errors read "E<n>: <strerror>".
std::string NodeError(int error, const std::string& syscall, const std::string& path,
                      const std::string& dest = {});

// The reference's normalizePath on POSIX: trim, drop surrounding quotes, collapse slashes, drop
// trailing slashes ("/" becomes "", as the reference's replace(/\/+$/, '') makes it).
std::string NormalizePath(std::string p);

// path.resolve on POSIX: absolute (against the working directory), '.' and '..' resolved
// lexically, no trailing slash.
std::string ResolvePath(const std::string& p);

// "~" and "~/..." against $HOME (resolved); anything else unchanged.
std::string ExpandHome(const std::string& p);

// isPathWithinAllowedDirectories: `path` (non-empty, no NUL) resolved equals one of `allowed`
// or lies beneath it, lexically.
bool WithinAllowed(const std::string& path, const std::vector<std::string>& allowed);

// Date.prototype.toString() in the local time zone:
// "Tue Dec 01 2026 07:16:00 GMT+0000 (Coordinated Universal Time)".
std::string JsDate(const timespec& ts);

// String.prototype.replace(string, string): the first occurrence, with $$, $&, $` and $'
// expanded in the replacement.
std::string JsReplaceFirst(const std::string& s, const std::string& from, const std::string& to);

// String.prototype.trim (the ASCII whitespace of it).
std::string JsTrim(const std::string& s);

// The reference's formatSize: "0 B", "512 B", "1.50 KB", ... up to TB.
std::string FormatSize(int64_t bytes);

}  // namespace naut::envs::fs
