// A real git server for integration tests: `git http-backend` behind nginx
// and fcgiwrap, over HTTPS on 127.0.0.1 with a test CA, requiring a Basic
// password that only tether holds (a secret bound to the host). It serves
// acme/api.git, a bare repository with one commit on main that accepts
// pushes. Stops both servers and removes its directory when done.
#ifndef TETHER_TESTS_INTEGRATION_GIT_SERVER_H_
#define TETHER_TESTS_INTEGRATION_GIT_SERVER_H_

#include <sys/types.h>

#include <string>

#include "tests/integration/tether_server.h"

namespace tether::testing {

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();

class GitServer {
 public:
  static constexpr const char* kPassword =
      "upstream-git-password-tether-only-7f3a";

  // Picks the directory and port; nothing runs until Start.
  GitServer();
  ~GitServer();
  GitServer(const GitServer&) = delete;
  GitServer& operator=(const GitServer&) = delete;

  // Makes the CA and certificate, the repository and the password file,
  // starts fcgiwrap and nginx and waits until nginx accepts connections.
  // False, with `error` set, if any of that fails.
  bool Start(std::string* error);
  void Stop();

  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  // The test CA that signed the server's certificate.
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  // https://127.0.0.1:<port>/<repo>.git
  std::string RepoUrl(const std::string& repo = "acme/api") const;
  // The bare repository on disk.
  std::string RepoPath(const std::string& repo = "acme/api") const;
  // The commit `ref` points at in the bare repository (with its newline),
  // or "" if it does not exist.
  std::string Ref(const std::string& ref,
                  const std::string& repo = "acme/api") const;

  // A [proxy] section for TetherServer's `extra`: routes for git's smart
  // HTTP on 127.0.0.1, the test CA for upstreams, then `more` (lines).
  std::string ProxyConfig(const std::string& more = "") const;
  // Stores the password as tether's secret `git`, bound to 127.0.0.1.
  Reply StoreSecret(const TetherServer& server) const;

 private:
  std::string dir_;
  int port_;
  pid_t fcgiwrap_ = -1;
  pid_t nginx_ = -1;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_INTEGRATION_GIT_SERVER_H_
