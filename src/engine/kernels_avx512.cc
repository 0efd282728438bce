// AVX-512 (F, BW, VL, VBMI, VNNI) tile kernels. This file alone is compiled with those
// extensions; nothing here runs unless internal::CpuHasAvx512() said the CPU has them.
//
// A tile kernel multiplies several weight rows by several activation rows at once, so each
// unpacked weight block is reused across the tokens of a prompt batch and each activation
// block across the weight rows. The integer products use VPDPBUSD (u8 x s8 -> s32), which
// needs one unsigned operand; the weights supply it (Q4_0 nibbles as 0..15, Q5_0 values as
// 0..31, Q8_0 values offset by 128) and the activations carry, per block, a precomputed
// correction that the accumulation starts from, so the offset costs nothing in the inner loop:
//   sum((q - 8) a) = sum(q a) - 8 sum(a),  sum(w a) = sum((w + 128) a) - 128 sum(a).
// Q4_1 and Q5_1 (x = d q + m) have no offset but a minimum: their activations carry
// s = d_a * sum(a) instead (in fp16 precision, as ggml's Q8_1 blocks have it), and the block
// adds m * s to d * d_a * sum(q a).
//
// Activation rows ("planar Q8") are laid out per pair of 32-element blocks: the 64 int8
// values (the 8-bit quantization ggml's Q8_0 uses, bit-identical), then at the end of the row
// one 16-byte record per pair: float scale of each block, then per block the int32 correction
// (or, for Q4_1 / Q5_1, s as a float). An odd final block is padded with a zero
// block.

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() values, which -Wmaybe-uninitialized
// and -Wuninitialized report inside the system header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/quant.h"

namespace naut::engine::internal {

bool CpuHasAvx512() {
  __builtin_cpu_init();
  return CpuHasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

inline float Fp16ToFp32Fast(uint16_t h) { return _cvtsh_ss(h); }

// Lane i holds i * stride: the index vector of a gather or scatter 16 elements apart.
inline __m512i LaneOffsets(int stride) {
  return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                            _mm512_set1_epi32(stride));
}

inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// Token slots per vector in the batch kernels.
constexpr int kLanes = 16;
int BatchSlots(int n_tokens) { return (n_tokens + kLanes - 1) / kLanes * kLanes; }

inline int64_t Pairs(int64_t n) { return (n / 32 + 1) / 2; }
inline size_t MetaOffset(int64_t n) { return static_cast<size_t>(Pairs(n)) * 64; }

size_t PlanarBytes(int64_t n) {
  // Rows start 64-byte aligned when the buffer does.
  return (static_cast<size_t>(Pairs(n)) * 80 + 63) & ~static_cast<size_t>(63);
}

// `kCorrMul` is the weight offset the correction undoes: 8 for Q4_0, 16 for Q5_0, 128 for
// Q8_0. Each of a block's eight int32 lanes starts at -kCorrMul/8 * sum(a), so the block total
// is -kCorrMul * sum(a). kCorrMul 0 (Q4_1, Q5_1) stores s = d * sum(a) as QuantizeActs(kQ8_1)
// rounds it (fp16, from the scale before its own rounding) in its place, as a float.
template <int kCorrMul>
void PreparePlanar(const float* x, int64_t n, void* out) {
  const int64_t nb = n / 32;
  auto* qs = static_cast<int8_t*>(out);
  auto* meta = reinterpret_cast<uint8_t*>(out) + MetaOffset(n);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < 2 * Pairs(n); ++b) {
    float d = 0;
    int32_t corr = 0;
    if (b < nb) {
      const __m512 x0 = _mm512_loadu_ps(x + b * 32), x1 = _mm512_loadu_ps(x + b * 32 + 16);
      const float amax = _mm512_reduce_max_ps(
          _mm512_max_ps(_mm512_and_ps(x0, sign_mask), _mm512_and_ps(x1, sign_mask)));
      // Same arithmetic as QuantizeActs(kQ8_0): scale rounded to fp16, values to nearest even.
      d = Fp16ToFp32(Fp32ToFp16(amax / 127.f));
      const __m512 id = _mm512_set1_ps(amax != 0 ? 127.f / amax : 0.f);
      const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, id));
      const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, id));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * 32), _mm512_cvtsepi32_epi8(i0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * 32 + 16), _mm512_cvtsepi32_epi8(i1));
      const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
      if constexpr (kCorrMul == 0) {
        const float ds = Fp16ToFp32(Fp32ToFp16(amax / 127.f * static_cast<float>(sum)));
        std::memcpy(&corr, &ds, 4);
      } else {
        corr = -(kCorrMul / 8) * sum;
      }
    } else {
      std::memset(qs + b * 32, 0, 32);
    }
    uint8_t* m = meta + (b / 2) * 16 + (b % 2) * 4;
    std::memcpy(m, &d, 4);
    std::memcpy(m + 8, &corr, 4);
  }
}

// Weight formats. Load() unpacks blocks 2p and 2p+1 of a row (the second may be past the end
// when nb is odd; it must then read as zeros) into 64 unsigned bytes and the two block scales
// spread over 8 lanes each; the types with a minimum (kMin) also give the two minimums, in
// lanes 0 and 8 (the other lanes zero), for the minimum term. Unpack() gives the 32 values of
// one block as unsigned bytes in element order, for the batch kernels; the values they stand
// for are those minus kBias.

// Byte i of the nibble permutation: the packed byte that holds element i of the pair (both
// halves of a block take the same 16 bytes; the upper copy is shifted down by 4 later).
consteval std::array<uint8_t, 64> NibbleIndex(int block, int qs) {
  std::array<uint8_t, 64> a{};
  for (int i = 0; i < 64; ++i) a[i] = static_cast<uint8_t>(i / 32 * block + qs + i % 16);
  return a;
}
// Byte i of the fifth-bit permutation: the qh byte that holds element i's bit (bit i % 8).
consteval std::array<uint8_t, 64> HighBitIndex(int block, int qh) {
  std::array<uint8_t, 64> a{};
  for (int i = 0; i < 64; ++i) a[i] = static_cast<uint8_t>(i / 32 * block + qh + i % 32 / 8);
  return a;
}

// The 32-element formats with 4-bit values (Q4_0, Q4_1) or 4 + 1 bits (Q5_0, Q5_1): fp16 scale
// at byte 0, for Q4_1 / Q5_1 the fp16 minimum at byte kMinAt, for Q5_0 / Q5_1 the fifth bits
// (bit j for element j) at byte kQh, and 16 bytes of nibbles at kQs (element j in the low
// nibble of byte j, element j + 16 in its high nibble).
template <class B, int kQs, int kQh, int kMinAt, int kValueBias>
struct PackedW {
  static constexpr size_t kBlock = sizeof(B);
  static constexpr bool kMin = kMinAt >= 0;
  static constexpr int kBias = kValueBias;
  // The scales (and minimums) of four consecutive blocks lie in their first 64 bytes, which
  // the four-block decode loop of Tile() needs (Q4_0 and Q4_1).
  static constexpr bool kFourScalesInLine = 3 * kBlock + (kMin ? 4 : 2) <= 64;
  static_assert(kBlock >= 16, "a full 64-byte load must cover the pair when 4 blocks remain");
  alignas(64) static constexpr std::array<uint8_t, 64> kNibbles = NibbleIndex(kBlock, kQs);
  alignas(64) static constexpr std::array<uint8_t, 64> kHighBits = HighBitIndex(kBlock,
                                                                                kQh < 0 ? 0 : kQh);

  static inline __m512i LoadPair(const uint8_t* row, int64_t p, int64_t nb) {
    const uint8_t* ptr = row + 2 * p * kBlock;
    // A full 64-byte load where the row has those bytes; masked loads are much slower on the
    // row's last pair.
    if (2 * p + 4 <= nb) return _mm512_loadu_si512(ptr);
    const __mmask64 mask = 2 * p + 1 < nb ? (1ull << (2 * kBlock)) - 1 : (1ull << kBlock) - 1;
    return _mm512_maskz_loadu_epi8(mask, ptr);
  }
  // The pair's 64 values from its bytes as LoadPair() gives them.
  static inline __m512i Values(__m512i raw) {
    __m512i v = _mm512_permutexvar_epi8(_mm512_load_si512(kNibbles.data()), raw);
    v = _mm512_mask_srli_epi16(v, 0xFF00FF00u, v, 4);
    v = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
    if constexpr (kQh >= 0) {
      const __m512i h = _mm512_permutexvar_epi8(_mm512_load_si512(kHighBits.data()), raw);
      const __mmask64 set = _mm512_test_epi8_mask(h, _mm512_set1_epi64(0x8040201008040201));
      v = _mm512_mask_add_epi8(v, set, v, _mm512_set1_epi8(16));
    }
    return v;
  }
  static inline void Load(const uint8_t* row, int64_t p, int64_t nb, __m512i* q, __m512* d,
                          __m512* m = nullptr) {
    const __m512i raw = LoadPair(row, p, nb);
    *q = Values(raw);
    constexpr int kD1 = static_cast<int>(kBlock / 2);  // block 1's scale, in 16-bit words
    const __m256i r256 = _mm512_castsi512_si256(raw);
    *d = _mm512_cvtph_ps(_mm256_permutexvar_epi16(
        _mm256_set_epi16(kD1, kD1, kD1, kD1, kD1, kD1, kD1, kD1, 0, 0, 0, 0, 0, 0, 0, 0), r256));
    if constexpr (kMin) {
      constexpr int kM0 = kMinAt / 2, kM1 = kD1 + kMinAt / 2;
      *m = _mm512_cvtph_ps(_mm256_maskz_permutexvar_epi16(
          0x0101, _mm256_set_epi16(0, 0, 0, 0, 0, 0, 0, kM1, 0, 0, 0, 0, 0, 0, 0, kM0), r256));
    }
  }
  static inline __m256i Unpack(const uint8_t* blk) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQs));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    if constexpr (kQh >= 0) {
      uint32_t qh;
      std::memcpy(&qh, blk + kQh, 4);
      u = _mm256_mask_add_epi8(u, _cvtu32_mask32(qh), u, _mm256_set1_epi8(16));
    }
    return u;
  }
};

using Q4_0W = PackedW<BlockQ4_0, offsetof(BlockQ4_0, qs), -1, -1, 8>;
using Q4_1W = PackedW<BlockQ4_1, offsetof(BlockQ4_1, qs), -1, offsetof(BlockQ4_1, m), 0>;
using Q5_0W = PackedW<BlockQ5_0, offsetof(BlockQ5_0, qs), offsetof(BlockQ5_0, qh), -1, 16>;
using Q5_1W =
    PackedW<BlockQ5_1, offsetof(BlockQ5_1, qs), offsetof(BlockQ5_1, qh), offsetof(BlockQ5_1, m), 0>;

struct Q8_0W {
  static constexpr size_t kBlock = sizeof(BlockQ8_0);
  static constexpr bool kMin = false;
  static constexpr int kBias = 128;
  static constexpr bool kFourScalesInLine = false;
  static inline void Load(const uint8_t* row, int64_t p, int64_t nb, __m512i* q, __m512* d,
                          __m512* = nullptr) {
    const uint8_t* ptr = row + 2 * p * kBlock;
    const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ptr + 2));
    uint16_t d0, d1 = 0;
    std::memcpy(&d0, ptr, 2);
    __m256i q1 = _mm256_setzero_si256();
    if (2 * p + 1 < nb) {
      q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ptr + kBlock + 2));
      std::memcpy(&d1, ptr + kBlock, 2);
    }
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
    *q = _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
    *d = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(d1)),
                                          _mm_set1_epi16(static_cast<int16_t>(d0))));
  }
  static inline __m256i Unpack(const uint8_t* blk) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};

// M weight rows x N activation rows; y[t * ldy + r].
template <class W, int M, int N>
inline void Tile(int64_t nb, const uint8_t* w, size_t row_bytes, const uint8_t* acts,
                 size_t astride, size_t meta_off, float* y, size_t ldy) {
  const int64_t np = (nb + 1) / 2;
  const __m512i idx_d = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i idx_c = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
  __m512 acc[M][N];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t p = 0;
  if constexpr (N == 1 && W::kFourScalesInLine) {
    // Decoding Q4_0 / Q4_1 is bound by port 0 (the dot, the conversions and the scaling) as
    // much as by memory. Two pairs (four blocks) at a time: their two dot vectors fold into one
    // of four lanes per block, so the int-to-float conversion, the scale product and the FMA
    // run once per four blocks, and one fp16 conversion gives the four weight scales (one more
    // the four minimums, whose term is one FMA against the activation sums in lanes 0, 4, 8, 12).
    const __m512i idx_ad = _mm512_set_epi32(5, 5, 5, 5, 4, 4, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i idx_c1 = _mm512_set_epi32(7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6, 6);
    const __m512i idx_as = _mm512_set_epi32(0, 0, 0, 7, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, 2);
    // Block scales of blocks 2p..2p+3 sit at words 0, B, 2B and 3B of the first 64 bytes (B
    // the block size in words), their minimums one word after each.
    constexpr int B = static_cast<int>(W::kBlock / 2);
    const __m512i idx_wd = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                            3 * B, 3 * B, 3 * B, 3 * B, 2 * B, 2 * B, 2 * B, 2 * B,
                                            B, B, B, B, 0, 0, 0, 0);
    const __m512i idx_wm = _mm512_add_epi16(idx_wd, _mm512_set1_epi16(1));
    for (; 2 * p + 4 <= nb; p += 2) {
      __m512i wq0[M], wq1[M];
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        wq0[r] = W::Values(W::LoadPair(w + r * row_bytes, p, nb));
        wq1[r] = W::Values(W::LoadPair(w + r * row_bytes, p + 1, nb));
      }
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const uint8_t* next = w + (r + M) * row_bytes + 2 * p * W::kBlock;
        _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(next + 2 * W::kBlock), _MM_HINT_T0);
      }
      const __m512i a0 = _mm512_loadu_si512(acts + p * 64);
      const __m512i a1 = _mm512_loadu_si512(acts + p * 64 + 64);
      const __m512i m = _mm512_castsi256_si512(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acts + meta_off + p * 16)));
      const __m512 ad = _mm512_permutexvar_ps(idx_ad, _mm512_castsi512_ps(m));
      __m512i c0 = _mm512_setzero_si512(), c1 = c0;
      __m512 as = _mm512_setzero_ps();
      if constexpr (W::kMin) {
        as = _mm512_maskz_permutexvar_ps(0x1111, idx_as, _mm512_castsi512_ps(m));
      } else {
        c0 = _mm512_permutexvar_epi32(idx_c, m);
        c1 = _mm512_permutexvar_epi32(idx_c1, m);
      }
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const __m512i raw = _mm512_loadu_si512(w + r * row_bytes + 2 * p * W::kBlock);
        const __m512 wd =
            _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx_wd, raw)));
        const __m512i d0 = _mm512_dpbusd_epi32(c0, wq0[r], a0);
        const __m512i d1 = _mm512_dpbusd_epi32(c1, wq1[r], a1);
        // Halves of each block's eight lanes: [b0 b1 b2 b3] x 4 lanes.
        const __m512i dot = _mm512_add_epi32(_mm512_shuffle_i32x4(d0, d1, _MM_SHUFFLE(2, 0, 2, 0)),
                                             _mm512_shuffle_i32x4(d0, d1, _MM_SHUFFLE(3, 1, 3, 1)));
        if constexpr (W::kMin) {
          const __m512 wm =
              _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx_wm, raw)));
          acc[r][0] = _mm512_fmadd_ps(wm, as, acc[r][0]);
        }
        acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd, ad), acc[r][0]);
      }
    }
  }
  for (; p < np; ++p) {
    __m512i wq[M];
    __m512 wd[M], wm[M];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) W::Load(w + r * row_bytes, p, nb, &wq[r], &wd[r], &wm[r]);
    if constexpr (N == 1) {
      // Decoding streams each weight once; the rows of a tile are too short for the hardware
      // prefetcher to ramp up on, so fetch the same bytes of the next tile's rows now.
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(w + (r + M) * row_bytes + 2 * p * W::kBlock),
                     _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const uint8_t* at = acts + t * astride;
      const __m512i a = _mm512_loadu_si512(at + p * 64);
      const __m512i m = _mm512_castsi128_si512(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + meta_off + p * 16)));
      const __m512 ad = _mm512_permutexvar_ps(idx_d, _mm512_castsi512_ps(m));
      // The correction, or for a type with a minimum s (lanes 0 and 8 count).
      const __m512i corr = _mm512_permutexvar_epi32(idx_c, m);
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        if constexpr (W::kMin) {
          const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[r], a);
          acc[r][t] = _mm512_fmadd_ps(wm[r], _mm512_castsi512_ps(corr), acc[r][t]);
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd[r], ad), acc[r][t]);
        } else {
          const __m512i dot = _mm512_dpbusd_epi32(corr, wq[r], a);
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd[r], ad), acc[r][t]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// Tokens per tile: 4 rows x 3 tokens keeps the 12 accumulators, the unpacked weights and
// their scales in the 32 vector registers.
constexpr int kTokenTile = 3;

template <class W, int M>
inline void TokenTile(int nt, int64_t nb, const uint8_t* w, size_t row_bytes, const uint8_t* a,
                      size_t astride, size_t meta_off, float* y, size_t ldy) {
  switch (nt) {
    case 4:
      Tile<W, M, 4>(nb, w, row_bytes, a, astride, meta_off, y, ldy);
      break;
    case 3:
      Tile<W, M, 3>(nb, w, row_bytes, a, astride, meta_off, y, ldy);
      break;
    case 2:
      Tile<W, M, 2>(nb, w, row_bytes, a, astride, meta_off, y, ldy);
      break;
    default:
      Tile<W, M, 1>(nb, w, row_bytes, a, astride, meta_off, y, ldy);
      break;
  }
}

// Token tiles outside, row tiles inside: the rows [r0, r1) are the caller's chunk, sized to
// stay in cache while each tile of four activation rows passes over them.
template <class W>
void Gemm(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const void* acts,
          size_t astride, int n_tokens, float* y, size_t ldy) {
  const int64_t nb = n / 32;
  const size_t meta_off = MetaOffset(n);
  for (int t = 0; t < n_tokens; t += kTokenTile) {
    const int nt = std::min(kTokenTile, n_tokens - t);
    const uint8_t* a = static_cast<const uint8_t*>(acts) + t * astride;
    float* yt = y + t * ldy;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4)
      TokenTile<W, 4>(nt, nb, w + r * row_bytes, row_bytes, a, astride, meta_off, yt + r, ldy);
    for (; r < r1; ++r)
      TokenTile<W, 1>(nt, nb, w + r * row_bytes, row_bytes, a, astride, meta_off, yt + r, ldy);
  }
}

// --- Q4_K weights against Q8_K activations (the BlockQ8_K rows the row kernels use) ---
//
// Per 256-element super-block: VPMADDUBSW multiplies the nibbles (0..15) by the int8
// activations into int16 pairs, VPDPWSSD scales those by the 6-bit sub-block scale into int32,
// and one float FMA per super-block applies d * d_act; the mins term is
// dmin * d_act * sum_j(m_j * sum of sub-block j's activations), from the activation bsums.

// Sub-block scales and mins of a Q4_K/Q5_K block as 8 int16 each (ggml's 32-bit trick).
inline void ScalesMinsK4(const uint8_t* q, __m128i* sc, __m128i* mn) {
  uint32_t u[4];
  std::memcpy(u, q, 12);
  u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
  const uint32_t aux = u[1] & 0x3f3f3f3f;
  u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
  u[2] = aux;
  u[0] &= 0x3f3f3f3f;
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u));
  *sc = _mm_cvtepu8_epi16(v);
  *mn = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
}

// Q4_K, or Q5_K (B = BlockQ5_K) whose fifth bits come from qh.
template <class B, int M, int N>
inline void TileQ4K(int64_t nsb, const uint8_t* w, size_t row_bytes, const uint8_t* acts,
                    size_t astride, float* y, size_t ldy) {
  // Index vectors spreading sub-block scales 2j, 2j+1 over the 16 + 16 int16 lanes of part j.
  __m512i sidx[4];
  for (int j = 0; j < 4; ++j)
    sidx[j] = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(2 * j)),
                                 _mm256_set1_epi16(static_cast<int16_t>(2 * j + 1)), 1);
  const __m256i midx = _mm256_set_epi16(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[M][N];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nsb; ++i) {
    const B* x[M];
    __m128i sc[M];
    __m256i mdup[M];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      x[r] = reinterpret_cast<const B*>(w + r * row_bytes) + i;
      __m128i mn;
      ScalesMinsK4(x[r]->scales, &sc[r], &mn);
      mdup[r] = _mm256_permutexvar_epi16(midx, _mm256_castsi128_si256(mn));
    }
    const BlockQ8_K* a[N];
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(acts + t * astride) + i;
    if constexpr (N == 1) {
      // As in Tile(): prefetch the next tile's rows while this one computes.
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r)
        for (int c = 0; c < static_cast<int>(sizeof(B)); c += 64)
          _mm_prefetch(reinterpret_cast<const char*>(x[r]) + M * row_bytes + c, _MM_HINT_T0);
    }
    __m512i sumi[M][N];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < N; ++t) sumi[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m512i q[M], s16[M];
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qs + 32 * j));
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(b), b, 1);
        v = _mm512_mask_srli_epi16(v, 0xFFFF0000u, v, 4);
        q[r] = _mm512_and_si512(v, m4);
        if constexpr (std::is_same_v<B, BlockQ5_K>) {
          // Bit 2j of qh for the low 32 values, bit 2j + 1 for the high 32.
          const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qh));
          __m512i h =
              _mm512_srli_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(hb), hb, 1), 2 * j);
          h = _mm512_mask_srli_epi16(h, 0xFFFF0000u, h, 1);
          h = _mm512_slli_epi16(_mm512_and_si512(h, _mm512_set1_epi8(1)), 4);
          q[r] = _mm512_or_si512(q[r], h);
        }
        s16[r] = _mm512_permutexvar_epi16(sidx[j], _mm512_castsi128_si512(sc[r]));
      }
#pragma GCC unroll 8
      for (int t = 0; t < N; ++t) {
        const __m512i av = _mm512_loadu_si512(a[t]->qs + 64 * j);
#pragma GCC unroll 8
        for (int r = 0; r < M; ++r)
          sumi[r][t] = _mm512_dpwssd_epi32(sumi[r][t], _mm512_maddubs_epi16(q[r], av), s16[r]);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->bsums));
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const float dw = Fp16ToFp32Fast(x[r]->d) * a[t]->d;
        const float dm = Fp16ToFp32Fast(x[r]->dmin) * a[t]->d;
        const __m512 mins =
            _mm512_zextps256_ps512(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mdup[r])));
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[r][t]), _mm512_set1_ps(dw), acc[r][t]);
        acc[r][t] = _mm512_fnmadd_ps(mins, _mm512_set1_ps(dm), acc[r][t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

size_t Q8KBytes(int64_t n) { return ActRowBytes(ActFormat::kQ8_K, n); }
// Bit-identical to QuantizeActs(kQ8_K) (ggml's quantize_row_q8_K rounding), vectorized.
void PrepareQ8K(const float* x, int64_t n, void* out) {
  auto* b = static_cast<BlockQ8_K*>(out);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t i = 0; i < n / 256; ++i, x += 256) {
    __m512 vmax = _mm512_setzero_ps();
    for (int c = 0; c < 16; ++c)
      vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_loadu_ps(x + 16 * c), abs_mask));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The signed value of the first element of largest magnitude, as the scalar loop finds it.
    float max = 0;
    for (int c = 0; c < 16; ++c) {
      const __mmask16 m = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * c), abs_mask),
                                             _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (m) {
        max = x[16 * c + __builtin_ctz(m)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int c = 0; c < 16; ++c) {
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * c)));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16 * c), _mm512_cvtsepi32_epi8(q));
      b[i].bsums[c] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    b[i].d = 1 / iscale;
  }
}

template <class B>
struct Q4KTiles {
  template <int M, int N>
  static void Tile(int64_t nsb, const uint8_t* w, size_t rb, const uint8_t* a, size_t as, float* y,
                   size_t ldy) {
    TileQ4K<B, M, N>(nsb, w, rb, a, as, y, ldy);
  }
};

// Single tokens take 4-row tiles (decode streams weights); batches take 2 rows x 4 tokens,
// since unpacking a K-quant block costs more than loading an activation block.
template <class K>
void GemmK(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const void* acts,
           size_t astride, int n_tokens, float* y, size_t ldy) {
  const int64_t nsb = n / 256;
  const auto* a0 = static_cast<const uint8_t*>(acts);
  for (int t = 0; t < n_tokens; t += 4) {
    const int nt = std::min(4, n_tokens - t);
    const uint8_t* a = a0 + t * astride;
    float* yt = y + t * ldy;
    int64_t r = r0;
    if (nt == 1) {
      for (; r + 4 <= r1; r += 4)
        K::template Tile<4, 1>(nsb, w + r * row_bytes, row_bytes, a, astride, yt + r, ldy);
    }
    for (; r + 2 <= r1; r += 2) {
      const uint8_t* wr = w + r * row_bytes;
      switch (nt) {
        case 4:
          K::template Tile<2, 4>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 3:
          K::template Tile<2, 3>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 2:
          K::template Tile<2, 2>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        default:
          K::template Tile<2, 1>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
      }
    }
    for (; r < r1; ++r) {
      const uint8_t* wr = w + r * row_bytes;
      switch (nt) {
        case 4:
          K::template Tile<1, 4>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 3:
          K::template Tile<1, 3>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 2:
          K::template Tile<1, 2>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        default:
          K::template Tile<1, 1>(nsb, wr, row_bytes, a, astride, yt + r, ldy);
          break;
      }
    }
  }
}

// --- Q6_K weights against Q8_K activations ---
//
// The 6-bit values (0..63, stored as q + 32) go through the same maddubs + dpwssd as Q4_K
// with the int8 scale of each 16 elements; the offset is removed in integer arithmetic as
// 32 * sum_s(scale_s * bsum_s) before the one float FMA per super-block.
template <int M, int N>
inline void TileQ6K(int64_t nsb, const uint8_t* w, size_t row_bytes, const uint8_t* acts,
                    size_t astride, float* y, size_t ldy) {
  // Part j of a half-block h = j / 2 covers elements 128h + 64(j % 2) ..+63: int16 lane l of
  // its products belongs to scale 8h + 4(j % 2) + l / 8.
  __m512i sidx[4];
  for (int j = 0; j < 4; ++j) {
    alignas(64) int16_t idx[32];
    for (int l = 0; l < 32; ++l) idx[l] = static_cast<int16_t>(8 * (j / 2) + 4 * (j % 2) + l / 8);
    sidx[j] = _mm512_load_si512(idx);
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03);
  __m512 acc[M][N];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nsb; ++i) {
    const BlockQ6_K* x[M];
    __m256i sc[M];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      x[r] = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes) + i;
      sc[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r]->scales)));
      if constexpr (N == 1) {
        for (int c = 0; c < static_cast<int>(sizeof(BlockQ6_K)); c += 64)
          _mm_prefetch(reinterpret_cast<const char*>(x[r]) + M * row_bytes + c, _MM_HINT_T0);
      }
    }
    const BlockQ8_K* a[N];
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(acts + t * astride) + i;
    __m512i sumi[M][N];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
      for (int t = 0; t < N; ++t) sumi[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const int h = j / 2;
      __m512i q[M], s16[M];
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const __m512i lo = _mm512_loadu_si512(x[r]->ql + 64 * h);
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r]->qh + 32 * h));
        __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(hb), hb, 1);
        // Bytes 0..31 take qh bits (4j%8.., shift 0 or 4), bytes 32..63 the next pair up.
        if (j % 2) hi = _mm512_srli_epi16(hi, 4);
        hi = _mm512_mask_srli_epi16(hi, 0xFFFF0000u, hi, 2);
        hi = _mm512_slli_epi16(_mm512_and_si512(hi, m2), 4);
        const __m512i l4 =
            j % 2 ? _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4) : _mm512_and_si512(lo, m4);
        q[r] = _mm512_or_si512(l4, hi);
        s16[r] = _mm512_permutexvar_epi16(sidx[j], _mm512_castsi256_si512(sc[r]));
      }
#pragma GCC unroll 8
      for (int t = 0; t < N; ++t) {
        const __m512i av = _mm512_loadu_si512(a[t]->qs + 64 * j);
#pragma GCC unroll 8
        for (int r = 0; r < M; ++r)
          sumi[r][t] = _mm512_dpwssd_epi32(sumi[r][t], _mm512_maddubs_epi16(q[r], av), s16[r]);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t]->bsums));
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) {
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc[r]), 5);
        const __m512i tot = _mm512_sub_epi32(sumi[r][t], _mm512_zextsi256_si512(corr));
        const float d = Fp16ToFp32Fast(x[r]->d) * a[t]->d;
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot), _mm512_set1_ps(d), acc[r][t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

struct Q6KTiles {
  template <int M, int N>
  static void Tile(int64_t nsb, const uint8_t* w, size_t rb, const uint8_t* a, size_t as, float* y,
                   size_t ldy) {
    TileQ6K<M, N>(nsb, w, rb, a, as, y, ldy);
  }
};

// --- F16, BF16 and F32 weights against float activations: widen to float, then FMA ---

// Sixteen weights from element k of a row, as floats (masked lanes read nothing).
struct F16W {
  static constexpr int64_t kSize = 2;
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + k));
  }
};
struct BF16W {
  static constexpr int64_t kSize = 2;
  // A bfloat16 is the top half of a float.
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};
struct F32W {
  static constexpr int64_t kSize = 4;
  static __m512 Load(const uint8_t* row, int64_t k, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + k);
  }
};

template <class W, int M, int N>
inline void TileF16(int64_t n, const uint8_t* w, size_t row_bytes, const uint8_t* acts,
                    size_t astride, float* y, size_t ldy) {
  __m512 acc[M][N];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m =
        n - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - k)) - 1);
    __m512 wv[M];
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      const uint8_t* row = w + r * row_bytes;
      wv[r] = W::Load(row, k, m);
      if constexpr (N == 1) {
        _mm_prefetch(reinterpret_cast<const char*>(row + k * W::kSize + M * row_bytes),
                     _MM_HINT_T0);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const __m512 a =
          _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(acts + t * astride) + k);
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r)
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

size_t F32Bytes(int64_t n) { return static_cast<size_t>(n) * 4; }
void PrepareF32(const float* x, int64_t n, void* out) { std::memcpy(out, x, F32Bytes(n)); }

// One token (decode): each of M rows is read as its own sequential stream, two cache lines
// per step with a prefetch a few lines ahead in the same row, which keeps more memory reads
// in flight than TileF16's half-line steps.
template <class W, int M>
inline void DecodeF16(int64_t n, const uint8_t* w, size_t row_bytes, const float* a, float* y) {
  constexpr int64_t kStep = 128 / W::kSize;  // elements in two cache lines
  constexpr int64_t kAhead = 512;            // prefetch distance in bytes
  __m512 acc[M][2];
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + kStep <= n; k += kStep) {
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      const char* p = reinterpret_cast<const char*>(w + r * row_bytes + k * W::kSize) + kAhead;
      _mm_prefetch(p, _MM_HINT_T0);
      _mm_prefetch(p + 64, _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int64_t u = 0; u < kStep / 16; ++u) {
      const __m512 av = _mm512_loadu_ps(a + k + 16 * u);
#pragma GCC unroll 8
      for (int r = 0; r < M; ++r)
        acc[r][u & 1] =
            _mm512_fmadd_ps(W::Load(w + r * row_bytes, k + 16 * u, static_cast<__mmask16>(0xFFFF)),
                            av, acc[r][u & 1]);
    }
  }
  for (; k < n; k += 16) {
    const __mmask16 m = TailMask(n - k);
    const __m512 av = _mm512_maskz_loadu_ps(m, a + k);
#pragma GCC unroll 8
    for (int r = 0; r < M; ++r)
      acc[r][0] = _mm512_fmadd_ps(W::Load(w + r * row_bytes, k, m), av, acc[r][0]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; ++r) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

template <class W>
void GemmF16(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
             const void* acts, size_t astride, int n_tokens, float* y, size_t ldy) {
  const auto* a0 = static_cast<const uint8_t*>(acts);
  if (n_tokens == 1) {
    const auto* a = static_cast<const float*>(acts);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) DecodeF16<W, 4>(n, w + r * row_bytes, row_bytes, a, y + r);
    for (; r < r1; ++r) DecodeF16<W, 1>(n, w + r * row_bytes, row_bytes, a, y + r);
    return;
  }
  for (int t = 0; t < n_tokens; t += 3) {
    const int nt = std::min(3, n_tokens - t);
    const uint8_t* a = a0 + t * astride;
    float* yt = y + t * ldy;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      const uint8_t* wr = w + r * row_bytes;
      switch (nt) {
        case 3:
          TileF16<W, 4, 3>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 2:
          TileF16<W, 4, 2>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        default:
          TileF16<W, 4, 1>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
      }
    }
    for (; r < r1; ++r) {
      const uint8_t* wr = w + r * row_bytes;
      switch (nt) {
        case 3:
          TileF16<W, 1, 3>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        case 2:
          TileF16<W, 1, 2>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
        default:
          TileF16<W, 1, 1>(n, wr, row_bytes, a, astride, yt + r, ldy);
          break;
      }
    }
  }
}

// Batch form for F16: 16 tokens' activations transposed ([element][token slot]) so each
// FMA multiplies one weight (converted to float once per 16-row tile, broadcast) by the same
// element of all 16 tokens; no horizontal sums at all.
size_t BatchBytesF16(int64_t n, int n_tokens) {
  return static_cast<size_t>(BatchSlots(n_tokens) / kLanes) * static_cast<size_t>(n) * 64;
}

void BatchPrepareF16(const float* x, int64_t n, int t0, int t1, int n_tokens, void* out) {
  const __m512i vindex = LaneOffsets(16);
  for (int t = t0; t < t1; ++t) {
    float* g = static_cast<float*>(out) + static_cast<size_t>(t / kLanes) * n * kLanes + t % kLanes;
    const float* xt = x + static_cast<size_t>(t) * n;
    for (int64_t d = 0; d < n; d += 16) {
      const __mmask16 m = TailMask(n - d);
      const __m512 v = t < n_tokens ? _mm512_maskz_loadu_ps(m, xt + d) : _mm512_setzero_ps();
      _mm512_mask_i32scatter_ps(g + d * kLanes, m, vindex, v, 4);
    }
  }
}

// R rows against G groups of 16 tokens: R*G accumulators, so each step's G activation loads
// and R weight broadcasts feed R*G FMAs (8 x 3: 11 loads per 24 FMAs, against 17 per 16 for
// one group), which keeps the FMA units rather than the load ports busy.
template <int R, int G>
inline void BatchTileF16(int64_t n, const float* wf, size_t wstride, const float* group0,
                         size_t gstride, int n_tokens_left, float* y, size_t ldy) {
  __m512 acc[R][G];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  for (int64_t d = 0; d < n; ++d) {
    __m512 a[G];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) a[g] = _mm512_load_ps(group0 + g * gstride + d * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(wf[r * wstride + d]);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_fmadd_ps(b, a[g], acc[r][g]);
    }
  }
  const __m512i vindex = LaneOffsets(static_cast<int>(ldy));
#pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    const int valid = std::min(kLanes, n_tokens_left - g * kLanes);
    const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1);
    float* yg = y + static_cast<size_t>(g) * kLanes * ldy;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) _mm512_mask_i32scatter_ps(yg + r, m, vindex, acc[r][g], 4);
  }
}

template <class W>
void BatchGemmF16(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
                  const void* acts, int n_tokens, float* y, size_t ldy) {
  // Weights of a 16-row tile as floats, row after row (each step broadcasts element d of all
  // 16 rows: 16 lines that stay in L1 for 16 steps).
  thread_local std::vector<float> wf;
  const int groups = BatchSlots(n_tokens) / kLanes;
  const size_t ws = static_cast<size_t>(n);
  wf.resize(static_cast<size_t>(kLanes) * ws);
  for (int64_t r = r0; r < r1; r += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, r1 - r));
    for (int i = 0; i < rows; ++i) {
      const uint8_t* row = w + (r + i) * row_bytes;
      float* out = wf.data() + i * ws;
      for (int64_t d = 0; d < n; d += 16) {
        const __mmask16 m = TailMask(n - d);
        _mm512_mask_storeu_ps(out + d, m, W::Load(row, d, m));
      }
    }
    const size_t gstride = static_cast<size_t>(n) * kLanes;
    const float* a = static_cast<const float*>(acts);
    auto yg = [&](int g) { return y + static_cast<size_t>(g) * kLanes * ldy + r; };
    int g = 0;
    if (rows == 16) {
      for (; g + 3 <= groups; g += 3) {
        BatchTileF16<8, 3>(n, wf.data(), ws, a + g * gstride, gstride, n_tokens - g * kLanes, yg(g),
                           ldy);
        BatchTileF16<8, 3>(n, wf.data() + 8 * ws, ws, a + g * gstride, gstride,
                           n_tokens - g * kLanes, yg(g) + 8, ldy);
      }
      for (; g < groups; ++g)
        BatchTileF16<16, 1>(n, wf.data(), ws, a + g * gstride, gstride, n_tokens - g * kLanes,
                            yg(g), ldy);
    } else {
      for (; g < groups; ++g)
        for (int i = 0; i < rows; ++i)
          BatchTileF16<1, 1>(n, wf.data() + i * ws, ws, a + g * gstride, gstride,
                             n_tokens - g * kLanes, yg(g) + i, ldy);
    }
  }
}

const GemmKernel kF16Gemm = {F32Bytes,   PrepareF32,    GemmF16<F16W>,   12,
                             BatchSlots, BatchBytesF16, BatchPrepareF16, BatchGemmF16<F16W>};
const GemmKernel kBF16Gemm = {F32Bytes,   PrepareF32,    GemmF16<BF16W>,  12,
                              BatchSlots, BatchBytesF16, BatchPrepareF16, BatchGemmF16<BF16W>};
const GemmKernel kF32Gemm = {F32Bytes,   PrepareF32,    GemmF16<F32W>,   12,
                             BatchSlots, BatchBytesF16, BatchPrepareF16, BatchGemmF16<F32W>};

// --- Batch form of the 32-element types: 16 tokens side by side in the vector lanes ---
//
// The activations of 16 tokens are interleaved so that one 64-byte vector holds the same four
// values of one block for each of the 16 tokens, offset to unsigned (a + 128); the weights go
// in as signed bytes broadcast four at a time. Each VPDPBUSD then adds 4 products for 16
// tokens, and one block costs 8 of them plus one convert, one scale product and one FMA for
// all 16 tokens, instead of per pair of blocks per token as in Tile(). The offset is undone by
// starting the integer sum at -128 * sum(w) of the weight block.
//
// Layout per group of 16 token slots, per block: 8 x 64 bytes of values ([k][slot][4]), then
// the 16 fp16-rounded activation scales as floats; for the types with a minimum (Q4_1, Q5_1)
// then also the 16 tokens' s (Q8_1's d_a * sum(a)), in the place the K-quants have their
// per-sub-block sums (kGroupSubBytes).
constexpr size_t kGroupBlockBytes = 8 * 64 + 64;
constexpr size_t kGroupSubBytes = 8 * 64 + 64 + 64;

template <bool kSums>
size_t BatchBytes(int64_t n, int n_tokens) {
  return static_cast<size_t>(BatchSlots(n_tokens) / kLanes) * static_cast<size_t>(n / 32) *
         (kSums ? kGroupSubBytes : kGroupBlockBytes);
}

template <bool kSums>
void BatchPrepare(const float* x, int64_t n, int t0, int t1, int n_tokens, void* out) {
  constexpr size_t kBytes = kSums ? kGroupSubBytes : kGroupBlockBytes;
  const int64_t nb = n / 32;
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m256i vindex = _mm256_set_epi32(448, 384, 320, 256, 192, 128, 64, 0);
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int t = t0; t < t1; ++t) {
    uint8_t* g = static_cast<uint8_t*>(out) + static_cast<size_t>(t / kLanes) * nb * kBytes;
    const int lane = t % kLanes;
    const float* xt = x + static_cast<size_t>(t) * n;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = g + b * kBytes;
      float d = 0, ds = 0;
      __m256i v = offset;
      if (t < n_tokens) {
        const __m512 x0 = _mm512_loadu_ps(xt + b * 32), x1 = _mm512_loadu_ps(xt + b * 32 + 16);
        const float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_and_ps(x0, sign_mask), _mm512_and_ps(x1, sign_mask)));
        d = Fp16ToFp32(Fp32ToFp16(amax / 127.f));
        const __m512 id = _mm512_set1_ps(amax != 0 ? 127.f / amax : 0.f);
        const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, id));
        const __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, id));
        if constexpr (kSums) {
          const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
          ds = Fp16ToFp32(Fp32ToFp16(amax / 127.f * static_cast<float>(sum)));
        }
        v = _mm256_xor_si256(_mm256_set_m128i(_mm512_cvtsepi32_epi8(i1), _mm512_cvtsepi32_epi8(i0)),
                             offset);
      }
      _mm256_i32scatter_epi32(blk + 4 * lane, vindex, v, 1);
      std::memcpy(blk + 512 + 4 * lane, &d, 4);
      if constexpr (kSums) std::memcpy(blk + 576 + 4 * lane, &ds, 4);
    }
  }
}

// Unpacked weights of up to 16 rows: signed values, and per block (or sub-block) the
// correction, the scale and, for the types with a minimum, the minimum's factor dm (the tile
// subtracts dm times the activations' scaled sum).
struct BatchWeights {
  std::vector<int8_t> q;
  std::vector<int32_t> corr;
  std::vector<float> d, dm;
};

template <class W>
void UnpackBatchWeights(int64_t n, const uint8_t* w, size_t row_bytes, int rows, BatchWeights* bw) {
  const int64_t nb = n / 32;
  bw->q.resize(static_cast<size_t>(rows) * n);
  bw->corr.resize(static_cast<size_t>(rows) * nb);
  bw->d.resize(static_cast<size_t>(rows) * nb);
  if constexpr (W::kMin) bw->dm.resize(static_cast<size_t>(rows) * nb);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * W::kBlock;
      uint16_t dh;
      std::memcpy(&dh, blk, 2);
      const __m256i u = W::Unpack(blk);
      const __m256i sad = _mm256_sad_epu8(u, _mm256_setzero_si256());
      const int64_t usum = _mm256_extract_epi64(sad, 0) + _mm256_extract_epi64(sad, 1) +
                           _mm256_extract_epi64(sad, 2) + _mm256_extract_epi64(sad, 3);
      const __m256i q = _mm256_sub_epi8(u, _mm256_set1_epi8(static_cast<char>(W::kBias)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(bw->q.data() + r * n + b * 32), q);
      bw->corr[r * nb + b] = -128 * static_cast<int32_t>(usum - 32 * W::kBias);
      bw->d[r * nb + b] = Fp16ToFp32Fast(dh);
      if constexpr (W::kMin) {
        uint16_t mh;
        std::memcpy(&mh, blk + 2, 2);  // the minimum follows the scale in Q4_1 and Q5_1
        bw->dm[r * nb + b] = -Fp16ToFp32Fast(mh);
      }
    }
  }
}

template <int M>
inline void BatchTile(int64_t n, const BatchWeights& bw, const uint8_t* group, int valid, float* y,
                      size_t ldy) {
  const int64_t nb = n / 32;
  __m512 acc[M];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kGroupBlockBytes;
    __m512i a[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) a[k] = _mm512_load_si512(blk + 64 * k);
    const __m512 da = _mm512_load_ps(reinterpret_cast<const float*>(blk + 512));
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      const int8_t* wq = bw.q.data() + r * n + b * 32;
      __m512i s = _mm512_set1_epi32(bw.corr[r * nb + b]);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        int32_t w4;
        std::memcpy(&w4, wq + 4 * k, 4);
        s = _mm512_dpbusd_epi32(s, a[k], _mm512_set1_epi32(w4));
      }
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                               _mm512_mul_ps(da, _mm512_set1_ps(bw.d[r * nb + b])), acc[r]);
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1);
  const __m512i vindex = LaneOffsets(static_cast<int>(ldy));
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) _mm512_mask_i32scatter_ps(y + r, m, vindex, acc[r], 4);
}

// --- Batch form of the Q4_K kernel, same scheme per 32-value sub-block ---
//
// Per group and sub-block: 8 x 64 bytes of values, the 16 tokens' super-block scales, then
// the 16 tokens' scale * sum of the sub-block's values (for the mins term). The weights are
// unpacked per row tile into bytes with, per sub-block, -128 * sum(q), d * scale and
// dmin * min.
void BatchPrepareK(const float* x, int64_t n, int t0, int t1, int n_tokens, void* out) {
  const int64_t nsub = n / 32;
  thread_local std::vector<BlockQ8_K> q8;
  q8.resize(static_cast<size_t>(n / 256));
  const __m256i vindex = _mm256_set_epi32(448, 384, 320, 256, 192, 128, 64, 0);
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int t = t0; t < t1; ++t) {
    uint8_t* g =
        static_cast<uint8_t*>(out) + static_cast<size_t>(t / kLanes) * nsub * kGroupSubBytes;
    const int lane = t % kLanes;
    const bool real = t < n_tokens;
    if (real) PrepareQ8K(x + static_cast<size_t>(t) * n, n, q8.data());
    for (int64_t sb = 0; sb < nsub; ++sb) {
      uint8_t* blk = g + sb * kGroupSubBytes;
      float d = 0, ds = 0;
      __m256i v = offset;
      if (real) {
        const BlockQ8_K& b = q8[sb / 8];
        const int j = static_cast<int>(sb % 8);
        v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * j)),
                             offset);
        d = b.d;
        ds = b.d * static_cast<float>(b.bsums[2 * j] + b.bsums[2 * j + 1]);
      }
      _mm256_i32scatter_epi32(blk + 4 * lane, vindex, v, 1);
      std::memcpy(blk + 512 + 4 * lane, &d, 4);
      std::memcpy(blk + 576 + 4 * lane, &ds, 4);
    }
  }
}

template <class B>
void UnpackBatchWeightsQ4K(int64_t n, const uint8_t* w, size_t row_bytes, int rows,
                           BatchWeights* bw) {
  const int64_t nsub = n / 32;
  bw->q.resize(static_cast<size_t>(rows) * n);
  bw->corr.resize(static_cast<size_t>(rows) * nsub);
  bw->d.resize(bw->corr.size());
  bw->dm.resize(bw->corr.size());
  const __m128i m4 = _mm_set1_epi8(0x0F);
  for (int r = 0; r < rows; ++r) {
    const auto* x = reinterpret_cast<const B*>(w + r * row_bytes);
    for (int64_t i = 0; i < n / 256; ++i) {
      __m128i sc, mn;
      ScalesMinsK4(x[i].scales, &sc, &mn);
      alignas(16) int16_t scs[8], mns[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(scs), sc);
      _mm_store_si128(reinterpret_cast<__m128i*>(mns), mn);
      const float d = Fp16ToFp32Fast(x[i].d), dmin = Fp16ToFp32Fast(x[i].dmin);
      for (int p = 0; p < 4; ++p) {
        for (int half = 0; half < 2; ++half) {
          const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * p));
          __m256i v = half ? _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi8(0x0F))
                           : _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
          const int j = 2 * p + half;
          if constexpr (std::is_same_v<B, BlockQ5_K>) {
            // Q5_K: bit j of qh is the fifth bit of sub-block j.
            const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh));
            const __m256i h = _mm256_and_si256(_mm256_srli_epi16(hb, j), _mm256_set1_epi8(1));
            v = _mm256_or_si256(v, _mm256_slli_epi16(h, 4));
          }
          const int64_t sb = i * 8 + j;
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(bw->q.data() + r * n + sb * 32), v);
          const __m256i sad = _mm256_sad_epu8(v, _mm256_setzero_si256());
          const int64_t sum = _mm256_extract_epi64(sad, 0) + _mm256_extract_epi64(sad, 1) +
                              _mm256_extract_epi64(sad, 2) + _mm256_extract_epi64(sad, 3);
          bw->corr[r * nsub + sb] = -128 * static_cast<int32_t>(sum);
          bw->d[r * nsub + sb] = d * scs[j];
          bw->dm[r * nsub + sb] = dmin * mns[j];
        }
      }
      (void)m4;
    }
  }
}

template <int M>
inline void BatchTileK(int64_t n, const BatchWeights& bw, const uint8_t* group, int valid, float* y,
                       size_t ldy) {
  const int64_t nsub = n / 32;
  __m512 acc[M];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nsub; ++sb) {
    const uint8_t* blk = group + sb * kGroupSubBytes;
    __m512i a[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) a[k] = _mm512_load_si512(blk + 64 * k);
    const __m512 da = _mm512_load_ps(reinterpret_cast<const float*>(blk + 512));
    const __m512 ds = _mm512_load_ps(reinterpret_cast<const float*>(blk + 576));
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      const int8_t* wq = bw.q.data() + r * n + sb * 32;
      __m512i s = _mm512_set1_epi32(bw.corr[r * nsub + sb]);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        int32_t w4;
        std::memcpy(&w4, wq + 4 * k, 4);
        s = _mm512_dpbusd_epi32(s, a[k], _mm512_set1_epi32(w4));
      }
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                               _mm512_mul_ps(da, _mm512_set1_ps(bw.d[r * nsub + sb])), acc[r]);
      acc[r] = _mm512_fnmadd_ps(ds, _mm512_set1_ps(bw.dm[r * nsub + sb]), acc[r]);
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1);
  const __m512i vindex = LaneOffsets(static_cast<int>(ldy));
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) _mm512_mask_i32scatter_ps(y + r, m, vindex, acc[r], 4);
}

// Q4_0, Q5_0 and Q8_0 through BatchTile; Q4_1 and Q5_1 through BatchTileK, whose mins term
// is theirs with a block's minimum as dmin * min.
template <class W>
void BatchGemm(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
               const void* acts, int n_tokens, float* y, size_t ldy) {
  constexpr size_t kBytes = W::kMin ? kGroupSubBytes : kGroupBlockBytes;
  thread_local BatchWeights bw;
  const int64_t nb = n / 32;
  const int groups = BatchSlots(n_tokens) / kLanes;
  auto tile = [&](auto m, const BatchWeights& weights, const uint8_t* group, int valid, float* yg) {
    if constexpr (W::kMin) {
      BatchTileK<decltype(m)::value>(n, weights, group, valid, yg, ldy);
    } else {
      BatchTile<decltype(m)::value>(n, weights, group, valid, yg, ldy);
    }
  };
  for (int64_t r = r0; r < r1; r += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, r1 - r));
    UnpackBatchWeights<W>(n, w + r * row_bytes, row_bytes, rows, &bw);
    for (int g = 0; g < groups; ++g) {
      const uint8_t* group =
          static_cast<const uint8_t*>(acts) + static_cast<size_t>(g) * nb * kBytes;
      const int valid = std::min(kLanes, n_tokens - g * kLanes);
      float* yg = y + static_cast<size_t>(g) * kLanes * ldy + r;
      if (rows == 16) {
        tile(std::integral_constant<int, 16>(), bw, group, valid, yg);
      } else {
        // Rows past the last full tile one at a time, with their own unpacked copy.
        for (int i = 0; i < rows; ++i) {
          BatchWeights one;
          UnpackBatchWeights<W>(n, w + (r + i) * row_bytes, row_bytes, 1, &one);
          tile(std::integral_constant<int, 1>(), one, group, valid, yg + i);
        }
      }
    }
  }
}

template <class B>
void BatchGemmQ4K(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
                  const void* acts, int n_tokens, float* y, size_t ldy) {
  thread_local BatchWeights bw;
  const int64_t nsub = n / 32;
  const int groups = BatchSlots(n_tokens) / kLanes;
  for (int64_t r = r0; r < r1; r += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, r1 - r));
    UnpackBatchWeightsQ4K<B>(n, w + r * row_bytes, row_bytes, rows, &bw);
    for (int g = 0; g < groups; ++g) {
      const uint8_t* group =
          static_cast<const uint8_t*>(acts) + static_cast<size_t>(g) * nsub * kGroupSubBytes;
      const int valid = std::min(kLanes, n_tokens - g * kLanes);
      float* yg = y + static_cast<size_t>(g) * kLanes * ldy + r;
      if (rows == 16) {
        BatchTileK<16>(n, bw, group, valid, yg, ldy);
      } else {
        for (int i = 0; i < rows; ++i) {
          BatchWeights one;
          UnpackBatchWeightsQ4K<B>(n, w + (r + i) * row_bytes, row_bytes, 1, &one);
          BatchTileK<1>(n, one, group, valid, yg + i, ldy);
        }
      }
    }
  }
}

const GemmKernel kQ4_KGemm = {
    Q8KBytes,         PrepareQ8K,    GemmK<Q4KTiles<BlockQ4_K>>, 12, BatchSlots,
    BatchBytes<true>, BatchPrepareK, BatchGemmQ4K<BlockQ4_K>};
const GemmKernel kQ5_KGemm = {
    Q8KBytes,         PrepareQ8K,    GemmK<Q4KTiles<BlockQ5_K>>, 12, BatchSlots,
    BatchBytes<true>, BatchPrepareK, BatchGemmQ4K<BlockQ5_K>};
// --- Batch form of the Q6_K kernel: the Q4_K scheme with one scale per 16 values and no
// mins; the weights are unpacked to q - 32 (signed), the activations are the Q8_K batch
// layout of BatchPrepareK. ---
void UnpackBatchWeightsQ6K(int64_t n, const uint8_t* w, size_t row_bytes, int rows,
                           BatchWeights* bw) {
  const int64_t n16 = n / 16;
  bw->q.resize(static_cast<size_t>(rows) * n);
  bw->corr.resize(static_cast<size_t>(rows) * n16);
  bw->d.resize(bw->corr.size());
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
  const __m256i off = _mm256_set1_epi8(32);
  for (int r = 0; r < rows; ++r) {
    const auto* x = reinterpret_cast<const BlockQ6_K*>(w + r * row_bytes);
    for (int64_t i = 0; i < n / 256; ++i) {
      const float d = Fp16ToFp32Fast(x[i].d);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = x[i].ql + 64 * h;
        const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
        const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, m4),
                            _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4)),
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4)),
        };
        for (int c = 0; c < 4; ++c) {
          const int64_t e = i * 256 + 128 * h + 32 * c;  // first element of these 32
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(bw->q.data() + r * n + e),
                              _mm256_sub_epi8(q[c], off));
          const __m256i sad = _mm256_sad_epu8(q[c], _mm256_setzero_si256());
          const int64_t s0 = _mm256_extract_epi64(sad, 0) + _mm256_extract_epi64(sad, 1);
          const int64_t s1 = _mm256_extract_epi64(sad, 2) + _mm256_extract_epi64(sad, 3);
          const int64_t g = e / 16;
          bw->corr[r * n16 + g] = -128 * static_cast<int32_t>(s0 - 16 * 32);
          bw->corr[r * n16 + g + 1] = -128 * static_cast<int32_t>(s1 - 16 * 32);
          bw->d[r * n16 + g] = d * x[i].scales[g % 16];
          bw->d[r * n16 + g + 1] = d * x[i].scales[(g + 1) % 16];
        }
      }
    }
  }
}

template <int M>
inline void BatchTileQ6K(int64_t n, const BatchWeights& bw, const uint8_t* group, int valid,
                         float* y, size_t ldy) {
  const int64_t nsub = n / 32, n16 = n / 16;
  __m512 acc[M];
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nsub; ++sb) {
    const uint8_t* blk = group + sb * kGroupSubBytes;
    __m512i a[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) a[k] = _mm512_load_si512(blk + 64 * k);
    const __m512 da = _mm512_load_ps(reinterpret_cast<const float*>(blk + 512));
#pragma GCC unroll 16
    for (int r = 0; r < M; ++r) {
      const int8_t* wq = bw.q.data() + r * n + sb * 32;
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        __m512i s = _mm512_set1_epi32(bw.corr[r * n16 + 2 * sb + half]);
#pragma GCC unroll 4
        for (int k = 4 * half; k < 4 * half + 4; ++k) {
          int32_t w4;
          std::memcpy(&w4, wq + 4 * k, 4);
          s = _mm512_dpbusd_epi32(s, a[k], _mm512_set1_epi32(w4));
        }
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                 _mm512_mul_ps(da, _mm512_set1_ps(bw.d[r * n16 + 2 * sb + half])),
                                 acc[r]);
      }
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1);
  const __m512i vindex = LaneOffsets(static_cast<int>(ldy));
#pragma GCC unroll 16
  for (int r = 0; r < M; ++r) _mm512_mask_i32scatter_ps(y + r, m, vindex, acc[r], 4);
}

void BatchGemmQ6K(int64_t n, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
                  const void* acts, int n_tokens, float* y, size_t ldy) {
  thread_local BatchWeights bw;
  const int64_t nsub = n / 32;
  const int groups = BatchSlots(n_tokens) / kLanes;
  for (int64_t r = r0; r < r1; r += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, r1 - r));
    UnpackBatchWeightsQ6K(n, w + r * row_bytes, row_bytes, rows, &bw);
    for (int g = 0; g < groups; ++g) {
      const uint8_t* group =
          static_cast<const uint8_t*>(acts) + static_cast<size_t>(g) * nsub * kGroupSubBytes;
      const int valid = std::min(kLanes, n_tokens - g * kLanes);
      float* yg = y + static_cast<size_t>(g) * kLanes * ldy + r;
      if (rows == 16) {
        BatchTileQ6K<16>(n, bw, group, valid, yg, ldy);
      } else {
        for (int i = 0; i < rows; ++i) {
          BatchWeights one;
          UnpackBatchWeightsQ6K(n, w + (r + i) * row_bytes, row_bytes, 1, &one);
          BatchTileQ6K<1>(n, one, group, valid, yg + i, ldy);
        }
      }
    }
  }
}

const GemmKernel kQ6_KGemm = {Q8KBytes,   PrepareQ8K,       GemmK<Q6KTiles>, 12,
                              BatchSlots, BatchBytes<true>, BatchPrepareK,   BatchGemmQ6K};
const GemmKernel kQ4_0Gemm = {
    PlanarBytes, PreparePlanar<8>,  Gemm<Q4_0W>,         12,
    BatchSlots,  BatchBytes<false>, BatchPrepare<false>, BatchGemm<Q4_0W>};
const GemmKernel kQ5_0Gemm = {
    PlanarBytes, PreparePlanar<16>, Gemm<Q5_0W>,         12,
    BatchSlots,  BatchBytes<false>, BatchPrepare<false>, BatchGemm<Q5_0W>};
const GemmKernel kQ8_0Gemm = {
    PlanarBytes, PreparePlanar<128>, Gemm<Q8_0W>,         12,
    BatchSlots,  BatchBytes<false>,  BatchPrepare<false>, BatchGemm<Q8_0W>};
const GemmKernel kQ4_1Gemm = {PlanarBytes, PreparePlanar<0>, Gemm<Q4_1W>,        12,
                              BatchSlots,  BatchBytes<true>, BatchPrepare<true>, BatchGemm<Q4_1W>};
const GemmKernel kQ5_1Gemm = {PlanarBytes, PreparePlanar<0>, Gemm<Q5_1W>,        12,
                              BatchSlots,  BatchBytes<true>, BatchPrepare<true>, BatchGemm<Q5_1W>};

// exp(x) for x <= 0 down to -inf (softmax) and for the SiLU range: 2^n * p(r) with
// r = x - n ln2 in [-ln2/2, ln2/2] and a degree-6 polynomial, about 2 ulp.
inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// score[j] = exp(score[j] - mx) for the n_kv scores; returns 1 / their sum.
float ExpScores(float* score, int n_kv, float mx) {
  __m512 sum = _mm512_setzero_ps();
  const __m512 vmx = _mm512_set1_ps(mx);
  for (int j = 0; j < n_kv; j += 16) {
    const __mmask16 m = TailMask(n_kv - j);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, score + j), vmx));
    _mm512_mask_storeu_ps(score + j, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

// 16 values of a KV cache row as floats: F32 as they are, F16 converted (vcvtph2ps).
__m512 LoadKv(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
__m512 LoadKv(__mmask16 m, const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
__m512 LoadKv(const float* p) { return _mm512_loadu_ps(p); }
__m512 LoadKv(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

template <typename T>
void Attend(const float* q, const T* kt, size_t kt_stride, const T* v, size_t v_stride, int n_kv,
            int hd, float scale, float* score, float* out) {
  // Scores of 16 positions at a time from the transposed keys; four accumulators hide the
  // FMA latency.
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < n_kv; j += 16) {
    const __mmask16 m = TailMask(n_kv - j);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int d = 0;
    for (; d + 4 <= hd; d += 4) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
        acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(q[d + i]), LoadKv(m, kt + (d + i) * kt_stride + j),
                                 acc[i]);
    }
    for (; d < hd; ++d)
      acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), LoadKv(m, kt + d * kt_stride + j), acc[0]);
    const __m512 s =
        _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])),
                      _mm512_set1_ps(scale));
    _mm512_mask_storeu_ps(score + j, m, s);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, s);
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  const float inv = ExpScores(score, n_kv, mx);
  // Eight vectors (128 values) of the output at a time stay in registers across positions;
  // with fewer (small heads) four positions go in parallel so the FMA latency is hidden.
  for (int d0 = 0; d0 < hd; d0 += 128) {
    const int nv = std::min(8, (hd - d0 + 15) / 16);
    if (nv == 8 && hd - d0 >= 128) {
      __m512 acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_ps();
      for (int j = 0; j < n_kv; ++j) {
        const __m512 w = _mm512_set1_ps(score[j] * inv);
        const T* vj = v + j * v_stride + d0;
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(w, LoadKv(vj + 16 * i), acc[i]);
      }
      for (int i = 0; i < 8; ++i) _mm512_storeu_ps(out + d0 + 16 * i, acc[i]);
      continue;
    }
    __m512 acc[4][8];
    for (int u = 0; u < 4; ++u)
      for (int i = 0; i < 8; ++i) acc[u][i] = _mm512_setzero_ps();
    __mmask16 mask[8];
    for (int i = 0; i < nv; ++i) mask[i] = TailMask(hd - d0 - 16 * i);
    int j = 0;
    for (; j + 4 <= n_kv; j += 4) {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        const __m512 w = _mm512_set1_ps(score[j + u] * inv);
        const T* vj = v + (j + u) * v_stride + d0;
        for (int i = 0; i < nv; ++i)
          acc[u][i] = _mm512_fmadd_ps(w, LoadKv(mask[i], vj + 16 * i), acc[u][i]);
      }
    }
    for (; j < n_kv; ++j) {
      const __m512 w = _mm512_set1_ps(score[j] * inv);
      const T* vj = v + j * v_stride + d0;
      for (int i = 0; i < nv; ++i)
        acc[0][i] = _mm512_fmadd_ps(w, LoadKv(mask[i], vj + 16 * i), acc[0][i]);
    }
    for (int i = 0; i < nv; ++i) {
      const __m512 t =
          _mm512_add_ps(_mm512_add_ps(acc[0][i], acc[1][i]), _mm512_add_ps(acc[2][i], acc[3][i]));
      _mm512_mask_storeu_ps(out + d0 + 16 * i, mask[i], t);
    }
  }
}

void SiluMul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// Attention over a Q8_0 cache (quant.h's AttendQ8_0): the query's blocks widened to 16 bits
// once, each position's key blocks multiplied with them in 32-bit lanes and scaled in float, and
// the values' blocks summed into registers (heads of up to 256).
void AttendQ8(const uint8_t* q8, const uint8_t* k, const uint8_t* v, size_t row, int n_kv, int hd,
              float scale, float* score, float* out) {
  const int nb = hd / 32;
  if (nb > 8) {
    AttendQ8_0(q8, k, v, row, n_kv, hd, scale, score, out);
    return;
  }
  const auto* qb = reinterpret_cast<const BlockQ8_0*>(q8);
  __m512i qw[8];
  float qd[8];
  for (int b = 0; b < nb; ++b) {
    qw[b] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb[b].qs)));
    qd[b] = Fp16ToFp32Fast(qb[b].d) * scale;
  }
  float mx = -INFINITY;
  for (int j = 0; j < n_kv; ++j) {
    const auto* kb = reinterpret_cast<const BlockQ8_0*>(k + static_cast<size_t>(j) * row);
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; ++b) {
      const __m512i kw =
          _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kb[b].qs)));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(qw[b], kw)),
                            _mm512_set1_ps(qd[b] * Fp16ToFp32Fast(kb[b].d)), acc);
    }
    score[j] = _mm512_reduce_add_ps(acc);
    mx = std::max(mx, score[j]);
  }
  const float inv = ExpScores(score, n_kv, mx);
  __m512 acc[16];
  for (int i = 0; i < 2 * nb; ++i) acc[i] = _mm512_setzero_ps();
  for (int j = 0; j < n_kv; ++j) {
    const auto* vb = reinterpret_cast<const BlockQ8_0*>(v + static_cast<size_t>(j) * row);
    const float w = score[j] * inv;
    for (int b = 0; b < nb; ++b) {
      const __m512 d = _mm512_set1_ps(w * Fp16ToFp32Fast(vb[b].d));
      const __m512i lo =
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vb[b].qs)));
      const __m512i hi =
          _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vb[b].qs + 16)));
      acc[2 * b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), d, acc[2 * b]);
      acc[2 * b + 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), d, acc[2 * b + 1]);
    }
  }
  for (int i = 0; i < 2 * nb; ++i) _mm512_storeu_ps(out + 16 * i, acc[i]);
}

const VectorKernels kVectorKernels = {Attend<float>, Attend<uint16_t>, AttendQ8, SiluMul};

}  // namespace

const VectorKernels* GetVectorKernelsAvx512() { return &kVectorKernels; }

const GemmKernel* GetGemmAvx512(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return &kQ4_0Gemm;
    case GgmlType::kQ8_0:
      return &kQ8_0Gemm;
    case GgmlType::kQ4_1:
      return &kQ4_1Gemm;
    case GgmlType::kQ5_0:
      return &kQ5_0Gemm;
    case GgmlType::kQ5_1:
      return &kQ5_1Gemm;
    case GgmlType::kQ4_K:
      return &kQ4_KGemm;
    case GgmlType::kQ5_K:
      return &kQ5_KGemm;
    case GgmlType::kQ6_K:
      return &kQ6_KGemm;
    case GgmlType::kF16:
      return &kF16Gemm;
    case GgmlType::kBF16:
      return &kBF16Gemm;
    case GgmlType::kF32:
      return &kF32Gemm;
    default:
      return nullptr;
  }
}

}  // namespace naut::engine::internal
