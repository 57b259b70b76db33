// Private directories and instance locks: the data directory's own files (issue #15).
#include "base/files.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/test_support.h"

namespace cqrs {
namespace {

unsigned Mode(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("CreatePrivateDirectories makes each missing directory 0700 and leaves others",
          "[base][files]") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  REQUIRE(CreatePrivateDirectories(dir / "a/b/c").ok());
  CHECK(Mode(dir / "a") == 0700);
  CHECK(Mode(dir / "a/b/c") == 0700);
  CHECK(Mode(dir.path()) == 0755);
  REQUIRE(CreatePrivateDirectories(dir / "a/b/c").ok());  // again: nothing to do
  std::ofstream(dir / "file") << "x";
  Status s = CreatePrivateDirectories(dir / "file/sub");
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains(dir / "file/sub"));
}

TEST_CASE("MakeFilePrivate takes group and other bits away from a file of ours", "[base][files]") {
  testing::TempDir dir;
  std::ofstream(dir / "data.mdb") << "x";
  REQUIRE(chmod((dir / "data.mdb").c_str(), 0644) == 0);
  MakeFilePrivate(dir / "data.mdb");
  CHECK(Mode(dir / "data.mdb") == 0600);
  MakeFilePrivate(dir / "absent");  // nothing to do, no error
}

TEST_CASE("InstanceLock admits one holder per role and names it to the next", "[base][files]") {
  testing::TempDir dir;
  const std::string data = dir / "data";
  auto first = InstanceLock::Acquire(data, "writer");
  REQUIRE(first.ok());
  CHECK(Mode(data) == 0700);
  CHECK(Mode(data + "/writer.lock") == 0600);
  // Another role is free; the same role is not, in this process or in another.
  CHECK(InstanceLock::Acquire(data, "projector").ok());
  auto second = InstanceLock::Acquire(data, "writer");
  REQUIRE(second.status().code() == Code::kAlreadyExists);
  CHECK_THAT(second.status().message(),
             Catch::Contains("another writer is running on " + data + " (pid " +
                             std::to_string(getpid()) + ", holding " + data + "/writer.lock)"));
  pid_t child = fork();
  if (child == 0) _exit(InstanceLock::Acquire(data, "writer").ok() ? 1 : 0);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WEXITSTATUS(status) == 0);
  // Released with its holder, even one killed with -9.
  first = Result<InstanceLock>(Status(Code::kInternal, "dropped"));
  child = fork();
  if (child == 0) {
    auto held = InstanceLock::Acquire(data, "writer");
    if (!held.ok()) _exit(1);
    kill(getpid(), SIGKILL);
  }
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(InstanceLock::Acquire(data, "writer").ok());
}

}  // namespace cqrs
