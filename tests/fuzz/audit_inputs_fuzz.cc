// Fuzzes the audit layer's inputs: witness checkpoint files, tether.toml,
// canonical JSON (RFC 8785) of arbitrary documents, and redaction.
#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <string_view>

#include "audit/redactor.h"
#include "audit/verify.h"
#include "core/canonical_json.h"
#include "core/config.h"
#include "core/json.h"

namespace {

bool HasDouble(const boost::json::value& v) {
  if (v.is_double()) return true;
  if (v.is_array()) {
    for (const auto& x : v.get_array()) {
      if (HasDouble(x)) return true;
    }
  }
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      if (HasDouble(kv.value())) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace tether;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)audit::ParseCheckpointFile(text);
  (void)ParseConfig(text, "fuzz.toml");
  static const std::shared_ptr<const audit::Redactor> redactor =
      *audit::Redactor::Create({"secret-value", "s"},
                               audit::DefaultRedactPatterns());
  (void)redactor->Redact(text);
  if (auto j = ParseJson(text); j.ok()) {
    auto canon = CanonicalJson(*j);
    // Canonical JSON is a fixed point. (Not checked with non-integers:
    // Boost.JSON 1.81 reads doubles to within one ulp, not exactly.)
    if (canon.ok() && !HasDouble(*j)) {
      auto again = ParseJson(*canon);
      if (!again.ok() || *CanonicalJson(*again) != *canon) __builtin_trap();
    }
    redactor->RedactJson(*j);
  }
  return 0;
}
