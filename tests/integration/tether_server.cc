#include "tests/integration/tether_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "broker/keyring.h"
#include "core/json.h"
#include "token/jwt.h"

namespace tether::testing {
namespace json = boost::json;

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* made = ::mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string();
}

std::string CopyExamplePolicies(const std::string& dir) {
  std::string to = dir + "/policies";
  std::filesystem::create_directories(to);
  for (const auto& e : std::filesystem::directory_iterator(
           std::string(TETHER_SOURCE_DIR) + "/examples/policies")) {
    if (e.path().extension() == ".cedar") {
      std::filesystem::copy_file(e.path(), to / e.path().filename());
    }
  }
  return to;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string Reply::error_code() const { return Field("/error/code"); }

std::string Reply::Field(const std::string& pointer) const {
  boost::system::error_code ec;
  const json::value* v = json.find_pointer(pointer, ec);
  if (!v || ec) return "";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

TetherServer::TetherServer(std::string server_extra, std::string extra,
                           std::string policies_dir) {
  dir_ = MakeTempDir("tether-it");
  issuer_key_.emplace(*Ed25519Key::Generate());
  kid_ = broker::Ed25519Thumbprint(issuer_key_->PublicKey());
  token::KeySet set;
  (void)set.Add(*token::Ed25519VerifyKey(kid_, issuer_key_->PublicKey()));
  WriteText(dir_ + "/issuer-jwks.json", set.ToJwks());
  std::string src = TETHER_SOURCE_DIR;
  if (policies_dir.empty()) policies_dir = src + "/examples/policies";
  std::ostringstream c;
  c << "[server]\n"
    << "listen = \"127.0.0.1:0\"\n"
    << "policies = \"" << policies_dir << "\"\n"
    << "worker_threads = 8\n"
    << server_extra << "\n"
    << "[store]\ndata_dir = \"" << dir_ << "/data\"\n"
    << "[actions]\ncatalog = \"" << src << "/examples/actions.json\"\n"
    << "[resources]\nentities = \"" << src << "/examples/resources.json\"\n"
    << (extra.find("[proxy]") == std::string::npos
            ? "[proxy]\nlisten = \"127.0.0.1:0\"\nroutes = [\"" + src +
                  "/examples/routes\"]\n"
            : std::string())
    << "[[identity.oidc]]\n"
    << "name = \"test\"\n"
    << "issuer = \"" << kIssuer << "\"\n"
    << "audience = \"" << kAudience << "\"\n"
    << "jwks_file = \"" << dir_ << "/issuer-jwks.json\"\n"
    << "repo_claim = \"repository\"\n"
    << "attributes = { repository = \"repository\", ref = \"ref\" }\n"
    << extra << "\n";
  WriteText(config_path(), c.str());
}

TetherServer::~TetherServer() {
  if (pid_ > 0) Kill();
  std::error_code ec;
  if (std::getenv("TETHER_KEEP_TEST_DIRS") == nullptr) {
    std::filesystem::remove_all(dir_, ec);
  }
}

bool TetherServer::Start(const std::vector<std::string>& extra_args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return false;
  std::vector<std::string> args = {TETHER_BIN,           "server",
                                   "--config",           config_path(),
                                   "--admin-token-file", dir_ + "/admin.token"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    int err = ::open((dir_ + "/server.err").c_str(),
                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(err, 2);
    ::chdir(dir_.c_str());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool ok = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // exited
    text.append(buf, static_cast<std::size_t>(n));
    std::size_t at = text.find("listening on ");
    if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
      std::size_t start = at + 13;
      url_ = text.substr(start, text.find('\n', at) - start);
      ok = true;
      break;
    }
  }
  ::close(out[0]);
  // The proxy's line comes in the same write as the server's.
  if (std::size_t p = text.find("tether proxy: listening on http://");
      p != std::string::npos) {
    std::size_t start = p + std::string("tether proxy: listening on ").size();
    std::size_t end = text.find_first_of(" \n", start);
    proxy_url_ = text.substr(start, end - start);
  }
  startup_output_ = text + stderr_text();
  if (!ok) {
    Kill();
    return false;
  }
  if (admin_token_.empty()) {
    std::ifstream in(dir_ + "/admin.token");
    std::getline(in, admin_token_);
  }
  return true;
}

std::string TetherServer::stderr_text() const {
  std::ifstream in(dir_ + "/server.err");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int TetherServer::Signal(int sig) { return pid_ > 0 ? ::kill(pid_, sig) : -1; }

void TetherServer::Wait() {
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_ = -1;
}

void TetherServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  Wait();
}

void TetherServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Wait();
}

std::string TetherServer::IdentityToken(
    const std::string& sub,
    const std::map<std::string, std::string>& claims) const {
  std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  json::object c{{"iss", kIssuer},
                 {"aud", kAudience},
                 {"sub", sub},
                 {"iat", now},
                 {"exp", now + 600}};
  for (const auto& [k, v] : claims) c[k] = v;
  return *token::SignJwt(c, *issuer_key_, kid_, "JWT");
}

Reply TetherServer::Call(const std::string& method, const std::string& path,
                         const std::string& token, const std::string& body,
                         const std::string& content_type) const {
  net::HttpClientRequest req;
  req.method = method;
  req.url = url_ + path;
  req.ca_file = ca_file;
  req.client_cert = client_cert;
  req.client_key = client_key;
  if (!token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty() || method == "POST") {
    if (!content_type.empty())
      req.headers.emplace_back("Content-Type", content_type);
    req.body = body;
  }
  req.timeout = std::chrono::milliseconds(30'000);
  Reply r;
  auto res = net::HttpFetch(req);
  if (!res) {
    r.body = res.error().message;
    return r;
  }
  r.status = res->status;
  r.body = res->body;
  r.headers = res->headers;
  auto j = ParseJson(res->body);
  if (j) r.json = std::move(*j);
  return r;
}

Reply TetherServer::CallJson(const std::string& method, const std::string& path,
                             const std::string& token,
                             const json::value& body) const {
  return Call(method, path, token, json::serialize(body));
}

std::pair<std::string, std::string> TetherServer::StartTask(
    const std::string& repo, const json::object& extra) const {
  json::object b = extra;
  b["repo"] = repo;
  std::string sub = "repo:" + repo + ":ref:refs/heads/main";
  Reply r =
      CallJson("POST", "/v1/tasks", IdentityToken(sub, {{"repository", repo}}),
               json::value(b));
  if (r.status != 201) return {};
  return {r.Field("/task/id"), r.Field("/token")};
}

std::string TetherServer::Decide(const std::string& task_token,
                                 const std::string& action,
                                 const std::string& type, const std::string& id,
                                 const json::object& context) const {
  json::object b{{"action", action},
                 {"resource", json::object{{"type", type}, {"id", id}}},
                 {"context", context}};
  Reply r = CallJson("POST", "/v1/authorize", task_token, json::value(b));
  if (r.status != 200) return "";
  return r.Field("/decision");
}

std::string TetherServer::OperatorToken(
    const std::string& name, const std::string& role,
    const std::vector<std::string>& groups) const {
  json::array g;
  for (const auto& x : groups) g.emplace_back(x);
  Reply r = CallJson(
      "POST", "/v1/admin/tokens", admin_token_,
      json::value(json::object{{"name", name}, {"role", role}, {"groups", g}}));
  return r.Field("/token");
}

}  // namespace tether::testing
