#include "engine/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace naut::engine {

namespace {

struct TypeEntry {
  uint32_t id;
  TypeTraits traits;
};

constexpr TypeEntry kTypes[] = {
    {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},         {2, {"Q4_0", 32, 18}},
    {3, {"Q4_1", 32, 20}},      {6, {"Q5_0", 32, 22}},      {7, {"Q5_1", 32, 24}},
    {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 36}},      {10, {"Q2_K", 256, 84}},
    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},   {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},   {16, {"IQ2_XXS", 256, 66}},
    {17, {"IQ2_XS", 256, 74}},  {18, {"IQ3_XXS", 256, 98}}, {19, {"IQ1_S", 256, 50}},
    {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},  {22, {"IQ2_S", 256, 82}},
    {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},         {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},        {28, {"F64", 1, 8}},
    {29, {"IQ1_M", 256, 56}},   {30, {"BF16", 1, 2}},       {34, {"TQ1_0", 256, 54}},
    {35, {"TQ2_0", 256, 66}},   {39, {"MXFP4", 32, 17}},
};

std::string Errno() { return std::strerror(errno); }

// Bounded little-endian reader over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t n) : p_(p), n_(n) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return n_ - pos_; }

  template <typename T>
  Status Read(T* out, const char* what) {
    if (remaining() < sizeof(T)) return Truncated(what);
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status ReadString(std::string* out, const char* what) {
    uint64_t len = 0;
    NAUT_RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining()) {
      return DataLoss(std::string(what) + ": string length " + std::to_string(len) + " at offset " +
                      std::to_string(pos_ - 8) + " runs past the end of the file");
    }
    out->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }
  Status Truncated(const char* what) const {
    return DataLoss(std::string("file truncated while reading ") + what + " at offset " +
                    std::to_string(pos_));
  }

 private:
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
};

// Smallest encoded size of one element, used to refuse array lengths the file cannot hold
// before reserving memory for them.
uint64_t MinElementSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kString:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kArray:
      return 12;
  }
  return 1;
}

bool ValidValueType(uint32_t t) { return t <= 12; }

Status ReadScalar(Cursor& c, GgufValueType t, GgufValue* v, const std::string& key) {
  const char* what = "metadata value";
  switch (t) {
    case GgufValueType::kUint8: {
      uint8_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kInt8: {
      int8_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;  // NOLINT(bugprone-signed-char-misuse): GGUF's int8 is a signed number
      break;
    }
    case GgufValueType::kUint16: {
      uint16_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kInt16: {
      int16_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kUint32: {
      uint32_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kInt32: {
      int32_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kUint64: {
      uint64_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = static_cast<int64_t>(x);
      break;
    }
    case GgufValueType::kInt64: {
      int64_t x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufValueType::kFloat32: {
      float x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->f = x;
      break;
    }
    case GgufValueType::kFloat64: {
      double x{};
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      v->f = x;
      break;
    }
    case GgufValueType::kBool: {
      uint8_t x = 0;
      NAUT_RETURN_IF_ERROR(c.Read(&x, what));
      if (x > 1)
        return DataLoss("metadata '" + key + "': bool value " + std::to_string(x) +
                        " is not 0 or 1");
      v->i = x;
      break;
    }
    case GgufValueType::kString:
      NAUT_RETURN_IF_ERROR(c.ReadString(&v->s, what));
      break;
    case GgufValueType::kArray:
      return Internal("ReadScalar called on an array");
  }
  return Status::Ok();
}

Status ReadValue(Cursor& c, GgufValueType t, GgufValue* v, const std::string& key, int depth) {
  v->type = t;
  if (t != GgufValueType::kArray) return ReadScalar(c, t, v, key);
  if (depth >= GgufFile::kMaxArrayDepth) {
    return DataLoss("metadata '" + key + "': arrays nested deeper than " +
                    std::to_string(GgufFile::kMaxArrayDepth));
  }
  uint32_t et = 0;
  uint64_t n = 0;
  NAUT_RETURN_IF_ERROR(c.Read(&et, "array element type"));
  if (!ValidValueType(et))
    return DataLoss("metadata '" + key + "': unknown array element type " + std::to_string(et));
  NAUT_RETURN_IF_ERROR(c.Read(&n, "array length"));
  v->array_type = static_cast<GgufValueType>(et);
  if (n > c.remaining() / MinElementSize(v->array_type)) {
    return DataLoss("metadata '" + key + "': array length " + std::to_string(n) +
                    " is larger than the rest of the file can hold");
  }
  GgufValue tmp;
  switch (v->array_type) {
    case GgufValueType::kString:
      v->strs.resize(n);
      for (uint64_t k = 0; k < n; ++k)
        NAUT_RETURN_IF_ERROR(c.ReadString(&v->strs[k], "array string"));
      break;
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      v->floats.resize(n);
      for (uint64_t k = 0; k < n; ++k) {
        NAUT_RETURN_IF_ERROR(ReadScalar(c, v->array_type, &tmp, key));
        v->floats[k] = tmp.f;
      }
      break;
    case GgufValueType::kArray:
      v->items.resize(n);
      for (uint64_t k = 0; k < n; ++k)
        NAUT_RETURN_IF_ERROR(ReadValue(c, GgufValueType::kArray, &v->items[k], key, depth + 1));
      break;
    default:
      v->ints.resize(n);
      for (uint64_t k = 0; k < n; ++k) {
        NAUT_RETURN_IF_ERROR(ReadScalar(c, v->array_type, &tmp, key));
        v->ints[k] = tmp.i;
      }
  }
  return Status::Ok();
}

}  // namespace

const TypeTraits* GetTypeTraits(uint32_t type) {
  for (const auto& e : kTypes) {
    if (e.id == type) return &e.traits;
  }
  return nullptr;
}

std::string TypeName(GgmlType type) {
  const TypeTraits* t = GetTypeTraits(static_cast<uint32_t>(type));
  return t ? t->name : "type#" + std::to_string(static_cast<uint32_t>(type));
}

int64_t RowBytes(GgmlType type, int64_t n) {
  const TypeTraits* t = GetTypeTraits(static_cast<uint32_t>(type));
  return n / t->block_size * t->type_size;
}

std::string_view ValueTypeName(GgufValueType type) {
  static constexpr std::string_view kNames[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                                "bool", "str", "arr", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(type);
  return i < 13 ? kNames[i] : "?";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

size_t GgufValue::array_size() const {
  return strs.size() + ints.size() + floats.size() + items.size();
}

std::string GgufValue::ToString(size_t max_items) const {
  auto scalar = [](GgufValueType t, int64_t i, double f, const std::string& s) -> std::string {
    switch (t) {
      case GgufValueType::kString: {
        std::string out = "\"";
        for (char ch : s.substr(0, 60))
          out += (ch == '\n') ? std::string("\\n") : std::string(1, ch);
        return out + (s.size() > 60 ? "...\"" : "\"");
      }
      case GgufValueType::kFloat32:
      case GgufValueType::kFloat64: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", f);
        return buf;
      }
      case GgufValueType::kBool:
        return i ? "true" : "false";
      case GgufValueType::kUint64:
        return std::to_string(static_cast<uint64_t>(i));
      default:
        return std::to_string(i);
    }
  };
  if (type != GgufValueType::kArray) return scalar(type, i, f, s);
  std::string out =
      "[" + std::string(ValueTypeName(array_type)) + " x " + std::to_string(array_size()) + "] ";
  for (size_t k = 0; k < array_size() && k < max_items; ++k) {
    if (k) out += ", ";
    if (!strs.empty())
      out += scalar(GgufValueType::kString, 0, 0, strs[k]);
    else if (!floats.empty())
      out += scalar(array_type, 0, floats[k], "");
    else if (!ints.empty())
      out += scalar(array_type, ints[k], 0, "");
    else
      out += items[k].ToString(2);
  }
  if (array_size() > max_items) out += ", ...";
  return out;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return PermissionDenied(path + ": cannot open: " + Errno());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return Unavailable(path + ": mmap failed: " + Errno());
    }
    f->map_ = m;
    f->map_size_ = f->size_;
    f->base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  Status s = f->ParseAll();
  if (!s.ok()) return s.WithContext(path);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::Parse(std::string_view bytes, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = std::move(name);
  f->base_ = reinterpret_cast<const uint8_t*>(bytes.data());
  f->size_ = bytes.size();
  Status s = f->ParseAll();
  if (!s.ok()) return s.WithContext(f->name_);
  return f;
}

Status GgufFile::ParseAll() {
  Cursor c(base_, size_);
  uint32_t magic = 0;
  if (size_ < 4) return DataLoss("not a GGUF file: only " + std::to_string(size_) + " bytes");
  NAUT_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (std::memcmp(&magic, "GGUF", 4) != 0) return DataLoss("not a GGUF file: bad magic");
  NAUT_RETURN_IF_ERROR(c.Read(&version_, "version"));
  if (version_ == 1) return Unimplemented("GGUF version 1 is not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3)
    return DataLoss("unknown GGUF version " + std::to_string(version_));
  uint64_t n_tensors = 0, n_kv = 0;
  NAUT_RETURN_IF_ERROR(c.Read(&n_tensors, "tensor count"));
  NAUT_RETURN_IF_ERROR(c.Read(&n_kv, "metadata count"));
  // A key-value pair takes at least 13 bytes, a tensor info at least 8+4+4+8+8.
  if (n_kv > c.remaining() / 13) {
    return DataLoss("metadata count " + std::to_string(n_kv) + " is larger than the file can hold");
  }
  if (n_tensors > c.remaining() / 32) {
    return DataLoss("tensor count " + std::to_string(n_tensors) +
                    " is larger than the file can hold");
  }
  kv_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    NAUT_RETURN_IF_ERROR(c.ReadString(&key, "metadata key"));
    uint32_t t = 0;
    NAUT_RETURN_IF_ERROR(c.Read(&t, "metadata value type"));
    if (!ValidValueType(t))
      return DataLoss("metadata '" + key + "': unknown value type " + std::to_string(t));
    GgufValue v;
    NAUT_RETURN_IF_ERROR(ReadValue(c, static_cast<GgufValueType>(t), &v, key, 0));
    if (kv_index_.count(key)) return DataLoss("metadata key '" + key + "' appears twice");
    kv_index_.emplace(key, kv_.size());
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = Find("general.alignment")) {
    if (a->type != GgufValueType::kUint32) return DataLoss("general.alignment must be a u32");
    if (a->i == 0 || (a->i & (a->i - 1)) != 0) {
      return DataLoss("general.alignment " + std::to_string(a->i) + " is not a power of two");
    }
    alignment_ = static_cast<uint32_t>(a->i);
  }
  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo ti;
    NAUT_RETURN_IF_ERROR(c.ReadString(&ti.name, "tensor name"));
    uint32_t n_dims = 0;
    NAUT_RETURN_IF_ERROR(c.Read(&n_dims, "tensor dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return DataLoss("tensor '" + ti.name + "': " + std::to_string(n_dims) +
                      " dimensions (expected 1 to 4)");
    }
    int64_t total = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      NAUT_RETURN_IF_ERROR(c.Read(&ne, "tensor dimension"));
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          static_cast<int64_t>(ne) > std::numeric_limits<int64_t>::max() / total) {
        return DataLoss("tensor '" + ti.name + "': dimension " + std::to_string(ne) +
                        " is zero or makes the element count overflow");
      }
      total *= static_cast<int64_t>(ne);
      ti.dims.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type = 0;
    NAUT_RETURN_IF_ERROR(c.Read(&type, "tensor type"));
    const TypeTraits* tr = GetTypeTraits(type);
    if (tr == nullptr)
      return DataLoss("tensor '" + ti.name + "': unknown type id " + std::to_string(type));
    ti.type = static_cast<GgmlType>(type);
    if (ti.dims[0] % tr->block_size != 0) {
      return DataLoss("tensor '" + ti.name + "': row length " + std::to_string(ti.dims[0]) +
                      " is not a multiple of the " + tr->name + " block size " +
                      std::to_string(tr->block_size));
    }
    ti.n_elements = total;
    int64_t blocks = total / tr->block_size;
    if (blocks > std::numeric_limits<int64_t>::max() / tr->type_size) {
      return DataLoss("tensor '" + ti.name + "': byte size overflows");
    }
    ti.n_bytes = blocks * tr->type_size;
    NAUT_RETURN_IF_ERROR(c.Read(&ti.offset, "tensor offset"));
    if (ti.offset % alignment_ != 0) {
      return DataLoss("tensor '" + ti.name + "': offset " + std::to_string(ti.offset) +
                      " is not aligned to " + std::to_string(alignment_));
    }
    if (tensor_index_.count(ti.name)) return DataLoss("tensor '" + ti.name + "' appears twice");
    tensor_index_.emplace(ti.name, tensors_.size());
    tensors_.push_back(std::move(ti));
  }
  uint64_t pos = c.pos();
  data_offset_ = (pos + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_) {
    return DataLoss("file truncated: tensor data would start at " + std::to_string(data_offset_) +
                    " but the file has " + std::to_string(size_) + " bytes");
  }
  uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  for (auto& ti : tensors_) {
    uint64_t nb = static_cast<uint64_t>(ti.n_bytes);
    if (ti.offset > data_size || nb > data_size - ti.offset) {
      return DataLoss("tensor '" + ti.name + "': data [" + std::to_string(ti.offset) + ", +" +
                      std::to_string(nb) + ") lies outside the " + std::to_string(data_size) +
                      "-byte data section");
    }
    ti.data = base_ + data_offset_ + ti.offset;
  }
  return Status::Ok();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return NotFound("metadata key '" + std::string(key) + "' is missing");
  if (v->type != GgufValueType::kString)
    return InvalidArgument("metadata key '" + std::string(key) + "' is not a string");
  return v->s;
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return NotFound("metadata key '" + std::string(key) + "' is missing");
  if (!v->is_integer())
    return InvalidArgument("metadata key '" + std::string(key) + "' is not an integer");
  return v->i;
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return NotFound("metadata key '" + std::string(key) + "' is missing");
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(v->i);
  return InvalidArgument("metadata key '" + std::string(key) + "' is not a number");
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return NotFound("metadata key '" + std::string(key) + "' is missing");
  if (v->type != GgufValueType::kBool)
    return InvalidArgument("metadata key '" + std::string(key) + "' is not a bool");
  return v->i != 0;
}

int64_t GgufFile::GetIntOr(std::string_view key, int64_t fallback) const {
  auto r = GetInt(key);
  return r ? *r : fallback;
}
double GgufFile::GetFloatOr(std::string_view key, double fallback) const {
  auto r = GetFloat(key);
  return r ? *r : fallback;
}
bool GgufFile::GetBoolOr(std::string_view key, bool fallback) const {
  auto r = GetBool(key);
  return r ? *r : fallback;
}
std::string GgufFile::GetStringOr(std::string_view key, const std::string& fallback) const {
  auto r = GetString(key);
  return r ? *r : fallback;
}

}  // namespace naut::engine
