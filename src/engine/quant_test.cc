#include "engine/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace naut::engine {
namespace {

TEST(QuantTest, Fp16AndBf16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.1f}) {
    float back = Fp16ToFp32(Fp32ToFp16(f));
    EXPECT_NEAR(back, f, std::fabs(f) * 1e-3f + 1e-8f) << f;
  }
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3C00);
  EXPECT_EQ(Fp32ToFp16(-2.0f), 0xC000);
  EXPECT_TRUE(std::isinf(Fp16ToFp32(Fp32ToFp16(1e6f))));
  EXPECT_EQ(Bf16ToFp32(Fp32ToBf16(1.5f)), 1.5f);
}

struct TypeTol {
  GgmlType type;
  double dequant_rel;  // quantize->dequantize error, relative to the row's max |x|
  double dot_rel;      // quantized dot vs dequantize-then-float dot, relative to sum |w x|
};

class KernelTest : public testing::TestWithParam<TypeTol> {};

TEST_P(KernelTest, DotMatchesDequantizeThenFloatForEveryKernelSet) {
  const TypeTol tt = GetParam();
  const int64_t n = 1024;
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int trial = 0; trial < 8; ++trial) {
    std::vector<float> w(n), x(n), wd(n);
    for (auto& v : w) v = nd(rng);
    for (auto& v : x) v = nd(rng);
    std::string q = QuantizeRow(tt.type, w.data(), n);
    ASSERT_EQ(static_cast<int64_t>(q.size()), RowBytes(tt.type, n));
    DequantizeRow(tt.type, q.data(), wd.data(), n);
    float maxabs = 0;
    for (auto v : w) maxabs = std::max(maxabs, std::fabs(v));
    for (int64_t i = 0; i < n; ++i)
      ASSERT_LE(std::fabs(wd[i] - w[i]), tt.dequant_rel * maxabs)
          << TypeName(tt.type) << " element " << i;
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += static_cast<double>(wd[i]) * x[i];
      mag += std::fabs(static_cast<double>(wd[i]) * x[i]);
    }
    const ActFormat fmt = ActFormatFor(tt.type);
    std::vector<uint8_t> act(ActRowBytes(fmt, n));
    QuantizeActs(fmt, x.data(), n, act.data());
    float scalar = GetVecDot(tt.type, KernelSet::kScalar)(n, q.data(), act.data());
    EXPECT_NEAR(scalar, ref, tt.dot_rel * mag) << TypeName(tt.type) << " scalar";
    if (KernelSetSupported(KernelSet::kAvx2)) {
      float avx = GetVecDot(tt.type, KernelSet::kAvx2)(n, q.data(), act.data());
      EXPECT_NEAR(avx, ref, tt.dot_rel * mag) << TypeName(tt.type) << " avx2";
      // Same integer sums, different float summation order.
      EXPECT_NEAR(avx, scalar, 1e-5 * mag) << TypeName(tt.type) << " avx2 vs scalar";
    }
    if (VecDot4Fn dot4 = GetVecDot4(tt.type)) {
      // Four activation rows: the first is x, the others scaled copies.
      std::vector<uint8_t> acts(4 * act.size());
      std::vector<float> xs(n);
      for (int j = 0; j < 4; ++j) {
        for (int64_t i = 0; i < n; ++i) xs[i] = x[i] * static_cast<float>(j + 1);
        QuantizeActs(fmt, xs.data(), n, acts.data() + j * act.size());
      }
      float out[4];
      dot4(n, q.data(), acts.data(), act.size(), out);
      for (int j = 0; j < 4; ++j) {
        float single = GetVecDot(tt.type)(n, q.data(), acts.data() + j * act.size());
        EXPECT_NEAR(out[j], single, 1e-5 * mag * (j + 1)) << TypeName(tt.type) << " x4 row " << j;
      }
    }
  }
}

// The tile kernels against the scalar row kernel, over row and token counts that exercise
// every tile shape and remainder, and rows with an odd number of blocks (1, 3, 5).
TEST_P(KernelTest, TileKernelMatchesScalarRowKernel) {
  const TypeTol tt = GetParam();
  for (KernelSet ks : {KernelSet::kAvx512}) {
    const GemmKernel* gk = GetGemm(tt.type, ks);
    if (gk == nullptr || !KernelSetSupported(ks)) continue;
    const ActFormat fmt = ActFormatFor(tt.type);
    const VecDotFn scalar = GetVecDot(tt.type, KernelSet::kScalar);
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t block = GetTypeTraits(static_cast<uint32_t>(tt.type))->block_size;
    for (int64_t n :
         {int64_t{32}, int64_t{96}, int64_t{160}, int64_t{256}, int64_t{1024}, int64_t{5 * 256}}) {
      if (n % block != 0) continue;
      for (int rows : {1, 4, 7, 13}) {
        for (int n_tokens : {1, 2, 3, 4, 5, 9}) {
          std::vector<float> w(static_cast<size_t>(n) * rows), x(static_cast<size_t>(n) * n_tokens);
          for (auto& v : w) v = nd(rng);
          for (auto& v : x) v = nd(rng);
          std::string q;
          for (int r = 0; r < rows; ++r) q += QuantizeRow(tt.type, w.data() + r * n, n);
          const size_t row_bytes = q.size() / rows;
          const size_t astride = gk->act_row_bytes(n);
          std::vector<uint8_t> acts(astride * n_tokens);
          for (int t = 0; t < n_tokens; ++t)
            gk->prepare(x.data() + t * n, n, acts.data() + t * astride);
          if (fmt == ActFormat::kQ8_K) {
            // The tile kernel's Q8_K rows are the row kernels' rows, bit for bit.
            std::vector<uint8_t> want(ActRowBytes(fmt, n));
            QuantizeActs(fmt, x.data(), n, want.data());
            ASSERT_EQ(0, std::memcmp(want.data(), acts.data(), want.size())) << TypeName(tt.type);
          }
          // Rows 1.. only, to check the row range; y[0] must stay untouched.
          const int r0 = rows > 1 ? 1 : 0;
          std::vector<float> y(static_cast<size_t>(rows) * n_tokens, -12345.0f);
          gk->gemm(n, reinterpret_cast<const uint8_t*>(q.data()), row_bytes, r0, rows, acts.data(),
                   astride, n_tokens, y.data(), rows);
          std::vector<uint8_t> act(ActRowBytes(fmt, n));
          for (int t = 0; t < n_tokens; ++t) {
            QuantizeActs(fmt, x.data() + t * n, n, act.data());
            if (r0 == 1) {
              EXPECT_EQ(y[t * rows], -12345.0f);
            }
            for (int r = r0; r < rows; ++r) {
              float want = scalar(n, q.data() + r * row_bytes, act.data());
              double mag = 0;
              for (int64_t i = 0; i < n; ++i) mag += std::fabs(w[r * n + i] * x[t * n + i]);
              ASSERT_NEAR(y[t * rows + r], want, 1e-5 * mag)
                  << TypeName(tt.type) << " " << KernelSetName(ks) << " n " << n << " rows " << rows
                  << " tokens " << n_tokens << " at " << r << "," << t;
            }
          }
        }
      }
    }
  }
}

// The batch form of the tile kernels (whole prompt batches) against the scalar row kernel.
TEST_P(KernelTest, BatchKernelMatchesScalarRowKernel) {
  const TypeTol tt = GetParam();
  const GemmKernel* gk = GetGemm(tt.type, KernelSet::kAvx512);
  if (gk == nullptr || gk->batch_gemm == nullptr || !KernelSetSupported(KernelSet::kAvx512)) {
    GTEST_SKIP() << "no batch kernel";
  }
  const ActFormat fmt = ActFormatFor(tt.type);
  const VecDotFn scalar = GetVecDot(tt.type, KernelSet::kScalar);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t block = GetTypeTraits(static_cast<uint32_t>(tt.type))->block_size;
  for (int64_t n : {int64_t{160}, int64_t{1024}, int64_t{1280}}) {
    if (n % block != 0) continue;
    for (int rows : {16, 21, 35}) {
      for (int n_tokens : {12, 16, 17, 40}) {
        std::vector<float> w(static_cast<size_t>(n) * rows), x(static_cast<size_t>(n) * n_tokens);
        for (auto& v : w) v = nd(rng);
        for (auto& v : x) v = nd(rng);
        std::string q;
        for (int r = 0; r < rows; ++r) q += QuantizeRow(tt.type, w.data() + r * n, n);
        const size_t row_bytes = q.size() / rows;
        std::vector<uint8_t> buf(gk->batch_bytes(n, n_tokens) + 64);
        uint8_t* acts = buf.data() + (-reinterpret_cast<uintptr_t>(buf.data()) & 63);
        const int slots = gk->batch_slots(n_tokens);
        gk->batch_prepare(x.data(), n, 0, slots / 2, n_tokens, acts);
        gk->batch_prepare(x.data(), n, slots / 2, slots, n_tokens, acts);
        std::vector<float> y(static_cast<size_t>(rows) * n_tokens, -12345.0f);
        const auto* wq = reinterpret_cast<const uint8_t*>(q.data());
        gk->batch_gemm(n, wq, row_bytes, 0, 16, acts, n_tokens, y.data(), rows);
        gk->batch_gemm(n, wq, row_bytes, 16, rows, acts, n_tokens, y.data(), rows);
        std::vector<uint8_t> act(ActRowBytes(fmt, n));
        for (int t = 0; t < n_tokens; ++t) {
          QuantizeActs(fmt, x.data() + t * n, n, act.data());
          for (int r = 0; r < rows; ++r) {
            float want = scalar(n, q.data() + r * row_bytes, act.data());
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(w[r * n + i] * x[t * n + i]);
            ASSERT_NEAR(y[t * rows + r], want, 1e-5 * mag)
                << TypeName(tt.type) << " n " << n << " rows " << rows << " tokens " << n_tokens
                << " at " << r << "," << t;
          }
        }
      }
    }
  }
}

// The batch form on the shapes real files have and the edges around them: rows of 1, 2, 3, 18,
// 24 and 28 blocks of 32 (576 and 896 are SmolLM2's and Qwen2.5-0.5B's widths, neither a
// multiple of 256; 768 is three K-quant blocks), row ranges that end inside a 16-row tile, every
// batch size from 1 to 20 (the engine only sends 12 or more, but the layout must hold for any) and
// 33, and activations prepared in two uneven parts.
TEST_P(KernelTest, BatchKernelMatchesScalarRowKernelOnOddShapes) {
  const TypeTol tt = GetParam();
  const GemmKernel* gk = GetGemm(tt.type, KernelSet::kAvx512);
  if (gk == nullptr || gk->batch_gemm == nullptr || !KernelSetSupported(KernelSet::kAvx512)) {
    GTEST_SKIP() << "no batch kernel";
  }
  const ActFormat fmt = ActFormatFor(tt.type);
  const VecDotFn scalar = GetVecDot(tt.type, KernelSet::kScalar);
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t block = GetTypeTraits(static_cast<uint32_t>(tt.type))->block_size;
  std::vector<int> token_counts;
  for (int t = 1; t <= 20; ++t) token_counts.push_back(t);
  token_counts.push_back(33);
  for (int64_t n :
       {int64_t{32}, int64_t{64}, int64_t{96}, int64_t{576}, int64_t{768}, int64_t{896}}) {
    if (n % block != 0) continue;
    for (int rows : {1, 5, 17, 31}) {
      std::vector<float> w(static_cast<size_t>(n) * rows);
      for (auto& v : w) v = nd(rng);
      std::string q;
      for (int r = 0; r < rows; ++r) q += QuantizeRow(tt.type, w.data() + r * n, n);
      const size_t row_bytes = q.size() / rows;
      const auto* wq = reinterpret_cast<const uint8_t*>(q.data());
      const int split = rows > 16 ? 16 : 0;  // a second call for the rows of a partial tile
      for (int n_tokens : token_counts) {
        std::vector<float> x(static_cast<size_t>(n) * n_tokens);
        for (auto& v : x) v = nd(rng);
        std::vector<uint8_t> buf(gk->batch_bytes(n, n_tokens) + 64);
        uint8_t* acts = buf.data() + (-reinterpret_cast<uintptr_t>(buf.data()) & 63);
        const int slots = gk->batch_slots(n_tokens);
        ASSERT_GE(slots, n_tokens);
        gk->batch_prepare(x.data(), n, 0, slots / 3, n_tokens, acts);
        gk->batch_prepare(x.data(), n, slots / 3, slots, n_tokens, acts);
        std::vector<float> y(static_cast<size_t>(rows) * n_tokens, -12345.0f);
        if (split > 0) gk->batch_gemm(n, wq, row_bytes, 0, split, acts, n_tokens, y.data(), rows);
        gk->batch_gemm(n, wq, row_bytes, split, rows, acts, n_tokens, y.data(), rows);
        std::vector<uint8_t> act(ActRowBytes(fmt, n));
        for (int t = 0; t < n_tokens; ++t) {
          QuantizeActs(fmt, x.data() + t * n, n, act.data());
          for (int r = 0; r < rows; ++r) {
            const float want = scalar(n, q.data() + r * row_bytes, act.data());
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(w[r * n + i] * x[t * n + i]);
            ASSERT_NEAR(y[t * rows + r], want, 1e-5 * mag)
                << TypeName(tt.type) << " n " << n << " rows " << rows << " tokens " << n_tokens
                << " at " << r << "," << t;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, KernelTest,
    testing::Values(TypeTol{GgmlType::kF32, 0, 1e-6}, TypeTol{GgmlType::kF16, 1e-3, 1e-6},
                    TypeTol{GgmlType::kBF16, 8e-3, 1e-6}, TypeTol{GgmlType::kQ8_0, 1e-2, 1e-2},
                    TypeTol{GgmlType::kQ4_0, 0.16, 1e-2}, TypeTol{GgmlType::kQ4_1, 0.16, 1e-2},
                    TypeTol{GgmlType::kQ5_0, 0.08, 1e-2}, TypeTol{GgmlType::kQ5_1, 0.08, 1e-2},
                    TypeTol{GgmlType::kQ4_K, 0.16, 1e-2}, TypeTol{GgmlType::kQ5_K, 0.08, 1e-2},
                    TypeTol{GgmlType::kQ6_K, 0.04, 1e-2}),
    [](const auto& info) { return TypeName(info.param.type); });

TEST(QuantTest, AllZeroRowsStayZero) {
  std::vector<float> z(256, 0.0f), back(256, 1.0f);
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                     GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    std::string q = QuantizeRow(t, z.data(), 256);
    DequantizeRow(t, q.data(), back.data(), 256);
    for (float v : back) ASSERT_EQ(v, 0.0f) << TypeName(t);
  }
}

}  // namespace
}  // namespace naut::engine

namespace naut::engine {
namespace {

// The q8_0 cache's attention is the float attention of the values its blocks hold: the query,
// keys and values rounded to Q8_0 and read back give the same output from the float kernel.
TEST(VectorKernelsTest, Q8_0AttentionIsTheFloatAttentionOfItsRoundedValues) {
  const VectorKernels& ref = GetVectorKernels(KernelSet::kScalar);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (int hd : {32, 64, 128, 288}) {  // 288: more than the AVX-512 kernel holds, scalar
    for (int n_kv : {1, 5, 17, 40, 300}) {
      // Two heads a row; the second is read.
      const int64_t dkv = 2 * hd;
      const size_t head = static_cast<size_t>(hd / 32) * sizeof(BlockQ8_0), row = 2 * head;
      std::vector<float> q(hd), kv(static_cast<size_t>(dkv) * n_kv * 2);
      for (auto* vec : {&q, &kv})
        for (auto& x : *vec) x = nd(rng);
      std::vector<uint8_t> q8(head), k8(row * n_kv), v8(row * n_kv);
      QuantizeActs(ActFormat::kQ8_0, q.data(), hd, q8.data());
      std::vector<float> qr(hd), kt(static_cast<size_t>(hd) * n_kv), vr(kt.size()), one(dkv);
      DequantizeRow(GgmlType::kQ8_0, q8.data(), qr.data(), hd);
      for (int j = 0; j < n_kv; ++j) {
        QuantizeActs(ActFormat::kQ8_0, kv.data() + 2 * j * dkv, dkv, k8.data() + j * row);
        QuantizeActs(ActFormat::kQ8_0, kv.data() + (2 * j + 1) * dkv, dkv, v8.data() + j * row);
        DequantizeRow(GgmlType::kQ8_0, k8.data() + j * row, one.data(), dkv);
        for (int d = 0; d < hd; ++d) kt[static_cast<size_t>(d) * n_kv + j] = one[hd + d];
        DequantizeRow(GgmlType::kQ8_0, v8.data() + j * row, one.data(), dkv);
        std::copy(one.begin() + hd, one.end(), vr.begin() + static_cast<ptrdiff_t>(j) * hd);
      }
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      std::vector<float> score(n_kv), want(hd), got(hd, 99.0f);
      ref.attend(qr.data(), kt.data(), n_kv, vr.data(), hd, n_kv, hd, scale, score.data(),
                 want.data());
      for (KernelSet set : {KernelSet::kScalar, KernelSet::kAvx512}) {
        if (!KernelSetSupported(set)) continue;
        std::fill(got.begin(), got.end(), 99.0f);
        GetVectorKernels(set).attend_q8_0(q8.data(), k8.data() + head, v8.data() + head, row, n_kv,
                                          hd, scale, score.data(), got.data());
        for (int d = 0; d < hd; ++d)
          ASSERT_NEAR(got[d], want[d], 1e-4 * (1 + std::fabs(want[d])))
              << KernelSetName(set) << " " << hd << " " << n_kv;
      }
    }
  }
}

TEST(VectorKernelsTest, AttentionAndSiluMatchScalar) {
  if (!KernelSetSupported(KernelSet::kAvx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const VectorKernels& ref = GetVectorKernels(KernelSet::kScalar);
  const VectorKernels& fast = GetVectorKernels(KernelSet::kAvx512);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (int hd : {16, 64, 80, 128, 136, 256}) {
    for (int n_kv : {1, 5, 16, 17, 40}) {
      const size_t stride = static_cast<size_t>(hd) + 8, kt_stride = static_cast<size_t>(n_kv) + 3;
      std::vector<float> q(hd), k(kt_stride * hd), v(stride * n_kv), score(n_kv);
      for (auto* vec : {&q, &k, &v})
        for (auto& x : *vec) x = nd(rng);
      std::vector<float> want(hd), got(hd, 99.0f);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      ref.attend(q.data(), k.data(), kt_stride, v.data(), stride, n_kv, hd, scale, score.data(),
                 want.data());
      fast.attend(q.data(), k.data(), kt_stride, v.data(), stride, n_kv, hd, scale, score.data(),
                  got.data());
      for (int d = 0; d < hd; ++d)
        ASSERT_NEAR(got[d], want[d], 2e-5 * (1 + std::fabs(want[d]))) << hd << " " << n_kv;
      // The fp16 cache: the same values rounded to fp16 give the same answer in both kernel
      // sets, and the float kernel on those rounded values agrees too.
      std::vector<uint16_t> k16(k.size()), v16(v.size());
      std::vector<float> k_rounded(k.size()), v_rounded(v.size());
      for (size_t i = 0; i < k.size(); ++i) {
        k16[i] = Fp32ToFp16(k[i]);
        k_rounded[i] = Fp16ToFp32(k16[i]);
      }
      for (size_t i = 0; i < v.size(); ++i) {
        v16[i] = Fp32ToFp16(v[i]);
        v_rounded[i] = Fp16ToFp32(v16[i]);
      }
      std::vector<float> want16(hd), got16(hd, 99.0f);
      ref.attend(q.data(), k_rounded.data(), kt_stride, v_rounded.data(), stride, n_kv, hd, scale,
                 score.data(), want16.data());
      ref.attend_f16(q.data(), k16.data(), kt_stride, v16.data(), stride, n_kv, hd, scale,
                     score.data(), got16.data());
      for (int d = 0; d < hd; ++d) ASSERT_EQ(got16[d], want16[d]) << "scalar " << hd << " " << n_kv;
      fast.attend_f16(q.data(), k16.data(), kt_stride, v16.data(), stride, n_kv, hd, scale,
                      score.data(), got16.data());
      for (int d = 0; d < hd; ++d)
        ASSERT_NEAR(got16[d], want16[d], 2e-5 * (1 + std::fabs(want16[d]))) << hd << " " << n_kv;
    }
  }
  for (int64_t n : {1, 15, 16, 100}) {
    std::vector<float> g(n), u(n);
    for (auto& x : g) x = nd(rng) * 5;
    for (auto& x : u) x = nd(rng);
    std::vector<float> want = g, got = g;
    ref.silu_mul(want.data(), u.data(), n);
    fast.silu_mul(got.data(), u.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << i;
  }
}

}  // namespace
}  // namespace naut::engine
