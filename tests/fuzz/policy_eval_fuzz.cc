// Fuzzes evaluation end to end. The input is three parts separated by NUL
// bytes: policy text, entities json, request json. Whatever parses is
// decided under both tether's and Cedar's semantics.
#include <boost/json.hpp>
#include <cstdint>
#include <string_view>

#include "core/json.h"
#include "policy/authorizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace tether::policy;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    std::size_t nul = in.find('\0');
    parts[i] = in.substr(0, nul);
    in =
        nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  }
  PolicySet::Builder builder;
  builder.AddSource("fuzz.cedar", parts[0]);
  auto set = builder.Build();
  if (!set) return 0;
  auto entities = EntityStore::FromJsonText(parts[1]);
  if (!entities) return 0;
  auto request_json = tether::ParseJson(parts[2]);
  if (!request_json) return 0;
  auto request = OwnedRequest::FromJson(*request_json);
  if (!request) return 0;
  for (bool cedar : {false, true}) {
    AuthorizeOptions options;
    options.cedar_semantics = cedar;
    Response r = Authorize(**set, (*request)->request(), **entities, options);
    (void)boost::json::serialize(ResponseToJson(r));
  }
  return 0;
}
