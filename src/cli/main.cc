// The `tether` command.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>

#include "cli/agent_command.h"
#include "cli/audit_command.h"
#include "cli/client_command.h"
#include "cli/dev_command.h"
#include "cli/policy_command.h"
#include "cli/server_command.h"

int main(int argc, char** argv) {
  CLI::App app{"tether: runtime authorization for autonomous coding agents"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tether 0.1.0");
  std::function<int()> run;
  tether::cli::AddPolicyCommands(app, run);
  tether::cli::AddAuditCommands(app, run);
  tether::cli::AddServerCommand(app, run);
  tether::cli::AddClientCommands(app, run);
  tether::cli::AddAgentCommands(app, run);
  tether::cli::AddDevCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run ? run() : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tether: %s\n", e.what());
    return 1;
  }
}
