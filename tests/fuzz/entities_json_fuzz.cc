// Fuzzes the JSON inputs: strict JSON parsing, Cedar's entity format and the
// request format, and the value conversions back to JSON.
#include <boost/json.hpp>
#include <cstdint>
#include <string_view>

#include "core/json.h"
#include "policy/entities.h"
#include "policy/request.h"
#include "policy/value_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace tether::policy;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = tether::ParseJson(text);
  if (!j) return 0;
  (void)EntityStore::FromJson(*j);
  if (auto r = OwnedRequest::FromJson(*j); r.ok()) {
    (void)boost::json::serialize(
        ValueToJson(Value::Record((*r)->request().context)));
  }
  tether::Arena arena;
  if (auto v = ValueFromJson(*j, arena, "fuzz"); v.ok()) {
    (void)boost::json::serialize(ValueToJson(*v));
    (void)ValueToString(*v);
  }
  return 0;
}
