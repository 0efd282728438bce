// Every case of ../shared/conformance/chat_templates/ (16 real chat templates and what
// transformers' apply_chat_template renders for a few conversations each): ours must match
// byte for byte; a case with "error" must fail, and with the template's own message when it is
// a TemplateError. The cases are found at run time; without ../shared the tests say so and
// skip.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/files.h"
#include "core/json.h"
#include "llm/chat_template.h"
#include "llm/jinja.h"

namespace naut::llm {
namespace {

namespace fs = std::filesystem;

const std::string kDir = NAUT_SOURCE_DIR "/../shared/conformance/chat_templates/";

struct ConformanceCase {
  std::string template_name;  // file name in templates/ without .jinja
  std::string case_name;      // file name in expected/<template>/ without .json
};

std::vector<ConformanceCase> FindCases() {
  std::vector<ConformanceCase> cases;
  std::error_code ec;
  if (!fs::is_directory(kDir + "expected", ec)) return cases;
  for (const auto& dir : fs::directory_iterator(kDir + "expected", ec)) {
    if (!dir.is_directory()) continue;
    for (const auto& file : fs::directory_iterator(dir.path(), ec)) {
      if (file.path().extension() != ".json") continue;
      cases.push_back({dir.path().filename().string(), file.path().stem().string()});
    }
  }
  std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) {
    return std::tie(a.template_name, a.case_name) < std::tie(b.template_name, b.case_name);
  });
  return cases;
}

std::tm ConformanceNow() {  // the fixed time the references were rendered at
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 24;
  tm.tm_hour = 9;
  tm.tm_min = 30;
  tm.tm_isdst = -1;
  std::mktime(&tm);
  return tm;
}

// Renders one case; returns "" when it behaves as the reference, else what differs.
std::string Check(const ConformanceCase& c) {
  const std::string case_path = kDir + "expected/" + c.template_name + "/" + c.case_name + ".json";
  auto text = ReadFile(case_path);
  if (!text) return text.error().ToString();
  auto doc = ParseOrderedJson(*text, case_path);
  if (!doc) return doc.error().ToString();
  const std::string template_file = doc->value("template", c.template_name + ".jinja");
  auto source = ReadFile(kDir + "templates/" + template_file);
  if (!source) return source.error().ToString();
  JinjaOptions options;
  options.name = template_file;
  auto tmpl = JinjaTemplate::Parse(*source, options);
  JinjaRenderOptions render_options;
  render_options.now = ConformanceNow;
  Result<std::string> out =
      tmpl ? tmpl->Render(WithTransformersDefaults((*doc)["input"], {}), render_options)
           : Result<std::string>(tmpl.error());
  if (doc->contains("error")) {
    const std::string expected = (*doc)["error"].get<std::string>();
    if (out.ok()) return "rendered, but transformers fails with " + expected;
    const std::string prefix = "TemplateError: ";
    if (expected.rfind(prefix, 0) == 0) {
      const std::string message = expected.substr(prefix.size());
      if (out.error().code() != Code::kFailedPrecondition ||
          out.error().message().find(message) == std::string::npos) {
        return "expected the template to raise '" + message + "', got " + out.error().ToString();
      }
    }
    return "";
  }
  if (!out.ok()) return out.error().ToString();
  const std::string expected = (*doc)["output"].get<std::string>();
  if (*out == expected) return "";
  size_t at = 0;
  while (at < out->size() && at < expected.size() && (*out)[at] == expected[at]) ++at;
  auto around = [&](const std::string& s) {
    const size_t from = at > 60 ? at - 60 : 0;
    return "..." + s.substr(from, 120) + "...";
  };
  return "differs at byte " + std::to_string(at) + "\n  expected: " + around(expected) +
         "\n  rendered: " + around(*out);
}

class ChatTemplateConformance : public testing::TestWithParam<ConformanceCase> {};

TEST_P(ChatTemplateConformance, RendersAsTransformersDoes) {
  const std::string problem = Check(GetParam());
  EXPECT_EQ(problem, "") << GetParam().template_name << "/" << GetParam().case_name;
}

INSTANTIATE_TEST_SUITE_P(Shared, ChatTemplateConformance, testing::ValuesIn(FindCases()),
                         [](const testing::TestParamInfo<ConformanceCase>& info) {
                           std::string name =
                               info.param.template_name + "__" + info.param.case_name;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ChatTemplateConformance);

// One line with the totals, and a clear skip when the data is not there.
TEST(ChatTemplateConformanceSummary, EveryTemplateMatches) {
  const std::vector<ConformanceCase> cases = FindCases();
  if (cases.empty()) GTEST_SKIP() << "conformance data absent: no cases under " << kDir;
  std::map<std::string, bool> templates;
  size_t passed = 0;
  for (const auto& c : cases) {
    const bool ok = Check(c).empty();
    passed += ok ? 1 : 0;
    auto [it, inserted] = templates.emplace(c.template_name, ok);
    if (!inserted) it->second = it->second && ok;
  }
  const size_t templates_ok =
      std::count_if(templates.begin(), templates.end(), [](const auto& t) { return t.second; });
  std::cout << "chat template conformance: " << templates_ok << " of " << templates.size()
            << " templates, " << passed << " of " << cases.size() << " cases byte-exact\n";
  EXPECT_EQ(passed, cases.size());
  EXPECT_EQ(templates_ok, templates.size());
}

}  // namespace
}  // namespace naut::llm
