#pragma once
// FNV-1a over bytes: cheap and the same on every run and build (unlike std::hash), for tags,
// cache keys and fingerprints that are stored or compared across processes. Not for security.

#include <cstdint>
#include <string_view>

namespace naut {

inline constexpr uint64_t kFnv1aOffset = 14695981039346656037ULL;  // FNV's offset basis
// The start value the skill-library task tags and the hashing-v1 embeddings were first made
// with (the offset basis with its last digit lost). Both are stored in data homes, so they
// keep it.
inline constexpr uint64_t kFnv1aStoredSeed = 1469598103934665603ULL;

// Continues hash `h` over `bytes` (start from kFnv1aOffset, or chain from an earlier result).
inline uint64_t Fnv1a64(std::string_view bytes, uint64_t h = kFnv1aOffset) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace naut
