// What an agent's tool call is, for the authorizer (docs/agents.md, "What
// a hook asks"): the hook adapters read the agent's hook input (JSON from
// the agent, so untrusted) and describe the call as tool.call on
// Tool::"<name>" with a context; a shell command is read for the `git
// push` commands in it and their destination refs.
#ifndef TETHER_HOOKS_TOOL_CALLS_H_
#define TETHER_HOOKS_TOOL_CALLS_H_

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tether::hooks {

enum class Agent { kClaude, kCodex };

struct GitPush {
  std::string remote;
  std::vector<std::string> refs;  // canonical destination refs, as known
  bool unknown_ref = false;       // some destination could not be read
  bool force = false, remove = false;
};

struct ToolCall {
  std::string tool;
  boost::json::object context;
  std::vector<GitPush> pushes;
};

// Shell words of a command line (quotes and backslashes as sh reads them),
// split into simple commands at ; & | && || ( ) and newlines.
std::vector<std::vector<std::string>> SimpleCommands(std::string_view cmd);

// The `git push` commands in a shell command line. $NAME / ${NAME} in a
// refspec are expanded from this process's environment (the hook runs
// with the agent's); a destination that cannot be read sets unknown_ref.
std::vector<GitPush> FindGitPushes(std::string_view command);

// The hook input's tool call (code "invalid_input" if it names no tool).
Result<ToolCall> MapToolCall(const boost::json::object& hook_input,
                             Agent agent);

// The string member `key` of `o`, or "".
std::string JsonString(const boost::json::object& o, std::string_view key);

// The host of an http(s) URL, lower-case, without port or brackets.
std::string UrlHost(std::string_view url);

}  // namespace tether::hooks

#endif  // TETHER_HOOKS_TOOL_CALLS_H_
