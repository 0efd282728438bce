// libFuzzer target for JSON from outside: ParseJson (the one entry point, with its nesting and
// size limits), the lenient parser that repairs model output, and the id peek used to answer a
// refused message. Whatever the bytes, each answers a value or an error; a value is within the
// nesting limit and survives what NeuroNaut does with it next (copy, compare, serialise).

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/json.h"
#include "llm/json_repair.h"

namespace {

void Exercise(const naut::Json& j) {
  if (naut::JsonDepth(j) > naut::kMaxJsonDepth) std::abort();
  naut::Json copy = j;
  if (!(copy == j)) std::abort();
  std::string text = naut::DumpJson(copy);
  auto again = naut::ParseJson(text, "fuzz round trip");
  if (!again.ok()) std::abort();  // what we serialise we can read back
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto j = naut::ParseJson(text, "fuzz input"); j.ok()) Exercise(*j);
  if (auto j = naut::llm::ParseJsonLenient(text); j.ok()) Exercise(*j);
  naut::Json peeked = naut::PeekJsonMembers(text, {"id", "method"});
  (void)naut::DumpJson(peeked);
  return 0;
}
