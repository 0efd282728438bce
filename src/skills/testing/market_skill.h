#pragma once
// Test support (header-only; used by the skill library's and the consolidation's tests): a
// skill as a model writes it for one item of the goblin market. Skills made from it for two
// items differ only in that constant, which makes them a group to consolidate.

#include <string>

namespace naut::skills::testing {

inline std::string MarketSkill(const std::string& name, const std::string& item) {
  return "import tools\n\ndef " + name + "():\n    \"\"\"Buy a " + item +
         " at the goblin market.\"\"\"\n    "
         "tools.game__send_message(chat_id=\"@goblin_market_bot\", "
         "message=\"/start\")\n    return tools.game__press_inline_button(chat_id="
         "\"@goblin_market_bot\", button_text=\"Buy " +
         item + "\")\n";
}

}  // namespace naut::skills::testing
