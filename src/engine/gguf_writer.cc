#include "engine/gguf_writer.h"

#include <cstring>
#include <fstream>

namespace naut::engine {

void PutU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void PutStr(std::string& out, const std::string& s) {
  PutU64(out, s.size());
  out += s;
}

namespace {
template <typename T>
std::string Pod(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
}  // namespace

void GgufWriter::AddRaw(const std::string& key, GgufValueType type, const std::string& payload) {
  PutStr(kv_, key);
  PutU32(kv_, static_cast<uint32_t>(type));
  kv_ += payload;
  ++n_kv_;
}

void GgufWriter::AddString(const std::string& key, const std::string& v) {
  std::string p;
  PutStr(p, v);
  AddRaw(key, GgufValueType::kString, p);
}
void GgufWriter::AddU32(const std::string& key, uint32_t v) {
  AddRaw(key, GgufValueType::kUint32, Pod(v));
}
void GgufWriter::AddI32(const std::string& key, int32_t v) {
  AddRaw(key, GgufValueType::kInt32, Pod(v));
}
void GgufWriter::AddU64(const std::string& key, uint64_t v) {
  AddRaw(key, GgufValueType::kUint64, Pod(v));
}
void GgufWriter::AddF32(const std::string& key, float v) {
  AddRaw(key, GgufValueType::kFloat32, Pod(v));
}
void GgufWriter::AddBool(const std::string& key, bool v) {
  AddRaw(key, GgufValueType::kBool, Pod<uint8_t>(v));
}

void GgufWriter::AddStringArray(const std::string& key, const std::vector<std::string>& v) {
  std::string p;
  PutU32(p, static_cast<uint32_t>(GgufValueType::kString));
  PutU64(p, v.size());
  for (const auto& s : v) PutStr(p, s);
  AddRaw(key, GgufValueType::kArray, p);
}
void GgufWriter::AddF32Array(const std::string& key, const std::vector<float>& v) {
  std::string p;
  PutU32(p, static_cast<uint32_t>(GgufValueType::kFloat32));
  PutU64(p, v.size());
  p.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  AddRaw(key, GgufValueType::kArray, p);
}
void GgufWriter::AddI32Array(const std::string& key, const std::vector<int32_t>& v) {
  std::string p;
  PutU32(p, static_cast<uint32_t>(GgufValueType::kInt32));
  PutU64(p, v.size());
  p.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  AddRaw(key, GgufValueType::kArray, p);
}

void GgufWriter::AddTensor(const std::string& name, GgmlType type, std::vector<int64_t> dims,
                           std::string data) {
  tensors_.push_back({name, type, std::move(dims), std::move(data)});
}

std::string GgufWriter::ToBytes() const {
  std::string out = "GGUF";
  PutU32(out, 3);
  PutU64(out, tensors_.size());
  PutU64(out, n_kv_);
  out += kv_;
  uint64_t offset = 0;
  auto align = [&](uint64_t x) { return (x + alignment_ - 1) / alignment_ * alignment_; };
  for (const auto& t : tensors_) {
    PutStr(out, t.name);
    PutU32(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) PutU64(out, static_cast<uint64_t>(d));
    PutU32(out, static_cast<uint32_t>(t.type));
    PutU64(out, offset);
    offset = align(offset + t.data.size());
  }
  out.resize(align(out.size()), '\0');
  for (const auto& t : tensors_) {
    out += t.data;
    out.resize(align(out.size()), '\0');
  }
  return out;
}

Status GgufWriter::WriteTo(const std::string& path) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return PermissionDenied(path + ": cannot create");
  // Written tensor by tensor so that a 1 GB benchmark model is never held twice in memory.
  std::string head = "GGUF";
  PutU32(head, 3);
  PutU64(head, tensors_.size());
  PutU64(head, n_kv_);
  head += kv_;
  uint64_t offset = 0;
  auto align = [&](uint64_t x) { return (x + alignment_ - 1) / alignment_ * alignment_; };
  for (const auto& t : tensors_) {
    PutStr(head, t.name);
    PutU32(head, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) PutU64(head, static_cast<uint64_t>(d));
    PutU32(head, static_cast<uint32_t>(t.type));
    PutU64(head, offset);
    offset = align(offset + t.data.size());
  }
  head.resize(align(head.size()), '\0');
  f.write(head.data(), static_cast<std::streamsize>(head.size()));
  std::string pad(alignment_, '\0');
  for (const auto& t : tensors_) {
    f.write(t.data.data(), static_cast<std::streamsize>(t.data.size()));
    f.write(pad.data(), static_cast<std::streamsize>(align(t.data.size()) - t.data.size()));
  }
  if (!f) return Unavailable(path + ": write failed");
  return Status::Ok();
}

}  // namespace naut::engine
