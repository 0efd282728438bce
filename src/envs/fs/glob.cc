#include "envs/fs/glob.h"

#include <string>
#include <vector>

namespace naut::envs::fs {
namespace {

std::vector<std::string> ExpandBraces(const std::string& pattern, int depth = 0) {
  if (depth > 8) return {pattern};
  size_t open = std::string::npos;
  int level = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
      continue;
    }
    if (pattern[i] == '{') {
      if (level++ == 0) open = i;
    } else if (pattern[i] == '}' && level > 0 && --level == 0) {
      std::vector<std::string> alternatives;
      std::string current;
      int inner = 0;
      for (size_t j = open + 1; j < i; ++j) {
        char c = pattern[j];
        if (c == '{') ++inner;
        if (c == '}') --inner;
        if (c == ',' && inner == 0) {
          alternatives.push_back(current);
          current.clear();
        } else {
          current += c;
        }
      }
      alternatives.push_back(current);
      if (alternatives.size() < 2) return {pattern};  // "{a}" is literal in minimatch
      std::vector<std::string> out;
      for (const auto& alt : alternatives) {
        for (auto& e :
             ExpandBraces(pattern.substr(0, open) + alt + pattern.substr(i + 1), depth + 1)) {
          out.push_back(std::move(e));
        }
      }
      return out;
    }
  }
  return {pattern};
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    parts.push_back(
        s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

// One path segment against one pattern segment (no '/').
bool MatchSegment(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (c == '*') {
        star_p = ++pi;
        star_s = si;
        continue;
      }
      if (c == '?') {
        ++pi;
        ++si;
        continue;
      }
      if (c == '[') {
        size_t end = p.find(']', pi + 2);
        if (end != std::string_view::npos) {
          bool negate = p[pi + 1] == '!' || p[pi + 1] == '^';
          size_t k = pi + 1 + (negate ? 1 : 0);
          bool hit = false;
          for (; k < end; ++k) {
            if (k + 2 < end && p[k + 1] == '-') {
              if (s[si] >= p[k] && s[si] <= p[k + 2]) hit = true;
              k += 2;
            } else if (p[k] == s[si]) {
              hit = true;
            }
          }
          if (hit != negate) {
            pi = end + 1;
            ++si;
            continue;
          }
        } else if (s[si] == '[') {
          ++pi;
          ++si;
          continue;
        }
      } else {
        if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
        if (c == s[si]) {
          ++pi;
          ++si;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool MatchParts(const std::vector<std::string_view>& p, size_t pi,
                const std::vector<std::string_view>& s, size_t si) {
  while (pi < p.size()) {
    if (p[pi] == "**") {
      while (pi + 1 < p.size() && p[pi + 1] == "**") ++pi;
      if (pi + 1 == p.size()) return true;  // trailing ** matches everything below
      for (size_t k = si; k <= s.size(); ++k) {
        if (MatchParts(p, pi + 1, s, k)) return true;
      }
      return false;
    }
    if (si >= s.size() || !MatchSegment(p[pi], s[si])) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view path) {
  if (pattern.empty()) return path.empty();
  for (const auto& expanded : ExpandBraces(std::string(pattern))) {
    std::string_view p = expanded;
    while (p.size() > 1 && p.substr(0, 2) == "./") p.remove_prefix(2);
    if (MatchParts(Split(p), 0, Split(path), 0)) return true;
  }
  return false;
}

}  // namespace naut::envs::fs
