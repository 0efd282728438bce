#pragma once
// Hand-made GGUF files for tests and as the fuzzer's seed corpus: one small valid model-shaped
// file and a set of broken ones, each with a fragment of the error the reader must give.

#include <string>
#include <vector>

namespace naut::engine {

struct BrokenGguf {
  std::string name;
  std::string bytes;
  std::string expected_error;  // substring of the reader's message
};

// A valid v3 file with every metadata value type and two tensors.
std::string ValidSmallGguf();
std::vector<BrokenGguf> BrokenGgufCorpus();

}  // namespace naut::engine
