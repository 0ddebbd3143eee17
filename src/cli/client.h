// Calling tether's REST API from the CLI: where (--server / TETHER_URL), as
// whom (an operator, task or workload identity token from a file flag or
// the environment), and the call itself.
#ifndef TETHER_CLI_CLIENT_H_
#define TETHER_CLI_CLIENT_H_

#include <CLI/App.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

#include "core/result.h"

namespace tether::cli {

struct Connection {
  std::string server;
  std::string ca_file;
  std::string token_file;           // operator
  std::string task_token_file;      // task
  std::string identity_token_file;  // workload
  std::int64_t timeout_ms = 60'000;
};

enum class As { kOperator, kTask, kIdentity, kAnyOperatorOrTask };

// Prints "tether: <message>" to stderr; returns 1.
int Fail(const std::string& message);
std::string Env(const char* name);
std::string Trim(std::string s);

// The token from its file flag, else its environment variable.
Result<std::string> TokenFrom(const std::string& file, const char* env);
Result<std::string> Credential(const Connection& c, As as);
// --server, else $TETHER_URL, else http://127.0.0.1:8700; no trailing '/'.
std::string ServerUrl(const Connection& c);

struct Answer {
  int status = 0;
  boost::json::value body;  // null if the body was not JSON
};
// One call with `token` (not printed). Transport failures are errors.
Result<Answer> Fetch(const Connection& c, const std::string& token,
                     const std::string& method, const std::string& path,
                     const boost::json::value* body);

// Calls the server as `as`; prints the body of a 2xx answer (or the error)
// and returns the parsed body through `out`. 0 on 2xx, else 1.
int Call(const Connection& c, As as, const std::string& method,
         const std::string& path, const boost::json::value* body,
         boost::json::value* out = nullptr, bool print = true);

void AddConnectionOptions(CLI::App* cmd, Connection& c);

}  // namespace tether::cli

#endif  // TETHER_CLI_CLIENT_H_
