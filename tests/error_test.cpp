#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <type_traits>

#include "ipckit/error.hpp"

namespace ipckit {
namespace {

static_assert(std::is_base_of_v<std::system_error, Error>);

TEST(Error, MessageNamesSyscallObjectErrnoAndHint) {
  Error e{"shm_open", "/orders", EACCES, "the object belongs to uid 1001 and has mode 0600"};
  EXPECT_STREQ(e.what(),
               "shm_open(\"/orders\"): Permission denied (EACCES): the object belongs to uid 1001 "
               "and has mode 0600");
  EXPECT_EQ(e.syscall(), "shm_open");
  EXPECT_EQ(e.object(), "/orders");
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_EQ(e.code(), std::error_code(EACCES, std::system_category()));
}

TEST(Error, WithoutErrnoTheMessageIsTheHint) {
  Error e{"pipeline", "ls | wc -l", 0, "stage 2 exited with 1"};
  EXPECT_STREQ(e.what(), "pipeline(\"ls | wc -l\"): stage 2 exited with 1");
}

TEST(Error, WithoutObjectOrHint) {
  Error e{"pipe2", "", EMFILE};
  EXPECT_STREQ(e.what(), "pipe2: Too many open files (EMFILE)");
}

TEST(Error, QuotesInObjectNamesAreEscaped) {
  Error e{"open", "a\"b", ENOENT};
  EXPECT_EQ(std::string(e.what()).substr(0, 12), "open(\"a\\\"b\")");
}

TEST(Error, ErrnoNames) {
  EXPECT_EQ(errno_name(ENXIO), "ENXIO");
  EXPECT_EQ(errno_name(EPIPE), "EPIPE");
  EXPECT_EQ(errno_name(99999), "E?99999");
}

}  // namespace
}  // namespace ipckit
