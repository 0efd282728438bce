#pragma once
// GGUF writer (v3): builds a GGUF file in memory from metadata and tensors. Used by the tests
// to make small models of every supported type and by the benchmarks to make big ones.
// Not thread-safe; one writer per thread.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/gguf.h"

namespace naut::engine {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32) : alignment_(alignment) {}

  void AddString(const std::string& key, const std::string& v);
  void AddU32(const std::string& key, uint32_t v);
  void AddI32(const std::string& key, int32_t v);
  void AddU64(const std::string& key, uint64_t v);
  void AddF32(const std::string& key, float v);
  void AddBool(const std::string& key, bool v);
  void AddStringArray(const std::string& key, const std::vector<std::string>& v);
  void AddF32Array(const std::string& key, const std::vector<float>& v);
  void AddI32Array(const std::string& key, const std::vector<int32_t>& v);
  // Any pre-encoded value: `type` then `payload` exactly as it appears in the file.
  void AddRaw(const std::string& key, GgufValueType type, const std::string& payload);

  // `dims[0]` is the row length. `data` must hold RowBytes(type, rows) for all rows.
  void AddTensor(const std::string& name, GgmlType type, std::vector<int64_t> dims,
                 std::string data);

  std::string ToBytes() const;
  Status WriteTo(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    std::string data;
  };
  uint32_t alignment_;
  uint64_t n_kv_ = 0;
  std::string kv_;
  std::vector<Tensor> tensors_;
};

// Little-endian encoders shared with tests that hand-craft broken files.
void PutU32(std::string& out, uint32_t v);
void PutU64(std::string& out, uint64_t v);
void PutStr(std::string& out, const std::string& s);

}  // namespace naut::engine
