#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tether {
namespace fs = std::filesystem;

Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return MakeError("io_error", "cannot read `" + path + "`: no such file");
  }
  if (!fs::is_regular_file(st)) {
    return MakeError("io_error", "cannot read `" + path + "`: not a file");
  }
  std::uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > max_bytes) {
    return MakeError("io_error", "`" + path + "` exceeds " +
                                     std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError("io_error",
                     "cannot read `" + path + "`: " + std::strerror(errno));
  }
  std::string text;
  text.resize(static_cast<std::size_t>(size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::size_t>(in.gcount()) != text.size()) {
    return MakeError("io_error", "short read from `" + path + "`");
  }
  return text;
}

Result<std::vector<NamedText>> ReadSources(const std::string& path,
                                           std::string_view suffix,
                                           std::size_t max_bytes) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    auto text = ReadFile(path, max_bytes);
    if (!text) return text.error();
    return std::vector<NamedText>{NamedText{path, std::move(*text)}};
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        e.is_regular_file()) {
      names.push_back(name);
    }
  }
  if (ec) {
    return MakeError("io_error", "cannot list `" + path + "`: " + ec.message());
  }
  std::sort(names.begin(), names.end());
  std::vector<NamedText> out;
  for (const std::string& name : names) {
    std::string full = (fs::path(path) / name).string();
    auto text = ReadFile(full, max_bytes);
    if (!text) return text.error();
    out.push_back(NamedText{full, std::move(*text)});
  }
  return out;
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError("io_error",
                     "cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::size_t off = 0;
  while (off < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return MakeError("io_error",
                       "cannot write " + tmp + ": " + std::strerror(err));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return MakeError("io_error",
                     "cannot sync " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError("io_error",
                     "cannot rename to " + path + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace tether
