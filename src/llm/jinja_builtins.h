#pragma once
// The filters, tests, methods and globals of the Jinja engine (part of llm/jinja.h): Jinja2
// 3.1's builtins as transformers' ImmutableSandboxedEnvironment offers them (methods that
// would modify a list or dict are refused, ranges stop at 100000 items), with transformers'
// tojson (Python's json.dumps: ", " and ": " separators, non-ASCII kept), raise_exception and
// strftime_now. Python's str, dict and list methods that chat templates call
// (startswith, split, strip, replace, format, get, items, ...) behave as in Python.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llm/jinja_interp.h"

namespace naut::llm::jinja {

bool HasFilter(std::string_view name);
bool HasTest(std::string_view name);

// Throw TemplateError on bad arguments, as Python would raise.
Value ApplyFilter(Runtime& rt, std::string_view name, const Value& input, CallArgs& args);
bool ApplyTest(Runtime& rt, std::string_view name, const Value& value, CallArgs& args);

// The method `name` of a string, dict or list bound to `obj`; nullopt when it has none.
std::optional<Value> FindMethod(const Value& obj, const std::string& name);

// range, namespace, dict, joiner, raise_exception, strftime_now.
std::vector<std::pair<std::string, Value>> Globals();

// What `for` walks: a list's items, a dict's keys, a string's characters; nothing for
// undefined. Throws Python's TypeError for anything else.
std::vector<Value> Iterate(const Value& v);

// Python slicing of a list, tuple or string; undefined for other values.
Value Slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// `value % args`: printf-style string formatting.
std::string PercentFormat(Runtime& rt, const std::string& format, const Value& args);

}  // namespace naut::llm::jinja
