// AVX2/FMA/F16C dot products. This file alone is compiled with -mavx2 -mfma -mf16c; nothing
// here runs unless internal::CpuHasAvx2() said the CPU has those extensions.

#include <immintrin.h>

#include <cstring>

#include "engine/quant.h"

namespace naut::engine::internal {

bool CpuHasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

namespace {

inline float Hsum(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline float H2F(uint16_t h) { return _cvtsh_ss(h); }

// Signed int8 x signed int8 pair sums as 8 int32 lanes.
inline __m256i MulSumI8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  const __m256i dot = _mm256_maddubs_epi16(ax, sy);
  return _mm256_madd_epi16(dot, _mm256_set1_epi16(1));
}

float DotF32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  float s = Hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

float DotF16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 8)));
    s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + i + 8), s1);
  }
  float s = Hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += H2F(x[i]) * y[i];
  return s;
}

float DotBF16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    __m256 wf = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    s0 = _mm256_fmadd_ps(wf, _mm256_loadu_ps(y + i), s0);
  }
  float s = Hsum(s0);
  for (; i < n; ++i) s += Bf16ToFp32(x[i]) * y[i];
  return s;
}

float DotQ4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / 32;
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i off = _mm256_set1_epi8(8);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m128i t0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
    __m128i t1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i + 1].qs));
    __m256i q0 =
        _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t0, 4), t0), m4), off);
    __m256i q1 =
        _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t1, 4), t1), m4), off);
    __m256 p0 = _mm256_cvtepi32_ps(
        MulSumI8(q0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs))));
    __m256 p1 = _mm256_cvtepi32_ps(
        MulSumI8(q1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + 1].qs))));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)), p0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i + 1].d) * H2F(y[i + 1].d)), p1, acc1);
  }
  for (; i < nb; ++i) {
    __m128i t0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].qs));
    __m256i q0 =
        _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t0, 4), t0), m4), off);
    __m256 p0 = _mm256_cvtepi32_ps(
        MulSumI8(q0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs))));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)), p0, acc0);
  }
  return Hsum(_mm256_add_ps(acc0, acc1));
}

// 32 nibbles of a block as bytes: element j (low nibbles 0..15, then high 16..31) at byte j.
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0xF));
}

// The 32 bits of qh as bytes: 0x10 at byte j where bit j is set, else 0.
inline __m256i HighBits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // Byte j takes byte j/8 of the word; OR-ing every bit but (j % 8) leaves 0xFF only where
  // that bit was set.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i set = _mm256_cmpeq_epi8(
      _mm256_or_si256(spread, _mm256_set1_epi64x(0x7FBFDFEFF7FBFDFE)), _mm256_set1_epi8(-1));
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Unsigned 5- or 4-bit weights times signed activations, as 8 int32 lanes.
inline __m256i MulSumU8I8(__m256i u, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

float DotQ5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    const __m256i q =
        _mm256_sub_epi8(_mm256_or_si256(Nibbles(x[i].qs), HighBits(x[i].qh)), _mm256_set1_epi8(16));
    const __m256 p = _mm256_cvtepi32_ps(
        MulSumI8(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs))));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)), p, acc);
  }
  return Hsum(acc);
}

// Q4_1 / Q5_1 against Q8_1 activations: d*da*sum(q*qa) + m*s, s = da*sum(qa) from the block.
template <class B, bool kFive>
float DotMin(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const B*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i q = Nibbles(x[i].qs);
    if constexpr (kFive) q = _mm256_or_si256(q, HighBits(x[i].qh));
    const __m256i ya = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)),
                          _mm256_cvtepi32_ps(MulSumU8I8(q, ya)), acc);
    summs += H2F(x[i].m) * H2F(y[i].s);
  }
  return Hsum(acc) + summs;
}

float DotQ8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const int64_t nb = n / 32;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m256 p0 =
        _mm256_cvtepi32_ps(MulSumI8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs))));
    __m256 p1 = _mm256_cvtepi32_ps(
        MulSumI8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i + 1].qs)),
                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i + 1].qs))));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)), p0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i + 1].d) * H2F(y[i + 1].d)), p1, acc1);
  }
  for (; i < nb; ++i) {
    __m256 p0 =
        _mm256_cvtepi32_ps(MulSumI8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs)),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs))));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d)), p0, acc0);
  }
  return Hsum(_mm256_add_ps(acc0, acc1));
}

inline void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

float DotQ4_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) ScaleMinK4(j, x[i].scales, &sc[j], &m[j]);
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    acc_m += y[i].d * H2F(x[i].dmin) * summ;
    const uint8_t* q4 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
      q4 += 32;
      const __m256i ql = _mm256_and_si256(bits, m4);
      const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
      __m256i pl =
          _mm256_maddubs_epi16(ql, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
      __m256i ph =
          _mm256_maddubs_epi16(qh, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32)));
      q8 += 64;
      pl = _mm256_madd_epi16(_mm256_set1_epi16(static_cast<int16_t>(sc[2 * j])), pl);
      ph = _mm256_madd_epi16(_mm256_set1_epi16(static_cast<int16_t>(sc[2 * j + 1])), ph);
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc) - acc_m;
}

float DotQ5_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) ScaleMinK4(j, x[i].scales, &sc[j], &m[j]);
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += m[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    acc_m += y[i].d * H2F(x[i].dmin) * summ;
    const uint8_t* q5 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh));
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q5));
      q5 += 32;
      const __m256i hl =
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4);
      const __m256i hh =
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4);
      const __m256i ql = _mm256_or_si256(_mm256_and_si256(bits, m4), hl);
      const __m256i qh = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), hh);
      __m256i pl =
          _mm256_maddubs_epi16(ql, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8)));
      __m256i ph =
          _mm256_maddubs_epi16(qh, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32)));
      q8 += 64;
      pl = _mm256_madd_epi16(_mm256_set1_epi16(static_cast<int16_t>(sc[2 * j])), pl);
      ph = _mm256_madd_epi16(_mm256_set1_epi16(static_cast<int16_t>(sc[2 * j + 1])), ph);
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc) - acc_m;
}

float DotQ6_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m4 = _mm256_set1_epi8(0xF);
  const __m256i m2 = _mm256_set1_epi8(3);
  const __m256i m32s = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* q8 = y[i].qs;
    const int8_t* sc = x[i].scales;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 2; ++j) {
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      qh += 32;
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_slli_epi16(m2, 2)), 2);
      const __m256i h2 = _mm256_and_si256(hb, _mm256_slli_epi16(m2, 4));
      const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_slli_epi16(m2, 6)), 2);
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i b2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      ql += 64;
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(b1, m4), h0),
          _mm256_or_si256(_mm256_and_si256(b2, m4), h1),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), h2),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), h3),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i a8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k));
        __m256i p =
            _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a8), _mm256_maddubs_epi16(m32s, a8));
        const __m256i scl =
            _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scl, p));
      }
      q8 += 128;
      sc += 8;
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * H2F(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return Hsum(acc);
}

// The values of a Q4_0 / Q5_0 block as signed bytes.
inline __m256i SignedValues(const BlockQ4_0& b) {
  return _mm256_sub_epi8(Nibbles(b.qs), _mm256_set1_epi8(8));
}
inline __m256i SignedValues(const BlockQ5_0& b) {
  return _mm256_sub_epi8(_mm256_or_si256(Nibbles(b.qs), HighBits(b.qh)), _mm256_set1_epi8(16));
}

// Four activation rows against one weight row: the weight block is unpacked once and its
// absolute values reused, which is what makes batched prompt processing cheaper per token.
template <class B>
void DotOffsetx4(int64_t n, const void* w, const void* a, size_t astride, float* y) {
  const auto* x = static_cast<const B*>(w);
  const BlockQ8_0* ys[4];
  for (int j = 0; j < 4; ++j)
    ys[j] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + j * astride);
  const int64_t nb = n / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = SignedValues(x[i]);
    const __m256i aq = _mm256_sign_epi8(q, q);
    const float wd = H2F(x[i].d);
    for (int j = 0; j < 4; ++j) {
      const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ys[j][i].qs));
      const __m256i dot =
          _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(yv, q)), ones);
      acc[j] =
          _mm256_fmadd_ps(_mm256_set1_ps(wd * H2F(ys[j][i].d)), _mm256_cvtepi32_ps(dot), acc[j]);
    }
  }
  for (int j = 0; j < 4; ++j) y[j] = Hsum(acc[j]);
}

// Q4_1 / Q5_1 against four activation rows, as DotMin: the unsigned values go straight into
// VPMADDUBSW.
template <class B, bool kFive>
void DotMinx4(int64_t n, const void* w, const void* a, size_t astride, float* y) {
  const auto* x = static_cast<const B*>(w);
  const BlockQ8_1* ys[4];
  for (int j = 0; j < 4; ++j)
    ys[j] = reinterpret_cast<const BlockQ8_1*>(static_cast<const uint8_t*>(a) + j * astride);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  float summs[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i q = Nibbles(x[i].qs);
    if constexpr (kFive) q = _mm256_or_si256(q, HighBits(x[i].qh));
    const float wd = H2F(x[i].d), wm = H2F(x[i].m);
    for (int j = 0; j < 4; ++j) {
      const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ys[j][i].qs));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(wd * H2F(ys[j][i].d)),
                               _mm256_cvtepi32_ps(MulSumU8I8(q, yv)), acc[j]);
      summs[j] += wm * H2F(ys[j][i].s);
    }
  }
  for (int j = 0; j < 4; ++j) y[j] = Hsum(acc[j]) + summs[j];
}

void DotQ8_0x4(int64_t n, const void* w, const void* a, size_t astride, float* y) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* ys[4];
  for (int j = 0; j < 4; ++j)
    ys[j] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(a) + j * astride);
  const int64_t nb = n / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs));
    const __m256i aq = _mm256_sign_epi8(q, q);
    const float wd = H2F(x[i].d);
    for (int j = 0; j < 4; ++j) {
      const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ys[j][i].qs));
      const __m256i dot =
          _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(yv, q)), ones);
      acc[j] =
          _mm256_fmadd_ps(_mm256_set1_ps(wd * H2F(ys[j][i].d)), _mm256_cvtepi32_ps(dot), acc[j]);
    }
  }
  for (int j = 0; j < 4; ++j) y[j] = Hsum(acc[j]);
}

}  // namespace

VecDot4Fn GetVecDot4Avx2(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return DotOffsetx4<BlockQ4_0>;
    case GgmlType::kQ5_0:
      return DotOffsetx4<BlockQ5_0>;
    case GgmlType::kQ8_0:
      return DotQ8_0x4;
    case GgmlType::kQ4_1:
      return DotMinx4<BlockQ4_1, false>;
    case GgmlType::kQ5_1:
      return DotMinx4<BlockQ5_1, true>;
    default:
      return nullptr;
  }
}

VecDotFn GetVecDotAvx2(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return DotF32;
    case GgmlType::kF16:
      return DotF16;
    case GgmlType::kBF16:
      return DotBF16;
    case GgmlType::kQ4_0:
      return DotQ4_0;
    case GgmlType::kQ8_0:
      return DotQ8_0;
    case GgmlType::kQ4_1:
      return DotMin<BlockQ4_1, false>;
    case GgmlType::kQ5_0:
      return DotQ5_0;
    case GgmlType::kQ5_1:
      return DotMin<BlockQ5_1, true>;
    case GgmlType::kQ4_K:
      return DotQ4_K;
    case GgmlType::kQ5_K:
      return DotQ5_K;
    case GgmlType::kQ6_K:
      return DotQ6_K;
    default:
      return nullptr;
  }
}

}  // namespace naut::engine::internal
