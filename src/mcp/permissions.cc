#include "mcp/permissions.h"

namespace naut::mcp {

bool GlobMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool IsDestructive(const Json& annotations) {
  return annotations.is_object() && annotations.value("destructiveHint", false) &&
         !annotations.value("readOnlyHint", false);
}

PermissionPolicy PermissionPolicy::FromConfig(const PermissionsConfig& config) {
  PermissionPolicy policy;
  policy.allow = config.allow;
  policy.deny = config.deny;
  policy.ask = config.ask;
  return policy;
}

PermissionPolicy::Decision PermissionPolicy::Decide(const std::string& name, bool destructive,
                                                    std::string* reason) const {
  for (const auto& d : deny) {
    if (GlobMatch(d, name)) {
      *reason = "the permission policy denies " + name + " ([permissions] deny = \"" + d + "\")";
      return Decision::kDeny;
    }
  }
  bool explicitly_allowed = false;
  bool allowed = allow.empty();
  for (const auto& a : allow) {
    if (GlobMatch(a, name)) {
      allowed = true;
      // Any pattern narrower than "*" names the tool on purpose.
      if (a != "*") explicitly_allowed = true;
    }
  }
  for (const auto& a : ask) {
    if (GlobMatch(a, name)) return Decision::kAsk;
  }
  if (destructive && !explicitly_allowed) {
    *reason = name +
              " changes or deletes data; it runs only when [permissions] allow names it (e.g. "
              "allow = [\"" +
              name + "\"])";
    return Decision::kDeny;
  }
  if (!allowed) {
    *reason = name + " is not in [permissions] allow";
    return Decision::kDeny;
  }
  return Decision::kAllow;
}

std::optional<std::string> PermissionPolicy::Refusal(const std::string& name, bool destructive,
                                                     const Json& arguments) const {
  std::string refusal;
  switch (Decide(name, destructive, &refusal)) {
    case Decision::kAllow:
      return std::nullopt;
    case Decision::kAsk:
      if (ask_user && ask_user(name, arguments)) return std::nullopt;
      return "the user did not allow " + name;
    case Decision::kDeny:
      return refusal;
  }
  return refusal;
}

}  // namespace naut::mcp
