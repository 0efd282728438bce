#pragma once
// Standard base64 (RFC 4648, with padding): MCP's binary contents, OpenAI's embeddings in
// `encoding_format: base64`.

#include <optional>
#include <string>
#include <string_view>

namespace naut {

std::string Base64Encode(std::string_view bytes);
// The bytes of `text`, or nullopt when it is not padded base64 of the standard alphabet.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace naut
