#include "skills/validator.h"

#include <gtest/gtest.h>

namespace naut::skills {
namespace {

constexpr const char* kGood = R"py(import json
import tools

MAX_TRIES = 3


def _press(chat_id, text):
    return tools.rpg__press_inline_button(chat_id=chat_id, button_text=text)


def hunt_until_gold(chat_id: int, gold: int = 10, *, verbose=False):
    """Hunt in the game chat until the purse holds `gold` coins.

    Returns the number of hunts."""
    hunts = 0
    for _ in range(MAX_TRIES):
        _press(chat_id, "Hunt")
        hunts += 1
    return hunts
)py";

void ExpectRefused(const std::string& code, const std::string& reason) {
  auto r = ValidateSkill(code);
  ASSERT_FALSE(r) << "accepted:\n" << code;
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find(reason), std::string::npos)
      << "reason: " << r.error().message();
}

TEST(ValidateSkill, AcceptsAFunctionWithDocstringAndReportsItsShape) {
  auto r = ValidateSkill(kGood);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->entry, "hunt_until_gold");
  EXPECT_EQ(r->docstring.rfind("Hunt in the game chat", 0), 0u);
  ASSERT_EQ(r->params.size(), 3u);
  EXPECT_EQ(r->params[0].name, "chat_id");
  EXPECT_EQ(r->params[0].annotation, "int");
  EXPECT_FALSE(r->params[0].default_value);
  EXPECT_EQ(r->params[1].default_value.value_or(""), "10");
  EXPECT_EQ(r->params[2].name, "verbose");
  EXPECT_EQ(r->params[2].default_value.value_or(""), "False");
}

TEST(ValidateSkill, RefusesWithTheReason) {
  ExpectRefused("def f(:\n  pass\n", "line 1: syntax error");
  ExpectRefused("def f():\n    return 1\n", "has no docstring");
  ExpectRefused("def f():\n    '''a'''\n\ndef g():\n    '''b'''\n", "found 2: f, g");
  ExpectRefused("x = 1\n", "found 0");
  ExpectRefused("import os\ndef f():\n    '''a'''\n", "line 1: import of 'os' is not allowed");
  ExpectRefused("def f():\n    '''a'''\n    import subprocess\n", "'subprocess' is not allowed");
  ExpectRefused("from socket import socket\ndef f():\n    '''a'''\n", "'socket' is not allowed");
  ExpectRefused("def f():\n    '''a'''\n    return eval('1')\n", "'eval' is not allowed");
  ExpectRefused("def f():\n    '''a'''\n    return __import__('os')\n", "'__import__'");
  ExpectRefused("def f():\n    '''a'''\n    return open('/etc/passwd').read()\n", "'open'");
  ExpectRefused("def f():\n    '''a'''\n    return ().__class__.__bases__\n", "dunder attribute");
  ExpectRefused("def f():\n    '''a'''\nf()\n", "top-level Expr would run");
  ExpectRefused("def f(*args):\n    '''a'''\n", "*args or **kwargs");
}

// The model's habit this is for: a skill that ends by calling itself.
TEST(TidySkill, DropsCallsOfTheCodesOwnFunctionsOnly) {
  const std::string code =
      "import tools\n\ndef go(n=1):\n    '''Go.'''\n    return tools.game__go(n=n)\n\n"
      "# Call the function\ngo()\nx = go(\n    2)\nprint(go())\n"
      "if __name__ == \"__main__\":\n    go(3)\n    print('done')\n";
  auto r = TidySkill(code);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->code,
            "import tools\n\ndef go(n=1):\n    '''Go.'''\n    return tools.game__go(n=n)\n\n"
            "# Call the function\n");
  EXPECT_EQ(r->dropped, (std::vector<std::string>{"go()", "x = go(", "print(go())",
                                                  "if __name__ == \"__main__\":"}));
  auto shape = ValidateSkill(r->code);
  ASSERT_TRUE(shape) << shape.error().ToString();
  EXPECT_EQ(shape->entry, "go");
}

TEST(TidySkill, LeavesEverythingElseForTheValidator) {
  // A call of something the code does not define, a statement sharing its line with another,
  // code that does not parse, and code with nothing to drop all come back as they were.
  for (const std::string code :
       {"def go():\n    '''Go.'''\ntools.game__go()\n", "def go():\n    '''Go.'''\nX = 1; go()\n",
        "def go(:\n", "def go():\n    '''Go.'''\n    return go\n"}) {
    auto r = TidySkill(code);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->code, code);
    EXPECT_TRUE(r->dropped.empty());
  }
  ExpectRefused("def go():\n    '''Go.'''\ntools.game__go()\n", "top-level Expr would run");
}

TEST(TidySkill, KeepsLineEndingsOfWhatStays) {
  auto r = TidySkill("def go():\r\n    '''Go.'''\r\n    return 1\r\ngo()\r\n");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->code, "def go():\r\n    '''Go.'''\r\n    return 1\r\n");
  EXPECT_EQ(r->dropped, std::vector<std::string>{"go()"});
  // A lone \r ends a line for Python too: the statement it names is the one dropped.
  auto mac = TidySkill("def go():\r    '''Go.'''\n    return 1\ngo()\nY = 2\n");
  ASSERT_TRUE(mac) << mac.error().ToString();
  EXPECT_EQ(mac->code, "def go():\r    '''Go.'''\n    return 1\nY = 2\n");
}

// The 1.5B wrote a fifth of its skills without a docstring: the task it was written for is one.
TEST(TidySkill, AFunctionWithoutADocstringGetsTheOneGiven) {
  auto r = TidySkill("import tools\n\ndef buy(n=1):\n    return n\n", "Buy a potion.");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->docstring_added);
  EXPECT_EQ(r->code,
            "import tools\n\ndef buy(n=1):\n    \"\"\"Buy a potion.\"\"\"\n    return n\n");

  // Quotes, backslashes and line breaks in the text stay text; tabs and \r\n are kept.
  const std::string odd = "Say \"hi\"\\ then\n \"\"\"stop\"";
  r = TidySkill("def say():\r\n\tx = 1\r\n\treturn x\r\n", odd);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->code.substr(0, 13), "def say():\r\n\t");
  auto shape = ValidateSkill(r->code);
  ASSERT_TRUE(shape) << shape.error().ToString();
  EXPECT_EQ(shape->docstring, "Say \"hi\"\\ then \"\"\"stop\"");

  // Nothing to add: a docstring already there, no text given, or a body on the def's line.
  for (const auto& [code, doc] :
       std::vector<std::pair<std::string, std::string>>{{"def go():\n    '''Go.'''\n", "Other."},
                                                        {"def go():\n    return 1\n", " "},
                                                        {"def go(): return 1\n", "Go."}}) {
    r = TidySkill(code, doc);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->code, code);
    EXPECT_FALSE(r->docstring_added);
  }
}

}  // namespace
}  // namespace naut::skills
