#include "llm/jinja.h"

#include <new>

#include "llm/jinja_builtins.h"
#include "llm/jinja_interp.h"
#include "llm/jinja_parser.h"

namespace naut::llm {

namespace {

using jinja::TemplateError;

Status ToStatus(const TemplateError& e, const std::string& name) {
  std::string where = name;
  if (e.loc.line > 0) {
    where += " line " + std::to_string(e.loc.line) + ", column " + std::to_string(e.loc.column);
  }
  std::string message = where + ": " + e.message;
  switch (e.kind) {
    case TemplateError::Kind::kRaised:
      return FailedPrecondition(std::move(message));
    case TemplateError::Kind::kLimit:
      return ResourceExhausted(std::move(message));
    case TemplateError::Kind::kSyntax:
    case TemplateError::Kind::kRuntime:
      break;
  }
  return InvalidArgument(std::move(message));
}

// Jinja2 refuses unknown filters and tests when it compiles a template, except inside an
// `if` or an inline if (a "soft" frame; loops, macros and blocks inside are not soft), where
// the error waits until the filter is used.
void CheckNames(const jinja::Expr* e, bool soft);

void CheckArgs(const jinja::ArgsNode& args, bool soft) {
  for (const auto& a : args.positional) CheckNames(a.get(), soft);
  for (const auto& [k, a] : args.keywords) CheckNames(a.get(), soft);
  CheckNames(args.star_args.get(), soft);
  CheckNames(args.star_kwargs.get(), soft);
}

void CheckNames(const jinja::Expr* e, bool soft) {
  if (e == nullptr) return;
  if (!soft && e->kind == jinja::Expr::Kind::kFilter && !jinja::HasFilter(e->name)) {
    jinja::Throw(TemplateError::Kind::kSyntax, "no filter named '" + e->name + "'", e->loc);
  }
  if (!soft && e->kind == jinja::Expr::Kind::kTest && !jinja::HasTest(e->name)) {
    jinja::Throw(TemplateError::Kind::kSyntax, "no test named '" + e->name + "'", e->loc);
  }
  const bool inner = soft || e->kind == jinja::Expr::Kind::kCondExpr;
  for (const auto& k : e->kids) CheckNames(k.get(), inner);
  CheckArgs(e->args, inner);
}

void CheckNames(const jinja::Body& body, bool soft) {
  using Kind = jinja::Stmt::Kind;
  for (const auto& s : body) {
    switch (s->kind) {
      case Kind::kIf:
        for (const auto& c : s->conditions) CheckNames(c.get(), true);
        for (const auto& b : s->bodies) CheckNames(b, true);
        CheckNames(s->else_body, true);
        break;
      case Kind::kFor:
        CheckNames(s->expr.get(), soft);
        CheckNames(s->filter.get(), false);
        CheckNames(s->body, false);
        CheckNames(s->else_body, false);
        break;
      case Kind::kWith:
        for (const auto& v : s->with_values) CheckNames(v.get(), soft);
        CheckNames(s->body, false);
        break;
      case Kind::kScope:
        CheckNames(s->body, soft);
        break;
      default:
        CheckNames(s->expr.get(), soft);
        for (const auto& f : s->filters) CheckNames(f.get(), false);
        for (const auto& p : s->params) CheckNames(p.default_value.get(), false);
        CheckNames(s->body, false);
        break;
    }
  }
}

}  // namespace

JinjaTemplate::JinjaTemplate(JinjaTemplate&&) noexcept = default;
JinjaTemplate& JinjaTemplate::operator=(JinjaTemplate&&) noexcept = default;
JinjaTemplate::~JinjaTemplate() = default;

Result<JinjaTemplate> JinjaTemplate::Parse(std::string_view source, JinjaOptions options) {
  if (source.size() > options.max_source_bytes) {
    return ResourceExhausted(options.name + ": " + std::to_string(source.size()) +
                             " bytes exceed the limit of " +
                             std::to_string(options.max_source_bytes) + " bytes for a template");
  }
  jinja::ParseOptions po;
  po.trim_blocks = options.trim_blocks;
  po.lstrip_blocks = options.lstrip_blocks;
  po.max_nesting = options.max_nesting;
  try {
    auto program = std::make_unique<jinja::Program>(jinja::Parse(source, po));
    CheckNames(program->body, /*soft=*/false);
    JinjaTemplate t;
    t.program_ = std::move(program);
    t.options_ = std::move(options);
    return t;
  } catch (const TemplateError& e) {
    return ToStatus(e, options.name);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted(options.name + ": out of memory while parsing");
  }
}

Result<std::string> JinjaTemplate::Render(const nlohmann::ordered_json& variables,
                                          const JinjaRenderOptions& options) const {
  if (!variables.is_object()) {
    return InvalidArgument(options_.name + ": the variables must be a JSON object, not " +
                           std::string(variables.type_name()));
  }
  try {
    std::vector<std::pair<std::string, jinja::Value>> vars;
    for (auto it = variables.begin(); it != variables.end(); ++it) {
      vars.emplace_back(it.key(), jinja::FromJson(it.value()));
    }
    jinja::Runtime runtime(options, options.now);
    return runtime.Render(*program_, vars);
  } catch (const TemplateError& e) {
    return ToStatus(e, options_.name);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted(options_.name + ": out of memory while rendering");
  }
}

}  // namespace naut::llm
