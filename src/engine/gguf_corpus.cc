#include "engine/gguf_corpus.h"

#include <cstring>

#include "engine/gguf_writer.h"

namespace naut::engine {

namespace {

template <typename T>
std::string Pod(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

// Header + `n_kv` raw key/value bytes + `n_tensors` raw tensor-info bytes, then padding.
std::string Raw(uint32_t version, uint64_t n_tensors, uint64_t n_kv, const std::string& body) {
  std::string out = "GGUF";
  PutU32(out, version);
  PutU64(out, n_tensors);
  PutU64(out, n_kv);
  return out + body;
}

std::string Kv(const std::string& key, uint32_t type, const std::string& payload) {
  std::string out;
  PutStr(out, key);
  PutU32(out, type);
  return out + payload;
}

std::string TensorInfo(const std::string& name, const std::vector<uint64_t>& dims, uint32_t type,
                       uint64_t offset) {
  std::string out;
  PutStr(out, name);
  PutU32(out, static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) PutU64(out, d);
  PutU32(out, type);
  PutU64(out, offset);
  return out;
}

std::string Pad(std::string s, size_t align = 32) {
  s.resize((s.size() + align - 1) / align * align, '\0');
  return s;
}

}  // namespace

std::string ValidSmallGguf() {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddRaw("t.u8", GgufValueType::kUint8, Pod<uint8_t>(200));
  w.AddRaw("t.i8", GgufValueType::kInt8, Pod<int8_t>(-100));
  w.AddRaw("t.u16", GgufValueType::kUint16, Pod<uint16_t>(60000));
  w.AddRaw("t.i16", GgufValueType::kInt16, Pod<int16_t>(-30000));
  w.AddU32("t.u32", 4000000000u);
  w.AddI32("t.i32", -2000000000);
  w.AddF32("t.f32", 0.5f);
  w.AddBool("t.bool", true);
  w.AddU64("t.u64", 0xFFFFFFFFFFFFFFFFull);
  w.AddRaw("t.i64", GgufValueType::kInt64, Pod<int64_t>(-5));
  w.AddRaw("t.f64", GgufValueType::kFloat64, Pod<double>(2.25));
  w.AddStringArray("t.strs", {"a", "", "ccc"});
  w.AddF32Array("t.f32s", {1.0f, -2.0f});
  w.AddI32Array("t.i32s", {7, 8, 9});
  std::string nested;
  PutU32(nested, static_cast<uint32_t>(GgufValueType::kArray));
  PutU64(nested, 1);
  PutU32(nested, static_cast<uint32_t>(GgufValueType::kUint8));
  PutU64(nested, 2);
  nested += std::string("\x01\x02", 2);
  w.AddRaw("t.nested", GgufValueType::kArray, nested);
  std::vector<float> v(64);
  for (int i = 0; i < 64; ++i) v[i] = static_cast<float>(i) * 0.25f;
  w.AddTensor("a", GgmlType::kF32, {16, 4},
              std::string(reinterpret_cast<const char*>(v.data()), 256));
  w.AddTensor("b", GgmlType::kF32, {8}, std::string(reinterpret_cast<const char*>(v.data()), 32));
  return w.ToBytes();
}

std::vector<BrokenGguf> BrokenGgufCorpus() {
  std::vector<BrokenGguf> c;
  const std::string valid = ValidSmallGguf();
  c.push_back({"empty", "", "not a GGUF file"});
  c.push_back({"bad_magic", "GGML" + valid.substr(4), "bad magic"});
  c.push_back({"version1", Raw(1, 0, 0, ""), "version 1"});
  c.push_back({"version99", Raw(99, 0, 0, ""), "unknown GGUF version"});
  c.push_back({"header_truncated", valid.substr(0, 12), "truncated"});
  c.push_back({"huge_kv_count", Raw(3, 0, 1ull << 60, ""), "metadata count"});
  c.push_back({"huge_tensor_count", Raw(3, 1ull << 60, 0, ""), "tensor count"});
  {
    std::string body;
    PutU64(body, 1ull << 62);  // key length far beyond the file
    c.push_back({"huge_key_length", Raw(3, 0, 1, body + std::string(20, 'x')), "string length"});
  }
  c.push_back({"unknown_value_type", Raw(3, 0, 1, Kv("k", 77, "")), "unknown value type 77"});
  {
    std::string p;
    PutU32(p, 5);
    PutU64(p, 1ull << 40);
    c.push_back({"huge_array", Raw(3, 0, 1, Kv("k", 9, p)), "array length"});
  }
  {
    std::string p;
    PutU32(p, 42);
    PutU64(p, 1);
    c.push_back({"bad_array_type", Raw(3, 0, 1, Kv("k", 9, p)), "unknown array element type"});
  }
  {
    // Arrays nested deeper than the reader allows.
    std::string p;
    for (int i = 0; i < 6; ++i) {
      PutU32(p, 9);
      PutU64(p, 1);
    }
    PutU32(p, 0);
    PutU64(p, 0);
    c.push_back({"deep_nesting", Raw(3, 0, 1, Kv("k", 9, p)), "nested deeper"});
  }
  {
    std::string p;
    PutStr(p, std::string(10, 'x'));
    std::string s = Raw(3, 0, 1, Kv("k", 8, p));
    c.push_back({"string_truncated", s.substr(0, s.size() - 3), "string length"});
  }
  c.push_back({"bad_bool", Raw(3, 0, 1, Kv("k", 7, "\x05")), "bool value 5"});
  c.push_back(
      {"duplicate_key", Raw(3, 0, 2, Kv("k", 0, "\x01") + Kv("k", 0, "\x02")), "appears twice"});
  c.push_back({"alignment_not_pow2", Raw(3, 0, 1, Kv("general.alignment", 4, Pod<uint32_t>(48))),
               "power of two"});
  c.push_back({"alignment_zero", Raw(3, 0, 1, Kv("general.alignment", 4, Pod<uint32_t>(0))),
               "power of two"});
  c.push_back({"alignment_wrong_type", Raw(3, 0, 1, Kv("general.alignment", 10, Pod<uint64_t>(32))),
               "must be a u32"});
  auto with_tensor = [&](const std::string& ti, size_t data_bytes) {
    return Pad(Raw(3, 1, 0, ti)) + std::string(data_bytes, '\0');
  };
  c.push_back({"zero_dims", with_tensor(TensorInfo("t", {}, 0, 0), 32), "0 dimensions"});
  c.push_back(
      {"five_dims", with_tensor(TensorInfo("t", {1, 1, 1, 1, 1}, 0, 0), 32), "5 dimensions"});
  c.push_back({"zero_dim", with_tensor(TensorInfo("t", {4, 0}, 0, 0), 32), "is zero"});
  c.push_back({"overflow_dims", with_tensor(TensorInfo("t", {1ull << 40, 1ull << 40}, 0, 0), 32),
               "overflow"});
  c.push_back({"negative_dim", with_tensor(TensorInfo("t", {~0ull}, 0, 0), 32), "overflow"});
  c.push_back({"unknown_type", with_tensor(TensorInfo("t", {8}, 31, 0), 32), "unknown type id 31"});
  c.push_back(
      {"row_not_block_multiple", with_tensor(TensorInfo("t", {33}, 2, 0), 64), "block size"});
  c.push_back({"misaligned_offset", with_tensor(TensorInfo("t", {8}, 0, 4), 64), "not aligned"});
  c.push_back({"data_past_end", with_tensor(TensorInfo("t", {64}, 0, 0), 32), "outside"});
  c.push_back({"offset_past_end", with_tensor(TensorInfo("t", {8}, 0, 1ull << 40), 32), "outside"});
  c.push_back({"huge_byte_size", with_tensor(TensorInfo("t", {1ull << 31, 1ull << 31}, 0, 0), 32),
               "overflow"});
  c.push_back({"duplicate_tensor",
               Pad(Raw(3, 2, 0, TensorInfo("t", {8}, 0, 0) + TensorInfo("t", {8}, 0, 32))) +
                   std::string(64, '\0'),
               "appears twice"});
  c.push_back({"tensor_info_truncated", Raw(3, 1, 0, TensorInfo("t", {8}, 0, 0)).substr(0, 40),
               "tensor count"});
  c.push_back({"data_section_missing", Raw(3, 1, 0, TensorInfo("t", {8}, 0, 0)), "truncated"});
  c.push_back({"valid_truncated_in_data", valid.substr(0, valid.size() - 16), "outside"});
  return c;
}

}  // namespace naut::engine
