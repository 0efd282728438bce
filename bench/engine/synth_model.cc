// Writes a random-weight model (engine/synthetic_model.h) from a JSON spec, and prints the
// FNV-1a 64 fingerprint of the file, which the reference tests compare before trusting a
// stored llama.cpp reference for it.
//
//   synth_model OUT.gguf '{"arch": "qwen2", "type": "Q8_0", "norm_std": 0.3}'

#include <cstdio>
#include <string>

#include "core/hash.h"
#include "core/json.h"
#include "engine/synthetic_model.h"

int main(int argc, char** argv) {
  using namespace naut;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.gguf SPEC_JSON\n", argv[0]);
    return 2;
  }
  auto j = ParseJson(argv[2], "spec");
  if (!j.ok()) {
    std::fprintf(stderr, "%s\n", j.error().ToString().c_str());
    return 2;
  }
  auto spec = engine::SyntheticSpecFromJson(*j);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.error().ToString().c_str());
    return 2;
  }
  const std::string bytes = engine::BuildSyntheticModel(*spec).ToBytes();
  std::FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
      std::fclose(f) != 0) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("%016llx\n", static_cast<unsigned long long>(Fnv1a64(bytes)));
  return 0;
}
