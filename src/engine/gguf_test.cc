#include "engine/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/gguf_corpus.h"
#include "engine/gguf_writer.h"

namespace naut::engine {
namespace {

TEST(GgufTest, ReadsEveryValueTypeAndTensors) {
  const std::string bytes = ValidSmallGguf();
  auto f = GgufFile::Parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetInt("t.u8"), 200);
  EXPECT_EQ(*g.GetInt("t.i8"), -100);
  EXPECT_EQ(*g.GetInt("t.u16"), 60000);
  EXPECT_EQ(*g.GetInt("t.i16"), -30000);
  EXPECT_EQ(*g.GetInt("t.u32"), 4000000000ll);
  EXPECT_EQ(*g.GetInt("t.i32"), -2000000000);
  EXPECT_FLOAT_EQ(static_cast<float>(*g.GetFloat("t.f32")), 0.5f);
  EXPECT_TRUE(*g.GetBool("t.bool"));
  EXPECT_EQ(static_cast<uint64_t>(*g.GetInt("t.u64")), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(*g.GetInt("t.i64"), -5);
  EXPECT_DOUBLE_EQ(*g.GetFloat("t.f64"), 2.25);
  EXPECT_EQ(g.Find("t.strs")->strs, (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.Find("t.f32s")->floats, (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(g.Find("t.i32s")->ints, (std::vector<int64_t>{7, 8, 9}));
  ASSERT_EQ(g.Find("t.nested")->items.size(), 1u);
  EXPECT_EQ(g.Find("t.nested")->items[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(g.GetString("t.u8").ok());
  EXPECT_EQ(g.GetInt("missing").error().code(), Code::kNotFound);
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* a = g.FindTensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dims, (std::vector<int64_t>{16, 4}));
  EXPECT_EQ(a->n_bytes, 256);
  EXPECT_EQ(reinterpret_cast<const float*>(a->data)[5], 1.25f);
  EXPECT_EQ((a->data - reinterpret_cast<const uint8_t*>(bytes.data())) % 32, 0);
}

TEST(GgufTest, OpensFromDiskWithMmap) {
  std::string path = testing::TempDir() + "/valid-" + std::to_string(::getpid()) + ".gguf";
  GgufWriter w;
  w.AddString("general.architecture", "qwen3");
  w.AddTensor("x", GgmlType::kF32, {4}, std::string(16, '\0'));
  ASSERT_TRUE(w.WriteTo(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ((*f)->GetStringOr("general.architecture", ""), "qwen3");
  EXPECT_EQ(GgufFile::Open(path + ".missing").error().code(), Code::kNotFound);
}

TEST(GgufTest, BrokenFilesAreRefusedWithTheRightError) {
  for (const auto& b : BrokenGgufCorpus()) {
    auto f = GgufFile::Parse(b.bytes, b.name);
    ASSERT_FALSE(f.ok()) << b.name << " was accepted";
    EXPECT_NE(f.error().message().find(b.expected_error), std::string::npos)
        << b.name << ": got '" << f.error().message() << "', expected it to mention '"
        << b.expected_error << "'";
  }
}

TEST(GgufTest, EveryTruncationOfAValidFileIsRefused) {
  const std::string bytes = ValidSmallGguf();
  for (size_t n = 0; n < bytes.size(); ++n) {
    // Copy so that ASan sees any read past the shortened buffer.
    std::string cut = bytes.substr(0, n);
    EXPECT_FALSE(GgufFile::Parse(cut).ok()) << "accepted a file cut at " << n;
  }
}

}  // namespace
}  // namespace naut::engine
