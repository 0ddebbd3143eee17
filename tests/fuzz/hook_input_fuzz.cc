// The hook adapters' input: JSON an agent writes about a tool call it is
// about to make (so, under an agent's influence), and the shell command in
// it, read for git pushes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.h"
#include "hooks/tool_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tether::hooks::FindGitPushes(text);
  auto j = tether::ParseJson(text);
  if (j && j->is_object()) {
    for (auto agent :
         {tether::hooks::Agent::kClaude, tether::hooks::Agent::kCodex}) {
      (void)tether::hooks::MapToolCall(j->get_object(), agent);
    }
  }
  return 0;
}
