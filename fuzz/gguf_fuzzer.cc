// libFuzzer target for the GGUF reader: any byte string must parse to a file whose every
// tensor lies inside the input, or to an error; never a crash, leak or over-read (ASan).
// When the reader accepts the input, the tokenizer is built from it too, since it is the
// next consumer of untrusted metadata.
//
// NAUT_FUZZ_WRITE_SEEDS=DIR makes the first call write the hand-made seed corpus into DIR.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/gguf.h"
#include "engine/gguf_corpus.h"
#include "engine/tokenizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("NAUT_FUZZ_WRITE_SEEDS")) {
    std::ofstream(std::string(dir) + "/valid.gguf", std::ios::binary)
        << naut::engine::ValidSmallGguf();
    for (const auto& b : naut::engine::BrokenGgufCorpus()) {
      std::ofstream(std::string(dir) + "/" + b.name + ".gguf", std::ios::binary) << b.bytes;
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy, so ASan flags any read past `size`.
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto file = naut::engine::GgufFile::Parse(bytes);
  if (!file.ok()) return 0;
  unsigned sum = 0;
  for (const auto& t : (*file)->tensors()) {
    if (t.n_bytes > 0) sum += t.data[0] + t.data[t.n_bytes - 1];
  }
  for (const auto& [key, value] : (*file)->metadata())
    sum += static_cast<unsigned>(value.ToString().size());
  auto tok = naut::engine::Tokenizer::Create(**file);
  if (tok.ok()) {
    auto ids = (*tok)->Tokenize("Hello world <s> 123 \xE2\x96\x81", true, true);
    sum += static_cast<unsigned>((*tok)->Detokenize(ids).size());
  }
  volatile unsigned sink = sum;
  (void)sink;
  return 0;
}
