// Secret key files: created once with mode 0600 and read only if nobody but
// the owner can read them (DESIGN.md: keys are files of mode 0600; the server
// refuses to start if one is more permissive).
#ifndef TETHER_CORE_KEY_FILE_H_
#define TETHER_CORE_KEY_FILE_H_

#include <functional>
#include <string>

#include "core/result.h"

namespace tether {

// Reads a key file. Fails (code "insecure_key_file") if it is not a regular
// file owned by this user with no group or other permissions, and
// ("io_error") if it cannot be read.
Result<std::string> ReadKeyFile(const std::string& path);

// Creates `path` (which must not exist) with mode 0600, writes `contents`,
// and syncs the file and its directory.
Status WriteKeyFile(const std::string& path, const std::string& contents);

// Reads the key at `path`, or, if there is no file there, creates it with
// `make()` first. Parent directories are created with mode 0700.
Result<std::string> LoadOrCreateKeyFile(
    const std::string& path, const std::function<std::string()>& make);

}  // namespace tether

#endif  // TETHER_CORE_KEY_FILE_H_
