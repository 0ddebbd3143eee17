// `tether audit verify|hash|resume|query|tail`: the audit log from the
// command line.
#ifndef TETHER_CLI_AUDIT_COMMAND_H_
#define TETHER_CLI_AUDIT_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

void AddAuditCommands(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_AUDIT_COMMAND_H_
