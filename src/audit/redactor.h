// Removes secrets from audit data before it is hashed or written.
//
// Two kinds of needles, matched with Hyperscan in one pass each: the exact
// values registered as secret (found anywhere, including inside longer
// strings) and configurable regular expressions for credential formats
// (GitHub, AWS, Slack tokens, private keys, JWTs ...). Every match is replaced
// by `[REDACTED]`; overlapping matches merge.
//
// Immutable once built and safe to use from many threads; to add a secret,
// build a new Redactor and swap it in.
#ifndef TETHER_AUDIT_REDACTOR_H_
#define TETHER_AUDIT_REDACTOR_H_

#include <boost/json/value.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether::audit {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Patterns for common credential formats, used unless configured otherwise.
const std::vector<std::string>& DefaultRedactPatterns();

class Redactor {
 public:
  // Fails (code "invalid_pattern") if a pattern does not compile; the
  // message names it.
  static Result<std::shared_ptr<const Redactor>> Create(
      std::vector<std::string> secrets, std::vector<std::string> patterns);
  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  // `text` with every match replaced by kRedacted.
  std::string Redact(std::string_view text) const;
  // True if `text` contains a match (for tests and checks).
  bool Matches(std::string_view text) const;

  // Redacts every string and object key in `v`, in place.
  void RedactJson(boost::json::value& v) const;

  const std::vector<std::string>& secrets() const { return secrets_; }
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  Redactor() = default;
  struct Range {
    std::size_t from, to;
  };
  void Scan(std::string_view text, std::vector<Range>& ranges) const;
  void* TakeScratch() const;
  void ReturnScratch(void* scratch) const;

  std::vector<std::string> secrets_;
  std::vector<std::string> patterns_;
  void* literal_db_ = nullptr;  // hs_database_t
  void* regex_db_ = nullptr;    // hs_database_t
  mutable std::mutex mu_;
  mutable std::vector<void*> scratch_pool_;  // hs_scratch_t, guarded by mu_
  void* prototype_ = nullptr;                // hs_scratch_t for both dbs
};

}  // namespace tether::audit

#endif  // TETHER_AUDIT_REDACTOR_H_
