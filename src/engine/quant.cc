#include "engine/quant.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

namespace naut::engine {

float Fp16ToFp32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t Fp32ToFp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (ax < 0x38800000u) {  // subnormal half (or zero): round to nearest even on the 2^-24 grid
    float af;
    std::memcpy(&af, &ax, 4);
    float scaled = af * 16777216.0f;  // exact: multiply by 2^24
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  uint32_t mant = ax & 0x7fffff;
  uint32_t exp = (ax >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float Bf16ToFp32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t Fp32ToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
  return static_cast<uint16_t>((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

bool IsSupportedType(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

namespace {

inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

inline int NearestInt(float f) { return static_cast<int>(std::lrintf(f)); }

void DequantQ4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float d = Fp16ToFp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = ((b[i].qs[j] & 0xF) - 8) * d;
      y[i * 32 + j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantQ4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d), m = Fp16ToFp32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = (b[i].qs[j] & 0xF) * d + m;
      y[i * 32 + j + 16] = (b[i].qs[j] >> 4) * d + m;
    }
  }
}

// The 5-bit value of element j (0..31) of a Q5_0 / Q5_1 block, 0..31.
template <class B>
inline int Q5Value(const B& b, int j) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int lo = j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1) << 4);
}

void DequantQ5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = (Q5Value(b[i], j) - 16) * d;
  }
}

void DequantQ5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d), m = Fp16ToFp32(b[i].m);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = Q5Value(b[i], j) * d + m;
  }
}

void DequantQ8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float d = Fp16ToFp32(b[i].d);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = b[i].qs[j] * d;
  }
}

void DequantQ4_K(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d), dmin = Fp16ToFp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    int is = 0;
    for (int j = 0; j < kQK_K; j += 64) {
      uint8_t sc, m;
      ScaleMinK4(is, b[i].scales, &sc, &m);
      float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, b[i].scales, &sc, &m);
      float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void DequantQ5_K(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d), dmin = Fp16ToFp32(b[i].dmin);
    const uint8_t* ql = b[i].qs;
    const uint8_t* qh = b[i].qh;
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQK_K; j += 64) {
      uint8_t sc, m;
      ScaleMinK4(is, b[i].scales, &sc, &m);
      float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, b[i].scales, &sc, &m);
      float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void DequantQ6_K(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// --- weight quantizers (simple round-to-nearest; good enough for test and bench models) ---

void QuantQ4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      float v = x[i * 32 + j];
      if (std::fabs(v) > amax) {
        amax = std::fabs(v);
        max = v;
      }
    }
    float d = max / -8;
    float id = d ? 1.0f / d : 0.0f;
    b[i].d = Fp32ToFp16(d);
    for (int j = 0; j < 16; ++j) {
      int x0 = std::min(15, static_cast<int>(x[i * 32 + j] * id + 8.5f));
      int x1 = std::min(15, static_cast<int>(x[i * 32 + 16 + j] * id + 8.5f));
      b[i].qs[j] = static_cast<uint8_t>(x0 | (x1 << 4));
    }
  }
}

// As ggml's reference quantizers: Q4_1 / Q5_1 span [min, max] in 15 / 31 steps; Q5_0 puts
// the value of largest magnitude at -16 steps. Rounded by adding 0.5 and truncating, as ggml
// does, so that the bits match its files exactly (lround would differ at .5 ties).
// NOLINTBEGIN(bugprone-incorrect-roundings)
void QuantQ4_1(const float* x, BlockQ4_1* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float mn = x[i * 32], mx = x[i * 32];
    for (int j = 1; j < 32; ++j) {
      mn = std::min(mn, x[i * 32 + j]);
      mx = std::max(mx, x[i * 32 + j]);
    }
    const float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
    b[i].d = Fp32ToFp16(d);
    b[i].m = Fp32ToFp16(mn);
    for (int j = 0; j < 16; ++j) {
      const int x0 = std::min(15, static_cast<int>((x[i * 32 + j] - mn) * id + 0.5f));
      const int x1 = std::min(15, static_cast<int>((x[i * 32 + 16 + j] - mn) * id + 0.5f));
      b[i].qs[j] = static_cast<uint8_t>(x0 | (x1 << 4));
    }
  }
}

template <class B>
void PackQ5(const int* q, B* b) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    b->qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(b->qh, &qh, 4);
}

void QuantQ5_0(const float* x, BlockQ5_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[i * 32 + j]) > amax) {
        amax = std::fabs(x[i * 32 + j]);
        max = x[i * 32 + j];
      }
    }
    const float d = max / -16, id = d ? 1.0f / d : 0.0f;
    b[i].d = Fp32ToFp16(d);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = std::min(31, static_cast<int>(x[i * 32 + j] * id + 16.5f));
    PackQ5(q, &b[i]);
  }
}

void QuantQ5_1(const float* x, BlockQ5_1* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float mn = x[i * 32], mx = x[i * 32];
    for (int j = 1; j < 32; ++j) {
      mn = std::min(mn, x[i * 32 + j]);
      mx = std::max(mx, x[i * 32 + j]);
    }
    const float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
    b[i].d = Fp32ToFp16(d);
    b[i].m = Fp32ToFp16(mn);
    int q[32];
    for (int j = 0; j < 32; ++j)
      q[j] = std::min(31, static_cast<int>((x[i * 32 + j] - mn) * id + 0.5f));
    PackQ5(q, &b[i]);
  }
}
// NOLINTEND(bugprone-incorrect-roundings)

void QuantQ8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    float d = amax / 127;
    float id = d ? 1.0f / d : 0.0f;
    b[i].d = Fp32ToFp16(d);
    for (int j = 0; j < 32; ++j) b[i].qs[j] = static_cast<int8_t>(NearestInt(x[i * 32 + j] * id));
  }
}

void PackScalesK4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  std::memset(scales, 0, kKScaleBytes);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block scale and min, both
// quantized to 6 bits against the block's super-scales. Fills L with the levels.
void QuantKSubblocks(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales,
                     uint8_t* L) {
  float sc[8], mn[8];
  float max_sc = 0, max_mn = 0;
  for (int s = 0; s < 8; ++s) {
    float lo = x[s * 32], hi = x[s * 32];
    for (int l = 1; l < 32; ++l) {
      lo = std::min(lo, x[s * 32 + l]);
      hi = std::max(hi, x[s * 32 + l]);
    }
    lo = std::min(lo, 0.0f);
    sc[s] = (hi - lo) / nmax;
    mn[s] = -lo;
    max_sc = std::max(max_sc, sc[s]);
    max_mn = std::max(max_mn, mn[s]);
  }
  float d = max_sc / 63, dmin = max_mn / 63;
  *d_out = Fp32ToFp16(d);
  *dmin_out = Fp32ToFp16(dmin);
  d = Fp16ToFp32(*d_out);
  dmin = Fp16ToFp32(*dmin_out);
  uint8_t ls[8], lm[8];
  for (int s = 0; s < 8; ++s) {
    ls[s] = static_cast<uint8_t>(std::clamp(d ? NearestInt(sc[s] / d) : 0, 0, 63));
    lm[s] = static_cast<uint8_t>(std::clamp(dmin ? NearestInt(mn[s] / dmin) : 0, 0, 63));
    float ds = d * ls[s], dm = dmin * lm[s];
    for (int l = 0; l < 32; ++l) {
      int q = ds ? NearestInt((x[s * 32 + l] + dm) / ds) : 0;
      L[s * 32 + l] = static_cast<uint8_t>(std::clamp(q, 0, nmax));
    }
  }
  PackScalesK4(ls, lm, scales);
}

void QuantQ4_K(const float* x, BlockQ4_K* b, int64_t nb) {
  uint8_t L[256];
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    QuantKSubblocks(x, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
    uint8_t* q = b[i].qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
  }
}

void QuantQ5_K(const float* x, BlockQ5_K* b, int64_t nb) {
  uint8_t L[256];
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    QuantKSubblocks(x, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
    std::memset(b[i].qh, 0, 32);
    uint8_t* ql = b[i].qs;
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kQK_K; n += 64) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          b[i].qh[j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          b[i].qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

void QuantQ6_K(const float* x, BlockQ6_K* b, int64_t nb) {
  uint8_t L[256];
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scales[16];
    float max_abs_scale = 0, max_scale = 0;
    for (int s = 0; s < 16; ++s) {
      float amax = 0, max = 0;
      for (int l = 0; l < 16; ++l) {
        float v = x[s * 16 + l];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      scales[s] = max / -32;
      if (std::fabs(scales[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    if (max_abs_scale == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ6_K));
      for (unsigned char& l : b[i].ql) l = 0;
      // all levels 32 ("zero") need the high bits set: 32 = 0b100000
      for (unsigned char& l : b[i].qh) l = 0xAA;
      continue;
    }
    float iscale = -128.0f / max_scale;
    b[i].d = Fp32ToFp16(1 / iscale);
    float d0 = Fp16ToFp32(b[i].d);
    for (int s = 0; s < 16; ++s) {
      b[i].scales[s] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[s])));
      float d = d0 * b[i].scales[s];
      for (int l = 0; l < 16; ++l) {
        int q = d ? NearestInt(x[s * 16 + l] / d) : 0;
        L[s * 16 + l] = static_cast<uint8_t>(std::clamp(q, -32, 31) + 32);
      }
    }
    uint8_t* ql = b[i].ql;
    uint8_t* qh = b[i].qh;
    for (int j = 0; j < kQK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF,
                q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

// Same rounding as ggml's reference quantize_row_q8_K so that our integer dot products see
// the activations llama.cpp sees.
void QuantQ8_K(const float* x, BlockQ8_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float max = 0, amax = 0;
    for (int j = 0; j < 256; ++j) {
      float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; ++j)
      b[i].qs[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * x[j])));
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[j * 16 + l];
      b[i].bsums[j] = static_cast<int16_t>(sum);
    }
    b[i].d = 1 / iscale;
  }
}

// --- scalar dot products ---

float DotF32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) s[k] += x[i + k] * y[i + k];
  for (; i < n; ++i) s[0] += x[i] * y[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

float DotF16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += Fp16ToFp32(x[i]) * y[i];
  return s;
}

float DotBF16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += Bf16ToFp32(x[i]) * y[i];
  return s;
}

float DotQ4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    }
    s += sumi * Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d);
  }
  return s;
}

// Q4_1 / Q5_1 against Q8_1 activations, as ggml: sum(d*q + m)(da*qa) = d*da*sum(q*qa) + m*s.
float DotQ4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
    s += Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d) * sumi + Fp16ToFp32(x[i].m) * Fp16ToFp32(y[i].s);
  }
  return s;
}

float DotQ5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += (Q5Value(x[i], j) - 16) * y[i].qs[j];
    s += sumi * Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d);
  }
  return s;
}

float DotQ5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += Q5Value(x[i], j) * y[i].qs[j];
    s += Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d) * sumi + Fp16ToFp32(x[i].m) * Fp16ToFp32(y[i].s);
  }
  return s;
}

float DotQ8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 32; ++i) {
    int sumi = 0;
    for (int j = 0; j < 32; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += sumi * Fp16ToFp32(x[i].d) * Fp16ToFp32(y[i].d);
  }
  return s;
}

float DotQ4_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* q = x[i].qs;
    const int8_t* a8 = y[i].qs;
    int sumi = 0, summ = 0;
    for (int j = 0; j < 4; ++j) {
      uint8_t sc1, m1, sc2, m2;
      ScaleMinK4(2 * j, x[i].scales, &sc1, &m1);
      ScaleMinK4(2 * j + 1, x[i].scales, &sc2, &m2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += (q[l] & 0xF) * a8[l];
        s2 += (q[l] >> 4) * a8[l + 32];
      }
      sumi += sc1 * s1 + sc2 * s2;
      summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
              m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
      q += 32;
      a8 += 64;
    }
    s += y[i].d * (Fp16ToFp32(x[i].d) * sumi - Fp16ToFp32(x[i].dmin) * summ);
  }
  return s;
}

float DotQ5_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* q = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const int8_t* a8 = y[i].qs;
    int sumi = 0, summ = 0;
    for (int j = 0; j < 4; ++j) {
      uint8_t sc1, m1, sc2, m2;
      ScaleMinK4(2 * j, x[i].scales, &sc1, &m1);
      ScaleMinK4(2 * j + 1, x[i].scales, &sc2, &m2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += ((q[l] & 0xF) + ((qh[l] >> (2 * j)) & 1) * 16) * a8[l];
        s2 += ((q[l] >> 4) + ((qh[l] >> (2 * j + 1)) & 1) * 16) * a8[l + 32];
      }
      sumi += sc1 * s1 + sc2 * s2;
      summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
              m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
      q += 32;
      a8 += 64;
    }
    s += y[i].d * (Fp16ToFp32(x[i].d) * sumi - Fp16ToFp32(x[i].dmin) * summ);
  }
  return s;
}

float DotQ6_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float s = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    const int8_t* a8 = y[i].qs;
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {
      int part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int l = 0; l < 32; ++l) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        part[is] += q1 * a8[l];
        part[is + 2] += q2 * a8[l + 32];
        part[is + 4] += q3 * a8[l + 64];
        part[is + 6] += q4 * a8[l + 96];
      }
      for (int k = 0; k < 8; ++k) sumi += sc[k] * part[k];
      ql += 64;
      qh += 32;
      sc += 8;
      a8 += 128;
    }
    s += y[i].d * Fp16ToFp32(x[i].d) * sumi;
  }
  return s;
}

std::atomic<KernelSet> g_kernels{BestKernelSet()};

}  // namespace

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, n * 4);
      break;
    case GgmlType::kF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(h[i]);
      break;
    }
    case GgmlType::kBF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(h[i]);
      break;
    }
    case GgmlType::kQ4_0:
      DequantQ4_0(static_cast<const BlockQ4_0*>(src), dst, n / 32);
      break;
    case GgmlType::kQ8_0:
      DequantQ8_0(static_cast<const BlockQ8_0*>(src), dst, n / 32);
      break;
    case GgmlType::kQ4_1:
      DequantQ4_1(static_cast<const BlockQ4_1*>(src), dst, n / 32);
      break;
    case GgmlType::kQ5_0:
      DequantQ5_0(static_cast<const BlockQ5_0*>(src), dst, n / 32);
      break;
    case GgmlType::kQ5_1:
      DequantQ5_1(static_cast<const BlockQ5_1*>(src), dst, n / 32);
      break;
    case GgmlType::kQ4_K:
      DequantQ4_K(static_cast<const BlockQ4_K*>(src), dst, n / 256);
      break;
    case GgmlType::kQ5_K:
      DequantQ5_K(static_cast<const BlockQ5_K*>(src), dst, n / 256);
      break;
    case GgmlType::kQ6_K:
      DequantQ6_K(static_cast<const BlockQ6_K*>(src), dst, n / 256);
      break;
    default:
      std::fill(dst, dst + n, 0.0f);
      assert(false && "DequantizeRow: unsupported type");
  }
}

std::string QuantizeRow(GgmlType type, const float* src, int64_t n) {
  std::string out(static_cast<size_t>(RowBytes(type, n)), '\0');
  void* p = out.data();
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(p, src, n * 4);
      break;
    case GgmlType::kF16: {
      auto* h = static_cast<uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) h[i] = Fp32ToFp16(src[i]);
      break;
    }
    case GgmlType::kBF16: {
      auto* h = static_cast<uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) h[i] = Fp32ToBf16(src[i]);
      break;
    }
    case GgmlType::kQ4_0:
      QuantQ4_0(src, static_cast<BlockQ4_0*>(p), n / 32);
      break;
    case GgmlType::kQ8_0:
      QuantQ8_0(src, static_cast<BlockQ8_0*>(p), n / 32);
      break;
    case GgmlType::kQ4_1:
      QuantQ4_1(src, static_cast<BlockQ4_1*>(p), n / 32);
      break;
    case GgmlType::kQ5_0:
      QuantQ5_0(src, static_cast<BlockQ5_0*>(p), n / 32);
      break;
    case GgmlType::kQ5_1:
      QuantQ5_1(src, static_cast<BlockQ5_1*>(p), n / 32);
      break;
    case GgmlType::kQ4_K:
      QuantQ4_K(src, static_cast<BlockQ4_K*>(p), n / 256);
      break;
    case GgmlType::kQ5_K:
      QuantQ5_K(src, static_cast<BlockQ5_K*>(p), n / 256);
      break;
    case GgmlType::kQ6_K:
      QuantQ6_K(src, static_cast<BlockQ6_K*>(p), n / 256);
      break;
    default:
      assert(false && "QuantizeRow: unsupported type");
  }
  return out;
}

ActFormat ActFormatFor(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
    case GgmlType::kQ8_0:
      return ActFormat::kQ8_0;
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
      return ActFormat::kQ8_1;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return ActFormat::kQ8_K;
    default:
      return ActFormat::kF32;
  }
}

size_t ActRowBytes(ActFormat fmt, int64_t n) {
  switch (fmt) {
    case ActFormat::kF32:
      return static_cast<size_t>(n) * 4;
    case ActFormat::kQ8_0:
      return static_cast<size_t>(n / 32) * sizeof(BlockQ8_0);
    case ActFormat::kQ8_1:
      return static_cast<size_t>(n / 32) * sizeof(BlockQ8_1);
    case ActFormat::kQ8_K:
      return static_cast<size_t>(n / 256) * sizeof(BlockQ8_K);
  }
  return 0;
}

namespace {

// One 32-value activation block as ggml's AVX2 quantize_row_q8_0 / q8_1 make it: values
// rounded half to even, the scale kept in fp16. Returns the sum of the values; `d_out`, when
// given, receives the scale before its rounding (ggml's Q8_1 sum term uses that one).
int QuantActBlock(const float* x, uint16_t* d16, int8_t* qs, float* d_out = nullptr) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0 ? 127.f / amax : 0.f;
  *d16 = Fp32ToFp16(d);
  if (d_out != nullptr) *d_out = d;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    qs[j] = static_cast<int8_t>(NearestInt(x[j] * id));
    sum += qs[j];
  }
  return sum;
}

}  // namespace

void QuantizeActs(ActFormat fmt, const float* x, int64_t n, void* out) {
  switch (fmt) {
    case ActFormat::kF32:
      std::memcpy(out, x, n * 4);
      break;
    case ActFormat::kQ8_0: {
      auto* b = static_cast<BlockQ8_0*>(out);
      for (int64_t i = 0; i < n / 32; ++i) QuantActBlock(x + i * 32, &b[i].d, b[i].qs);
      break;
    }
    case ActFormat::kQ8_1: {
      auto* b = static_cast<BlockQ8_1*>(out);
      for (int64_t i = 0; i < n / 32; ++i) {
        float d;
        const int sum = QuantActBlock(x + i * 32, &b[i].d, b[i].qs, &d);
        b[i].s = Fp32ToFp16(d * static_cast<float>(sum));
      }
      break;
    }
    case ActFormat::kQ8_K:
      QuantQ8_K(x, static_cast<BlockQ8_K*>(out), n / 256);
      break;
  }
}

bool KernelSetSupported(KernelSet k) {
  switch (k) {
    case KernelSet::kScalar:
      return true;
    case KernelSet::kAvx2:
      return internal::CpuHasAvx2();
    case KernelSet::kAvx512:
      return internal::CpuHasAvx512();
  }
  return false;
}
KernelSet BestKernelSet() {
  if (internal::CpuHasAvx512()) return KernelSet::kAvx512;
  return internal::CpuHasAvx2() ? KernelSet::kAvx2 : KernelSet::kScalar;
}
KernelSet SetKernelSet(KernelSet k) {
  if (k == KernelSet::kAvx512 && !KernelSetSupported(k)) k = KernelSet::kAvx2;
  if (k == KernelSet::kAvx2 && !KernelSetSupported(k)) k = KernelSet::kScalar;
  return g_kernels.exchange(k);
}
KernelSet ActiveKernelSet() { return g_kernels.load(std::memory_order_relaxed); }
const char* KernelSetName(KernelSet k) {
  switch (k) {
    case KernelSet::kScalar:
      return "scalar";
    case KernelSet::kAvx2:
      return "avx2+fma";
    case KernelSet::kAvx512:
      return "avx512+vnni";
  }
  return "?";
}

namespace {

float KvValue(float x) { return x; }
float KvValue(uint16_t x) { return Fp16ToFp32(x); }

template <typename T>
void AttendScalar(const float* q, const T* kt, size_t kt_stride, const T* v, size_t v_stride,
                  int n_kv, int hd, float scale, float* score, float* out) {
  float mx = -INFINITY;
  for (int j = 0; j < n_kv; ++j) {
    float s = 0;
    for (int d = 0; d < hd; ++d) s += q[d] * KvValue(kt[d * kt_stride + j]);
    score[j] = s * scale;
    mx = std::max(mx, score[j]);
  }
  float sum = 0;
  for (int j = 0; j < n_kv; ++j) {
    score[j] = std::exp(score[j] - mx);
    sum += score[j];
  }
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j < n_kv; ++j) {
    const float w = score[j] / sum;
    const T* vj = v + j * v_stride;
    for (int d = 0; d < hd; ++d) out[d] += w * KvValue(vj[d]);
  }
}

void SiluMulScalar(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

const VectorKernels kScalarVectorKernels = {AttendScalar<float>, AttendScalar<uint16_t>, AttendQ8_0,
                                            SiluMulScalar};

}  // namespace

const VectorKernels& GetVectorKernels(KernelSet k) {
  if (k == KernelSet::kAvx512) return *internal::GetVectorKernelsAvx512();
  return kScalarVectorKernels;
}
const VectorKernels& GetVectorKernels() { return GetVectorKernels(ActiveKernelSet()); }

void AttendQ8_0(const uint8_t* q8, const uint8_t* k, const uint8_t* v, size_t row, int n_kv, int hd,
                float scale, float* score, float* out) {
  static thread_local std::vector<float> value;
  value.resize(static_cast<size_t>(hd));
  const VecDotFn dot = GetVecDot(GgmlType::kQ8_0);
  float mx = -INFINITY;
  for (int j = 0; j < n_kv; ++j) {
    score[j] = dot(hd, k + static_cast<size_t>(j) * row, q8) * scale;
    mx = std::max(mx, score[j]);
  }
  float sum = 0;
  for (int j = 0; j < n_kv; ++j) sum += (score[j] = std::exp(score[j] - mx));
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j < n_kv; ++j) {
    DequantizeRow(GgmlType::kQ8_0, v + static_cast<size_t>(j) * row, value.data(), hd);
    const float w = score[j] / sum;
    for (int d = 0; d < hd; ++d) out[d] += w * value[static_cast<size_t>(d)];
  }
}

const GemmKernel* GetGemm(GgmlType type, KernelSet k) {
  return k == KernelSet::kAvx512 ? internal::GetGemmAvx512(type) : nullptr;
}
const GemmKernel* GetGemm(GgmlType type) { return GetGemm(type, ActiveKernelSet()); }

VecDotFn GetVecDot(GgmlType type, KernelSet k) {
  if (k == KernelSet::kAvx2 || k == KernelSet::kAvx512) {
    if (VecDotFn f = internal::GetVecDotAvx2(type)) return f;
  }
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
      return DotQ4_1;
    case GgmlType::kQ5_0:
      return DotQ5_0;
    case GgmlType::kQ5_1:
      return DotQ5_1;
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

VecDotFn GetVecDot(GgmlType type) { return GetVecDot(type, ActiveKernelSet()); }

VecDot4Fn GetVecDot4(GgmlType type) {
  return ActiveKernelSet() != KernelSet::kScalar ? internal::GetVecDot4Avx2(type) : nullptr;
}

}  // namespace naut::engine
