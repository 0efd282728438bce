#include "envs/fs/unified_diff.h"

#include <algorithm>
#include <vector>

namespace naut::envs::fs {
namespace {

// Lines with their newline, as jsdiff tokenises them ("a\n", "b" at the end).
std::vector<std::string_view> Tokens(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

struct Component {
  enum Kind { kSame, kRemoved, kAdded } kind;
  std::vector<std::string> lines;  // without their newline
};

std::string StripNewline(std::string_view t) {
  if (!t.empty() && t.back() == '\n') t.remove_suffix(1);
  return std::string(t);
}

// Longest-common-subsequence diff, emitting removals before additions in each change.
std::vector<Component> Diff(const std::vector<std::string_view>& a,
                            const std::vector<std::string_view>& b) {
  // Common prefix and suffix first: edits are usually small.
  size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre &&
         a[a.size() - 1 - suf] == b[b.size() - 1 - suf])
    ++suf;
  const size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] =
          a[pre + i] == b[pre + j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::vector<Component> out;
  auto push = [&](Component::Kind kind, std::string_view token) {
    if (out.empty() || out.back().kind != kind) out.push_back({kind, {}});
    out.back().lines.push_back(StripNewline(token));
  };
  for (size_t i = 0; i < pre; ++i) push(Component::kSame, a[i]);
  size_t i = 0, j = 0;
  std::vector<std::string_view> removed, added;
  auto flush = [&] {
    for (auto t : removed) push(Component::kRemoved, t);
    for (auto t : added) push(Component::kAdded, t);
    removed.clear();
    added.clear();
  };
  while (i < n || j < m) {
    if (i < n && j < m && a[pre + i] == b[pre + j]) {
      flush();
      push(Component::kSame, a[pre + i]);
      ++i;
      ++j;
    } else if (j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) {
      removed.push_back(a[pre + i++]);
    } else {
      added.push_back(b[pre + j++]);
    }
  }
  flush();
  for (size_t k = a.size() - suf; k < a.size(); ++k) push(Component::kSame, a[k]);
  return out;
}

struct Hunk {
  int old_start, old_lines, new_start, new_lines;
  std::vector<std::string> lines;
};

}  // namespace

std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        const std::string& file_name, const std::string& old_header,
                        const std::string& new_header) {
  const int context = 4;
  std::vector<Component> diff = Diff(Tokens(old_text), Tokens(new_text));
  diff.push_back({Component::kSame, {}});  // as jsdiff: a sentinel that closes the last hunk
  std::vector<Hunk> hunks;
  int old_range_start = 0, new_range_start = 0, old_line = 1, new_line = 1;
  std::vector<std::string> cur;
  for (size_t i = 0; i < diff.size(); ++i) {
    const Component& c = diff[i];
    const auto& lines = c.lines;
    if (c.kind != Component::kSame) {
      if (!old_range_start) {
        old_range_start = old_line;
        new_range_start = new_line;
        if (i > 0) {
          const auto& prev = diff[i - 1].lines;
          size_t take = std::min<size_t>(prev.size(), context);
          cur.clear();
          for (size_t k = prev.size() - take; k < prev.size(); ++k) cur.push_back(" " + prev[k]);
          old_range_start -= static_cast<int>(cur.size());
          new_range_start -= static_cast<int>(cur.size());
        }
      }
      for (const auto& l : lines) cur.push_back((c.kind == Component::kAdded ? "+" : "-") + l);
      if (c.kind == Component::kAdded) {
        new_line += static_cast<int>(lines.size());
      } else {
        old_line += static_cast<int>(lines.size());
      }
      continue;
    }
    if (old_range_start) {
      if (static_cast<int>(lines.size()) <= context * 2 && i + 2 < diff.size()) {
        for (const auto& l : lines) cur.push_back(" " + l);
      } else {
        int context_size = std::min(static_cast<int>(lines.size()), context);
        for (int k = 0; k < context_size; ++k) cur.push_back(" " + lines[k]);
        Hunk hunk{old_range_start,
                  old_line - old_range_start + context_size,
                  new_range_start,
                  new_line - new_range_start + context_size,
                  {}};
        if (i + 2 >= diff.size() && static_cast<int>(lines.size()) <= context) {
          bool old_eof_newline = !old_text.empty() && old_text.back() == '\n';
          bool new_eof_newline = !new_text.empty() && new_text.back() == '\n';
          bool no_nl_before_adds = lines.empty() && static_cast<int>(cur.size()) > hunk.old_lines;
          if (!old_eof_newline && no_nl_before_adds && !old_text.empty()) {
            cur.insert(cur.begin() + hunk.old_lines, "\\ No newline at end of file");
          }
          if ((!old_eof_newline && !no_nl_before_adds) || !new_eof_newline) {
            cur.emplace_back("\\ No newline at end of file");
          }
        }
        hunk.lines = std::move(cur);
        hunks.push_back(std::move(hunk));
        old_range_start = 0;
        new_range_start = 0;
        cur.clear();
      }
    }
    old_line += static_cast<int>(lines.size());
    new_line += static_cast<int>(lines.size());
  }
  std::string out = "Index: " + file_name + "\n";
  out += "===================================================================\n";
  out += "--- " + file_name + "\t" + old_header + "\n";
  out += "+++ " + file_name + "\t" + new_header + "\n";
  for (auto& h : hunks) {
    if (h.old_lines == 0) h.old_start -= 1;
    if (h.new_lines == 0) h.new_start -= 1;
    out += "@@ -" + std::to_string(h.old_start) + "," + std::to_string(h.old_lines) + " +" +
           std::to_string(h.new_start) + "," + std::to_string(h.new_lines) + " @@\n";
    for (const auto& l : h.lines) out += l + "\n";
  }
  return out;
}

}  // namespace naut::envs::fs
