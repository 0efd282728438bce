#include "core/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/unique_fd.h"

namespace naut {
namespace {

// The port it finds can be listened on, and one that is taken is not found again while taken.
TEST(FreeTcpPort, FindsAPortThatCanBeListenedOn) {
  auto port = FreeTcpPort();
  ASSERT_TRUE(port) << port.error().ToString();
  ASSERT_GT(*port, 0);
  ASSERT_LT(*port, 65536);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_TRUE(fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd.get(), 1), 0);
  for (int i = 0; i < 20; ++i) {
    auto other = FreeTcpPort();
    ASSERT_TRUE(other);
    EXPECT_NE(*other, *port);
  }
}

}  // namespace
}  // namespace naut
