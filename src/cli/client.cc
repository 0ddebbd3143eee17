#include "cli/client.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/files.h"
#include "core/json.h"
#include "net/http_client.h"

namespace tether::cli {

namespace json = boost::json;

int Fail(const std::string& message) {
  std::fprintf(stderr, "tether: %s\n", message.c_str());
  return 1;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' ||
                        s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  std::size_t start = s.find_first_not_of(" \t\r\n");
  return start == std::string::npos ? "" : s.substr(start);
}

// The token from its file flag, else its environment variable.
Result<std::string> TokenFrom(const std::string& file, const char* env) {
  if (!file.empty()) {
    auto text = ReadFile(file, 64 * 1024);
    if (!text) return MakeError("io_error", file + ": " + text.error().message);
    return Trim(std::move(*text));
  }
  return Trim(Env(env));
}

Result<std::string> Credential(const Connection& c, As as) {
  switch (as) {
    case As::kOperator: {
      auto t = TokenFrom(c.token_file, "TETHER_TOKEN");
      if (t && t->empty()) {
        return MakeError("no_token",
                         "an operator token is needed: set TETHER_TOKEN or "
                         "pass --token-file");
      }
      return t;
    }
    case As::kTask: {
      auto t = TokenFrom(c.task_token_file, "TETHER_TASK_TOKEN");
      if (t && t->empty()) {
        return MakeError("no_token",
                         "a task token is needed: set TETHER_TASK_TOKEN or "
                         "pass --task-token-file");
      }
      return t;
    }
    case As::kIdentity: {
      auto t = TokenFrom(c.identity_token_file, "TETHER_IDENTITY_TOKEN");
      if (t && !t->empty()) return t;
      // An operator (admin) may start tasks too.
      auto op = TokenFrom(c.token_file, "TETHER_TOKEN");
      if (op && op->empty()) {
        return MakeError("no_token",
                         "a workload identity token (TETHER_IDENTITY_TOKEN, "
                         "--identity-token-file) or an admin token "
                         "(TETHER_TOKEN) is needed");
      }
      return op;
    }
    case As::kAnyOperatorOrTask: {
      auto op = TokenFrom(c.token_file, "TETHER_TOKEN");
      if (op && !op->empty()) return op;
      auto t = TokenFrom(c.task_token_file, "TETHER_TASK_TOKEN");
      if (t && t->empty()) {
        return MakeError("no_token",
                         "an operator token (TETHER_TOKEN) or a task token "
                         "(TETHER_TASK_TOKEN) is needed");
      }
      return t;
    }
  }
  return MakeError("no_token", "no credential");
}

std::string ServerUrl(const Connection& c) {
  std::string s = !c.server.empty() ? c.server : Env("TETHER_URL");
  if (s.empty()) s = "http://127.0.0.1:8700";
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

Result<Answer> Fetch(const Connection& c, const std::string& token,
                     const std::string& method, const std::string& path,
                     const json::value* body) {
  net::HttpClientRequest req;
  req.method = method;
  req.url = ServerUrl(c) + path;
  req.ca_file = !c.ca_file.empty() ? c.ca_file : Env("TETHER_CA_FILE");
  req.headers.emplace_back("Authorization", "Bearer " + token);
  req.headers.emplace_back("Accept", "application/json");
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = SerializeJson(*body);
  }
  req.timeout = std::chrono::milliseconds(c.timeout_ms);
  req.max_response_bytes = 64 * 1024 * 1024;
  auto res = net::HttpFetch(req);
  if (!res) return res.error();
  Answer a;
  a.status = res->status;
  if (auto j = ParseJson(res->body)) a.body = std::move(*j);
  return a;
}

int Call(const Connection& c, As as, const std::string& method,
         const std::string& path, const json::value* body, json::value* out,
         bool print) {
  auto token = Credential(c, as);
  if (!token) return Fail(token.error().message);
  auto res = Fetch(c, *token, method, path, body);
  if (!res) return Fail(res.error().message);
  const json::value& j = res->body;
  if (res->status < 200 || res->status > 299) {
    if (j.is_object() && j.get_object().contains("error")) {
      const json::value& e = j.get_object().at("error");
      std::string code, message;
      if (e.is_object()) {
        if (auto* v = e.get_object().if_contains("code"); v && v->is_string())
          code = std::string(v->get_string());
        if (auto* v = e.get_object().if_contains("message");
            v && v->is_string())
          message = std::string(v->get_string());
      }
      std::fprintf(stderr, "tether: %s (http %d): %s\n", code.c_str(),
                   res->status, message.c_str());
      // A denied task start still carries its decision.
      if (j.get_object().contains("decision")) {
        std::printf("%s\n",
                    SerializeJson(j.get_object().at("decision")).c_str());
      }
      return 1;
    }
    return Fail("the server answered http " + std::to_string(res->status));
  }
  if (j.is_null()) return Fail("the server's answer is not JSON");
  if (print) std::printf("%s\n", SerializeJson(j).c_str());
  if (out) *out = j;
  return 0;
}

void AddConnectionOptions(CLI::App* cmd, Connection& c) {
  cmd->add_option("--server", c.server,
                  "tether's URL (default $TETHER_URL or "
                  "http://127.0.0.1:8700)");
  cmd->add_option("--ca-file", c.ca_file,
                  "CA bundle to verify an https server ($TETHER_CA_FILE)");
  cmd->add_option("--token-file", c.token_file,
                  "operator token file (default $TETHER_TOKEN)");
  cmd->add_option("--task-token-file", c.task_token_file,
                  "task token file (default $TETHER_TASK_TOKEN)");
  cmd->add_option("--identity-token-file", c.identity_token_file,
                  "workload identity JWT file (default "
                  "$TETHER_IDENTITY_TOKEN)");
}

}  // namespace tether::cli
