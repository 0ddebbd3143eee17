#include "core/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace tether {
namespace {

Error IoError(const std::string& what, const std::string& path) {
  return MakeError("io_error",
                   what + " `" + path + "`: " + std::strerror(errno));
}

}  // namespace

Result<std::string> ReadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open key file", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Error e = IoError("cannot stat key file", path);
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeError("insecure_key_file",
                     "key file `" + path + "` is not a regular file");
  }
  if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return MakeError("insecure_key_file",
                     "key file `" + path + "` has mode " + mode +
                         " or another owner; it must be 0600 and owned by "
                         "the user running tether (chmod 600 " +
                         path + ")");
  }
  if (st.st_size > 1024 * 1024) {
    ::close(fd);
    return MakeError("io_error", "key file `" + path + "` is too large");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = IoError("cannot read key file", path);
      ::close(fd);
      return e;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return data;
}

Status WriteKeyFile(const std::string& path, const std::string& contents) {
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create key file", path);
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = IoError("cannot write key file", path);
      ::close(fd);
      ::unlink(path.c_str());
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Error e = IoError("cannot sync key file", path);
    ::close(fd);
    ::unlink(path.c_str());
    return e;
  }
  ::close(fd);
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<std::string> LoadOrCreateKeyFile(
    const std::string& path, const std::function<std::string()>& make) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return ReadKeyFile(path);
  if (errno != ENOENT) return IoError("cannot stat key file", path);
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return MakeError("io_error",
                       "cannot create `" + dir.string() + "`: " + ec.message());
    }
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  if (Status s = WriteKeyFile(path, make()); !s) {
    // Another process may have created it first; its key wins.
    if (::lstat(path.c_str(), &st) == 0) return ReadKeyFile(path);
    return s.error();
  }
  return ReadKeyFile(path);
}

}  // namespace tether
