#include "core/base64.h"

#include <gtest/gtest.h>

namespace naut {
namespace {

TEST(Base64Test, EncodesAndDecodesEveryPaddingAndByte) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(Base64Decode(Base64Encode(part)), part) << n;
  }
}

TEST(Base64Test, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(Base64Decode("Zg="));       // not a multiple of 4
  EXPECT_FALSE(Base64Decode("Z!=="));      // outside the alphabet
  EXPECT_FALSE(Base64Decode("Zg==Zg=="));  // padding before the end
  EXPECT_FALSE(Base64Decode("Zg=a"));      // padding in the middle of a quantum
}

}  // namespace
}  // namespace naut
