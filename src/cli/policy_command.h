// `tether policy check|eval|test`: the policy engine from the command line.
#ifndef TETHER_CLI_POLICY_COMMAND_H_
#define TETHER_CLI_POLICY_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

// Registers the `policy` subcommands on `app`. When one runs, `run` is set to
// the function to call; it returns the process exit status.
void AddPolicyCommands(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_POLICY_COMMAND_H_
