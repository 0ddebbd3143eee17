// Fuzzes the parser of a push's command section as the proxy runs it: the
// body arrives in 1-3 chunks cut anywhere, and the outcome (error, where
// the pack starts, the updates) must not depend on where it was cut. On
// success the rejection answer is built too.
//
// Input: byte 0 chooses the number of chunks (1-3), bytes 0 and 1 where
// they are cut; the rest is the request body.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/pktline.h"

namespace {

using tether::proxy::ReceivePackParser;

struct Outcome {
  std::string error;  // empty when none
  bool done = false;
  std::size_t end = 0;  // bytes of the body that were the command section
  std::size_t updates = 0;
  std::size_t options = 0;
  bool has_pack = false;

  bool operator==(const Outcome&) const = default;
};

Outcome Run(ReceivePackParser& parser, std::string_view body, std::size_t cut1,
            std::size_t cut2) {
  Outcome out;
  const std::size_t ends[] = {cut1, cut2, body.size()};
  std::size_t at = 0;
  for (std::size_t end : ends) {
    if (end < at) continue;
    std::string_view chunk = body.substr(at, end - at);
    std::size_t consumed = 0;
    auto r = parser.Feed(chunk, consumed);
    if (consumed > chunk.size()) __builtin_trap();
    at += consumed;
    if (!r.ok()) {
      out.error = r.error().message;
      if (out.error.empty() || r.error().code != "invalid_push") {
        __builtin_trap();
      }
      break;
    }
    if (*r == ReceivePackParser::State::kDone) {
      out.done = true;
      break;
    }
    if (consumed != chunk.size()) __builtin_trap();
  }
  if (out.error.empty()) out.end = at;
  out.updates = parser.commands().updates.size();
  out.options = parser.commands().push_options.size();
  out.has_pack = parser.commands().has_pack;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 2) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t chunks = data[0] % 3 + 1;
  std::size_t cut1 = body.size(), cut2 = body.size();
  if (chunks >= 2) cut1 = body.size() * data[1] / 255;
  if (chunks == 3) cut2 = cut1 + (body.size() - cut1) * (data[0] / 3) / 85;

  ReceivePackParser chunked;
  Outcome got = Run(chunked, body, cut1, cut2);
  ReceivePackParser whole;
  Outcome want = Run(whole, body, body.size(), body.size());
  if (!(got == want)) __builtin_trap();
  if (got.done) {
    if (got.updates > tether::proxy::kMaxRefUpdates) __builtin_trap();
    (void)tether::proxy::RejectPush(chunked.commands(), "fuzz says no");
  }
  return 0;
}
