// `tether dev issuer init|token`: a local OIDC-style issuer for trying tether
// and for tests: an Ed25519 key, its JWKS, and identity tokens signed with
// it. Never a production identity provider.
#ifndef TETHER_CLI_DEV_COMMAND_H_
#define TETHER_CLI_DEV_COMMAND_H_

#include <CLI/App.hpp>
#include <functional>

namespace tether::cli {

void AddDevCommands(CLI::App& app, std::function<int()>& run);

}  // namespace tether::cli

#endif  // TETHER_CLI_DEV_COMMAND_H_
