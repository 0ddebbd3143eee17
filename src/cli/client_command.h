// The CLI's server-facing commands: `tether task start|show|list|end`,
// `tether authorize`, `tether revoke`, `tether keys rotate`,
// `tether admin token create|reload`. Each is one REST call (DESIGN.md)
// to --server / TETHER_URL with a token from the environment or a file:
//   TETHER_TOKEN / --token-file            an operator token
//   TETHER_TASK_TOKEN / --task-token-file  a task token
//   TETHER_IDENTITY_TOKEN / --identity-token-file  a workload identity JWT
#ifndef TETHER_CLI_CLIENT_COMMAND_H_
#define TETHER_CLI_CLIENT_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

void AddClientCommands(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_CLIENT_COMMAND_H_
