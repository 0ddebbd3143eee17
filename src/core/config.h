// tether.toml: one file, sections as in DESIGN.md. Parsed once at start-up;
// a mistake (unknown key, wrong type, bad value) is an error naming
// file:line:col, never ignored.
#ifndef TETHER_CORE_CONFIG_H_
#define TETHER_CORE_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether {

struct SinkConfig {
  std::string type;  // "file" | "webhook"
  std::string name;
  std::string records = "events";  // "events" | "checkpoints" (a witness)
  // file
  std::string path;
  std::uint64_t max_bytes = 100 * 1024 * 1024;
  int max_files = 5;
  // webhook
  std::string url;
  std::map<std::string, std::string> headers;
  std::int64_t timeout_ms = 10'000;
  std::string ca_file;
};

struct AuditConfig {
  std::uint64_t checkpoint_every = 1000;
  std::int64_t checkpoint_seconds = 60;
  std::vector<std::string> hmac_fields;
  bool default_redact_patterns = true;
  std::vector<std::string> redact_patterns;  // in addition to the defaults
  std::string witness_file;                  // checkpoints as json lines
  std::vector<SinkConfig> sinks;
};

struct Config {
  std::string source;  // the file it came from, or "" for defaults
  std::string data_dir = "tether-data";
  AuditConfig audit;
};

// Parses TOML text; `name` is used in error messages (code
// "invalid_config", message "name:line:col: ...").
Result<Config> ParseConfig(std::string_view text, const std::string& name);
Result<Config> LoadConfig(const std::string& path);

}  // namespace tether

#endif  // TETHER_CORE_CONFIG_H_
