// `tether server`: the broker behind its REST API.
#ifndef TETHER_CLI_SERVER_COMMAND_H_
#define TETHER_CLI_SERVER_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

void AddServerCommand(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_SERVER_COMMAND_H_
