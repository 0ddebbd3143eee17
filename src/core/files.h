// Reading configuration-time inputs (policy files, entity files) with size
// bounds and clear errors.
#ifndef TETHER_CORE_FILES_H_
#define TETHER_CORE_FILES_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether {

// Reads a whole file; fails (code "io_error") if it is missing, unreadable,
// not a regular file or larger than `max_bytes`.
Result<std::string> ReadFile(const std::string& path,
                             std::size_t max_bytes = 64 * 1024 * 1024);

// Writes `contents` to a temporary file beside `path`, syncs it and renames
// it over `path` (readers see the old or the new file, never a mix).
Status WriteFileAtomically(const std::string& path, std::string_view contents);

struct NamedText {
  std::string name;  // the path as given (joined for directory entries)
  std::string text;
};

// `path` itself if it is a file; if it is a directory, each regular file in
// it whose name ends in `suffix` (e.g. ".cedar"), in byte-sorted name order,
// not recursing.
Result<std::vector<NamedText>> ReadSources(const std::string& path,
                                           std::string_view suffix,
                                           std::size_t max_bytes = 8 * 1024 *
                                                                   1024);

}  // namespace tether

#endif  // TETHER_CORE_FILES_H_
