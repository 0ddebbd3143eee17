// Starts the real `tether server` binary for integration tests: on
// 127.0.0.1 with an ephemeral port, in its own temporary directory, with a
// local identity issuer whose tokens the test mints. Stops it (SIGTERM, or
// SIGKILL to test durability) and removes the directory when done.
#ifndef TETHER_TESTS_INTEGRATION_TETHER_SERVER_H_
#define TETHER_TESTS_INTEGRATION_TETHER_SERVER_H_

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/crypto.h"
#include "net/http_client.h"

namespace tether::testing {

struct Reply {
  int status = 0;
  std::string body;
  boost::json::value json;  // null unless the body is JSON
  std::vector<std::pair<std::string, std::string>> headers;
  // error.code of an error body, or "".
  std::string error_code() const;
  std::string Field(const std::string& pointer) const;
};

class TetherServer {
 public:
  static constexpr const char* kIssuer = "https://issuer.tether.test";
  static constexpr const char* kAudience = "tether";

  // Creates the directory, the issuer key and its JWKS, and a config whose
  // [server] section gets `server_extra` and that ends with `extra` (more
  // sections). Policies, catalogs and resources come from the source tree
  // unless `policies_dir` is given.
  explicit TetherServer(std::string server_extra = "", std::string extra = "",
                        std::string policies_dir = "");
  ~TetherServer();
  TetherServer(const TetherServer&) = delete;
  TetherServer& operator=(const TetherServer&) = delete;

  // Starts the server and waits for "listening on <url>"; false (with
  // `startup_output` set) if it exits or does not listen within 20 s.
  bool Start(const std::vector<std::string>& extra_args = {});
  void Stop();  // SIGTERM, wait
  void Kill();  // SIGKILL, wait
  bool running() const { return pid_ > 0; }
  int Signal(int sig);
  // The server's exit status after Stop/Kill (or a failed Start).
  int exit_status() const { return exit_status_; }

  const std::string& dir() const { return dir_; }
  const std::string& url() const { return url_; }
  // The enforcement proxy, http://127.0.0.1:<port> ("" if not running).
  const std::string& proxy_url() const { return proxy_url_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& startup_output() const { return startup_output_; }
  std::string config_path() const { return dir_ + "/tether.toml"; }
  std::string stderr_text() const;

  // A workload identity token from the test issuer: sub, repository and any
  // extra claims (strings).
  std::string IdentityToken(
      const std::string& sub = "repo:acme/api:ref:refs/heads/main",
      const std::map<std::string, std::string>& claims = {
          {"repository", "acme/api"}}) const;

  Reply Call(const std::string& method, const std::string& path,
             const std::string& token = "", const std::string& body = "",
             const std::string& content_type = "application/json") const;
  Reply CallJson(const std::string& method, const std::string& path,
                 const std::string& token,
                 const boost::json::value& body) const;

  // Starts a task as the default workload; returns {task id, task token}.
  std::pair<std::string, std::string> StartTask(
      const std::string& repo = "acme/api",
      const boost::json::object& extra = {}) const;
  // POST /v1/authorize with a task token; returns the decision ("" if the
  // call failed).
  std::string Decide(const std::string& task_token, const std::string& action,
                     const std::string& type, const std::string& id,
                     const boost::json::object& context = {}) const;
  // An operator token with `role` (created through the admin API).
  std::string OperatorToken(const std::string& name, const std::string& role,
                            const std::vector<std::string>& groups = {}) const;

  std::string ca_file;      // for an https server
  std::string client_cert;  // presented by Call (mTLS)
  std::string client_key;

 private:
  std::string dir_;
  std::string url_;
  std::string proxy_url_;
  std::string admin_token_;
  std::string startup_output_;
  std::optional<Ed25519Key> issuer_key_;
  std::string kid_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  void Wait();
};

// Copies examples/policies/*.cedar into <dir>/policies; returns that path.
std::string CopyExamplePolicies(const std::string& dir);

// A fresh directory under the temp dir, removed by the caller.
std::string MakeTempDir(const std::string& prefix);
void WriteText(const std::string& path, const std::string& text);

}  // namespace tether::testing

#endif  // TETHER_TESTS_INTEGRATION_TETHER_SERVER_H_
