#pragma once
// Tensor element formats: fp16/bf16 conversion, block layouts of the quantized types
// (byte-compatible with ggml), dequantization, quantization (weights, for the GGUF writer;
// activations, for integer dot products) and the row dot products the matmul uses.
//
// Dot products exist as a portable scalar reference and as AVX2/FMA kernels, and tile
// (matrix-matrix) kernels as AVX-512 VNNI code; the fastest set the CPU supports is chosen
// once at run time. All functions are pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "engine/gguf.h"

namespace naut::engine {

float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);
float Bf16ToFp32(uint16_t h);
uint16_t Fp32ToBf16(float f);

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK_K = 256;
inline constexpr int kKScaleBytes = 12;

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
// The older 32-element formats: Q4_1 and Q5_1 add a minimum (x = d * q + m), Q5_0 and Q5_1
// keep each value's fifth bit in qh (bit j for element j).
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
// Activation blocks for Q4_1 / Q5_1, as ggml's Q8_1: the Q8_0 values and scale, and the sum
// term s = d * sum(qs) in fp16 (d taken before its own rounding to fp16), for the minimum.
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[32];
};
// Activation blocks for the K-quants: float scale and per-16 sums (the mins term needs them).
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 &&
              sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// True when the engine can compute with tensors of this type.
bool IsSupportedType(GgmlType type);

// Dequantizes `n` elements (a multiple of the block size) starting at a block boundary.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);
// Quantizes `n` floats into `type` (any type IsSupportedType accepts). Returns the bytes.
std::string QuantizeRow(GgmlType type, const float* src, int64_t n);

// How the activations are laid out for the dot product with a weight type.
enum class ActFormat { kF32, kQ8_0, kQ8_1, kQ8_K };
ActFormat ActFormatFor(GgmlType t);
size_t ActRowBytes(ActFormat fmt, int64_t n);
void QuantizeActs(ActFormat fmt, const float* x, int64_t n, void* out);

// Dot product of one weight row with one activation row in ActFormatFor(type).
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

enum class KernelSet { kScalar, kAvx2, kAvx512 };
// Kernels the running CPU supports best (AVX-512 F/BW/VL/VBMI/VNNI, else AVX2+FMA+F16C, else
// scalar). kAvx512 uses the AVX2 row kernels where it has no tile kernel.
KernelSet BestKernelSet();
// True when the running CPU can run this kernel set.
bool KernelSetSupported(KernelSet k);
// Overrides the run-time choice (tests compare them; an unsupported set falls back to the
// best supported one below it); returns the previous value.
KernelSet SetKernelSet(KernelSet k);
KernelSet ActiveKernelSet();
const char* KernelSetName(KernelSet k);
VecDotFn GetVecDot(GgmlType type);
VecDotFn GetVecDot(GgmlType type, KernelSet k);

// Dot products of one weight row with four activation rows `astride` bytes apart, into y[0..3].
using VecDot4Fn = void (*)(int64_t n, const void* w, const void* a, size_t astride, float* y);
// A four-row kernel for this type under the active kernel set, or nullptr.
VecDot4Fn GetVecDot4(GgmlType type);

// A tile kernel: the product of a range of weight rows with a batch of activation rows, each
// weight block unpacked once per tile of tokens. The activations are first converted with
// `prepare` into the kernel's own layout (`act_row_bytes(n)` bytes a row; rows 64-byte aligned
// make the loads cheaper). gemm() writes y[t * ldy + r] = dot(weight row r, activation row t)
// for r in [r0, r1) and t in [0, n_tokens); `w` points at row 0, rows `row_bytes` apart.
//
// A kernel may also have a batch form for at least `batch_min_tokens` tokens, with its own
// activation layout for the whole batch (`batch_bytes(n, n_tokens)` bytes, 64-byte aligned):
// batch_prepare() fills token slots [t0, t1) of it, where slots from n_tokens up to
// batch_slots(n_tokens) are padding it zeroes; batch_gemm() is then gemm() on that layout.
struct GemmKernel {
  size_t (*act_row_bytes)(int64_t n);
  void (*prepare)(const float* x, int64_t n, void* out);
  void (*gemm)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
               const void* acts, size_t astride, int n_tokens, float* y, size_t ldy);
  int batch_min_tokens = 0;  // 0: no batch form
  int (*batch_slots)(int n_tokens) = nullptr;
  size_t (*batch_bytes)(int64_t n, int n_tokens) = nullptr;
  void (*batch_prepare)(const float* x, int64_t n, int t0, int t1, int n_tokens,
                        void* out) = nullptr;
  void (*batch_gemm)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
                     const void* acts, int n_tokens, float* y, size_t ldy) = nullptr;
};
// The tile kernel for this weight type under the active (or the given) kernel set, or nullptr
// when that set has none (the row kernels then do the work).
const GemmKernel* GetGemm(GgmlType type);
const GemmKernel* GetGemm(GgmlType type, KernelSet k);

// Vectorized pieces of the forward pass other than matrix products.
struct VectorKernels {
  // Causal attention of one query head: out[0..hd) = softmax(scale * K q) V over the n_kv
  // cached positions. Keys are stored transposed: element d of position j at
  // kt[d * kt_stride + j], so 16 scores come from one FMA per element; value rows are
  // `v_stride` floats apart. `score` is scratch of n_kv floats.
  void (*attend)(const float* q, const float* kt, size_t kt_stride, const float* v, size_t v_stride,
                 int n_kv, int hd, float scale, float* score, float* out);
  // The same over a KV cache of fp16 values (what ContextOptions::kv_type kF16 stores).
  void (*attend_f16)(const float* q, const uint16_t* kt, size_t kt_stride, const uint16_t* v,
                     size_t v_stride, int n_kv, int hd, float scale, float* score, float* out);
  // The same over a Q8_0 KV cache, as AttendQ8_0 below.
  void (*attend_q8_0)(const uint8_t* q8, const uint8_t* k, const uint8_t* v, size_t row, int n_kv,
                      int hd, float scale, float* score, float* out);
  // g[i] = silu(g[i]) * u[i].
  void (*silu_mul)(float* g, const float* u, int64_t n);
};
// The active kernel set's vector kernels (a scalar version when it has none).
const VectorKernels& GetVectorKernels();
const VectorKernels& GetVectorKernels(KernelSet k);

// Causal attention of one query head over a Q8_0 KV cache (the scalar kernel set's
// attend_q8_0), as llama.cpp's flash attention does it for a quantized cache: the query `q8` (hd /
// 32 Q8_0 blocks, hd a multiple of 32) times each position's key blocks in integers (the active
// kernel set's Q8_0 dot product), softmax, and the values dequantized and summed with those
// weights. Keys and values of position j are `row` bytes after those of position j - 1. `score` is
// scratch of n_kv floats.
void AttendQ8_0(const uint8_t* q8, const uint8_t* k, const uint8_t* v, size_t row, int n_kv, int hd,
                float scale, float* score, float* out);

namespace internal {
const VectorKernels* GetVectorKernelsAvx512();
const GemmKernel* GetGemmAvx512(GgmlType type);  // nullptr where no AVX-512 kernel exists
bool CpuHasAvx512();
VecDot4Fn GetVecDot4Avx2(GgmlType type);
VecDotFn GetVecDotAvx2(GgmlType type);  // nullptr where no AVX2 kernel exists
bool CpuHasAvx2();
}  // namespace internal

}  // namespace naut::engine
