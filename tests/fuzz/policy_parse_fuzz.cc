// Fuzzes the policy text pipeline: lexer, parser, validation, indexing and
// diagnostic formatting.
#include <cstdint>
#include <string_view>

#include "policy/policy_set.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tether::policy::PolicySet::Builder builder;
  builder.AddSource("fuzz.cedar", text);
  auto set = builder.Build();
  for (const auto& d : builder.diagnostics()) {
    (void)tether::policy::FormatDiagnostic(d);
  }
  return 0;
}
