#include "envs/fs/node_compat.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

namespace naut::envs::fs {

std::string NodeError(int error, const std::string& syscall, const std::string& path,
                      const std::string& dest) {
  static const std::map<int, std::pair<const char*, const char*>> kNames = {
      {ENOENT, {"ENOENT", "no such file or directory"}},
      {EEXIST, {"EEXIST", "file already exists"}},
      {EISDIR, {"EISDIR", "illegal operation on a directory"}},
      {ENOTDIR, {"ENOTDIR", "not a directory"}},
      {EACCES, {"EACCES", "permission denied"}},
      {EPERM, {"EPERM", "operation not permitted"}},
      {ELOOP, {"ELOOP", "too many symbolic links encountered"}},
      {ENOTEMPTY, {"ENOTEMPTY", "directory not empty"}},
      {EXDEV, {"EXDEV", "cross-device link not permitted"}},
      {EINVAL, {"EINVAL", "invalid argument"}},
      {ENAMETOOLONG, {"ENAMETOOLONG", "name too long"}},
      {EBUSY, {"EBUSY", "resource busy or locked"}},
      {ENOSPC, {"ENOSPC", "no space left on device"}},
      {EROFS, {"EROFS", "read-only file system"}},
      {EMFILE, {"EMFILE", "too many open files"}},
      {EFBIG, {"EFBIG", "file too large"}},
  };
  auto it = kNames.find(error);
  std::string text = it != kNames.end()
                         ? std::string(it->second.first) + ": " + it->second.second
                         : std::string("E") + std::to_string(error) + ": " + std::strerror(error);
  text += ", " + syscall + " '" + path + "'";
  if (!dest.empty()) text += " -> '" + dest + "'";
  return text;
}

std::string NormalizePath(std::string p) {
  size_t b = p.find_first_not_of(" \t\r\n");
  size_t e = p.find_last_not_of(" \t\r\n");
  p = b == std::string::npos ? "" : p.substr(b, e - b + 1);
  if (!p.empty() && (p.front() == '"' || p.front() == '\'')) p.erase(0, 1);
  if (!p.empty() && (p.back() == '"' || p.back() == '\'')) p.pop_back();
  std::string out;
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out == "/") return "";
  return out;
}

std::string ResolvePath(const std::string& p) {
  std::filesystem::path path = p;
  if (!path.is_absolute()) path = std::filesystem::current_path() / path;
  std::string s = path.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string ExpandHome(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    std::string h = home != nullptr ? home : "/";
    return ResolvePath(h + p.substr(1));
  }
  return p;
}

bool WithinAllowed(const std::string& path, const std::vector<std::string>& allowed) {
  if (path.empty() || path.find('\0') != std::string::npos) return false;
  std::string normalized = ResolvePath(path);
  for (const auto& dir : allowed) {
    if (dir.empty()) continue;
    std::string d = ResolvePath(dir);
    if (normalized == d) return true;
    if (d == "/") return normalized.rfind('/', 0) == 0;
    if (normalized.rfind(d + "/", 0) == 0) return true;
  }
  return false;
}

std::string JsDate(const timespec& ts) {
  time_t t = ts.tv_sec;
  tm local;
  localtime_r(&t, &local);
  char date[64], zone[16];
  std::strftime(date, sizeof(date), "%a %b %d %Y %H:%M:%S", &local);
  std::strftime(zone, sizeof(zone), "%z", &local);
  std::string name = local.tm_zone != nullptr ? local.tm_zone : "";
  if (name == "UTC" || name == "GMT") name = "Coordinated Universal Time";
  return std::string(date) + " GMT" + zone + " (" + name + ")";
}

std::string JsReplaceFirst(const std::string& s, const std::string& from, const std::string& to) {
  size_t pos = s.find(from);
  if (pos == std::string::npos) return s;
  std::string replacement;
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i] == '$' && i + 1 < to.size()) {
      char n = to[i + 1];
      if (n == '$') {
        replacement += '$';
        ++i;
        continue;
      }
      if (n == '&') {
        replacement += from;
        ++i;
        continue;
      }
      if (n == '`') {
        replacement += s.substr(0, pos);
        ++i;
        continue;
      }
      if (n == '\'') {
        replacement += s.substr(pos + from.size());
        ++i;
        continue;
      }
    }
    replacement += to[i];
  }
  return s.substr(0, pos) + replacement + s.substr(pos + from.size());
}

std::string JsTrim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

std::string FormatSize(int64_t bytes) {
  static const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  if (bytes == 0) return "0 B";
  int i = static_cast<int>(std::floor(std::log(static_cast<double>(bytes)) / std::log(1024.0)));
  if (i <= 0) return std::to_string(bytes) + " B";
  int unit = std::min(i, 4);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f %s", static_cast<double>(bytes) / std::pow(1024.0, unit),
                kUnits[unit]);
  return buf;
}

}  // namespace naut::envs::fs
