#include "llm/prompt_writer.h"

#include <spdlog/spdlog.h>

#include "core/files.h"

namespace naut::llm {

namespace {

std::string TokenText(const engine::Tokenizer& tok, engine::TokenId id) {
  return id >= 0 && id < tok.n_tokens() ? tok.token_text(id) : "";
}

}  // namespace

Result<std::unique_ptr<PromptWriter>> PromptWriter::Create(const engine::Model& model,
                                                           const std::string& chat_format,
                                                           const std::string& chat_template,
                                                           std::string label) {
  std::unique_ptr<PromptWriter> w(new PromptWriter());
  w->label_ = std::move(label);
  if (!chat_format.empty()) {
    if (!chat_template.empty()) {
      return InvalidArgument("set either chat_format or chat_template, not both");
    }
    auto f = ParseChatFormat(chat_format);
    if (!f) return InvalidArgument("unknown chat format '" + chat_format + "'");
    w->format_ = *f;
    w->has_format_ = true;
    w->tool_style_ = ToolCallStyleOf(*f);
    return w;
  }
  std::string source;
  if (!chat_template.empty()) {
    auto text = ReadFile(chat_template);
    if (!text.ok()) return text.error().WithContext("chat_template");
    source = std::move(*text);
    w->template_origin_ = chat_template;
  } else {
    source = model.file().GetStringOr("tokenizer.chat_template", "");
    w->template_origin_ = "the model's tokenizer.chat_template";
  }
  w->template_source_ = source;
  auto detected = DetectChatFormat(source);
  if (detected.ok()) {
    w->format_ = *detected;
    w->has_format_ = true;
    w->tool_style_ = ToolCallStyleOf(*detected);
  }
  if (source.empty()) return detected.error();
  const engine::Tokenizer& tok = model.tokenizer();
  ChatTemplateTokens tokens{TokenText(tok, tok.bos()), TokenText(tok, tok.eos())};
  auto t =
      ChatTemplate::Create(source, tokens, chat_template.empty() ? "chat template" : chat_template);
  if (t.ok()) {
    w->strip_bos_ = tok.add_bos() && !tokens.bos.empty();
    w->tool_style_ = ToolCallStyleOfTemplate(source, t->capabilities().tools);
    w->reasoning_ = source.find("<think>") != std::string::npos;
    w->template_ = std::make_unique<const ChatTemplate>(std::move(*t));
    return w;
  }
  if (!chat_template.empty()) return t.error();
  if (!w->has_format_) {
    return Unimplemented("the chat template cannot be used (" + t.error().message() +
                         ") and is none of the built-in formats; name one with chat_format = "
                         "chatml | llama3 | mistral-v7 | mistral | gemma");
  }
  spdlog::warn(
      "{}: the chat template cannot be used ({}); prompts are written in the built-in {} "
      "format",
      w->label_, t.error().message(), ChatFormatName(w->format_));
  return w;
}

std::string PromptWriter::Describe() const {
  if (template_) return "chat template from " + template_origin_;
  return "chat format " + std::string(ChatFormatName(format_));
}

Result<std::string> PromptWriter::Prompt(const ChatRequest& request) const {
  const std::vector<ToolSpec> no_tools;
  const std::vector<ToolSpec>& tools =
      request.tool_choice.mode == ToolChoice::Mode::kNone ? no_tools : request.tools;
  if (template_) {
    auto text = template_->Apply(request.messages, tools);
    if (text.ok()) {
      // The tokenizer adds BOS itself; the template's own copy would make two.
      const std::string& bos = template_->tokens().bos;
      if (strip_bos_ && text->compare(0, bos.size(), bos) == 0) text->erase(0, bos.size());
      return std::move(*text);
    }
    if (!has_format_) return InvalidArgument(template_origin_ + ": " + text.error().message());
    spdlog::warn(
        "{}: the chat template refuses this chat ({}); writing it in the built-in {} format",
        label_, text.error().message(), ChatFormatName(format_));
  }
  return RenderChat(format_, request.messages, tools);
}

Result<std::optional<OutputGrammar>> PromptWriter::OutputGrammarFor(
    const ChatRequest& request, bool parallel_tool_calls, bool constrain_tool_calls) const {
  using Mode = ToolChoice::Mode;
  const bool tools = !request.tools.empty() && request.tool_choice.mode != Mode::kNone;
  const bool forced =
      request.tool_choice.mode == Mode::kRequired || request.tool_choice.mode == Mode::kFunction;
  if (request.response_format.type != ResponseFormat::Type::kText) {
    if (tools && forced) {
      return InvalidArgument("response_format and a required tool call cannot both be forced");
    }
    NAUT_ASSIGN_OR_RETURN(OutputGrammar g, ResponseFormatGrammar(request.response_format));
    return std::optional<OutputGrammar>(std::move(g));
  }
  if (!tools || !constrain_tool_calls) return std::optional<OutputGrammar>();
  auto g = ToolCallGrammar(request.tools, request.tool_choice, tool_style_,
                           {.parallel = parallel_tool_calls, .reasoning = reasoning_});
  if (g.ok()) {
    for (const std::string& note : g->notes) spdlog::debug("{}: {}", label_, note);
    return std::optional<OutputGrammar>(std::move(*g));
  }
  // A tool-call form the grammar does not know: free calls under auto, never a guess.
  if (g.error().code() == Code::kUnimplemented && !forced) {
    if (!told_unconstrained_.exchange(true)) {
      spdlog::warn("{}: tool calls are not constrained: {}", label_, g.error().message());
    }
    return std::optional<OutputGrammar>();
  }
  return InvalidArgument((forced ? "tool_choice cannot be enforced: " : "") + g.error().message());
}

}  // namespace naut::llm
