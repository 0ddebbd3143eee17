// Putting an existing coding agent under tether (docs/agents.md):
//   tether run [--repo R] [--ticket ID] [--intent T] [--env E] [--ttl S]
//              [--label L]... -- COMMAND [ARGS...]
//     starts a task, runs COMMAND with an environment that routes it
//     through the enforcement proxy (and holds no standing credential),
//     keeps the task's lease alive, and ends the task when COMMAND exits;
//   tether git-credential get|store|erase
//     a git credential helper that answers with the task token for tether's
//     proxy and routed hosts, and never stores anything;
//   tether hook claude-code|codex [--install ...]
//     hook adapters that ask tether before each tool call and record each
//     result; they fail closed.
#ifndef TETHER_CLI_AGENT_COMMAND_H_
#define TETHER_CLI_AGENT_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

void AddAgentCommands(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_AGENT_COMMAND_H_
