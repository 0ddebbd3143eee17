#include "tests/integration/git_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/run_command.h"

namespace tether::testing {
namespace {

namespace json = boost::json;

bool Connects(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Starts `args` with stdout and stderr appended to `log`.
pid_t Spawn(std::vector<std::string> args, const std::string& log) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

void Terminate(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::waitpid(pid, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid = -1;
}

// Waits up to 10 s for `ready`.
template <typename F>
bool WaitUntil(F ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string Routes() {
  return R"({"hosts": ["127.0.0.1"], "routes": [
    {"method": "GET", "path": "/{owner}/{repo}/info/refs",
     "action": "git.fetch", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "POST", "path": "/{owner}/{repo}/git-upload-pack",
     "action": "git.fetch", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "POST", "path": "/{owner}/{repo}/git-receive-pack", "git": "receive-pack",
     "action": "git.push", "resource": {"type": "Repo", "id": "{owner}/{repo}"}},
    {"method": "*", "path": "/{rest*}",
     "action": "http.request", "resource": {"type": "Host", "id": "127.0.0.1"}}]})";
}

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

GitServer::GitServer() : dir_(MakeTempDir("tether-git")), port_(FreePort()) {}

GitServer::~GitServer() {
  Stop();
  std::error_code ec;
  if (std::getenv("TETHER_KEEP_TEST_DIRS") == nullptr) {
    std::filesystem::remove_all(dir_, ec);
  }
}

void GitServer::Stop() {
  Terminate(nginx_);
  Terminate(fcgiwrap_);
}

bool GitServer::Start(std::string* error) {
  namespace fs = std::filesystem;
  auto sh = [&](const std::string& cmd) {
    CommandResult r = RunCommand("(" + cmd + ")");
    if (r.status != 0) *error = cmd + "\n" + r.output;
    return r.status == 0;
  };
  fs::create_directories(dir_ + "/routes");
  WriteText(dir_ + "/routes/git.json", Routes());
  // A test CA and the server's certificate for 127.0.0.1.
  if (!sh("cd " + dir_ +
          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
          "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=git-test-ca "
          "&& openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
          "-nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 "
          "&& printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl "
          "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
          "-out server.pem -days 2 -extfile san.ext")) {
    return false;
  }
  // The repository, with one commit on main, accepting pushes.
  if (!sh("cd " + dir_ +
          " && mkdir -p repos/acme && git init -q --bare -b main "
          "repos/acme/api.git && git -C repos/acme/api.git config "
          "http.receivepack true && git init -q -b main seed && cd seed && "
          "git -c user.name=t -c user.email=t@t commit -q --allow-empty -m "
          "first && git push -q ../repos/acme/api.git main")) {
    return false;
  }
  CommandResult hash =
      RunCommand("openssl passwd -apr1 '" + std::string(kPassword) + "'");
  if (hash.status != 0) {
    *error = "openssl passwd: " + hash.output;
    return false;
  }
  WriteText(dir_ + "/htpasswd", "git:" + hash.output);
  std::string socket = dir_ + "/fcgi.sock";
  fcgiwrap_ = Spawn({"fcgiwrap", "-s", "unix:" + socket}, dir_ + "/fcgi.log");
  if (!WaitUntil([&] { return fs::exists(socket); })) {
    *error = "fcgiwrap did not start";
    return false;
  }
  fs::create_directories(dir_ + "/nginx/logs");
  std::ostringstream conf;
  conf << "user root;\nworker_processes 1;\ndaemon off;\npid " << dir_
       << "/nginx/nginx.pid;\nerror_log " << dir_
       << "/nginx/logs/error.log;\nevents { worker_connections 64; }\n"
       << "http {\n  access_log off;\n  client_body_temp_path " << dir_
       << "/nginx;\n  fastcgi_temp_path " << dir_
       << "/nginx;\n  server {\n    listen 127.0.0.1:" << port_
       << " ssl;\n    ssl_certificate " << dir_
       << "/server.pem;\n    ssl_certificate_key " << dir_
       << "/server.key;\n    client_max_body_size 0;\n"
       << "    location / {\n      auth_basic \"git\";\n"
       << "      auth_basic_user_file " << dir_ << "/htpasswd;\n"
       << "      include /etc/nginx/fastcgi_params;\n"
       << "      fastcgi_param SCRIPT_FILENAME "
          "/usr/lib/git-core/git-http-backend;\n"
       << "      fastcgi_param GIT_PROJECT_ROOT " << dir_ << "/repos;\n"
       << "      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
       << "      fastcgi_param REMOTE_USER $remote_user;\n"
       << "      fastcgi_param PATH_INFO $uri;\n"
       << "      fastcgi_pass unix:" << socket << ";\n"
       << "    }\n  }\n}\n";
  WriteText(dir_ + "/nginx/nginx.conf", conf.str());
  nginx_ =
      Spawn({"nginx", "-p", dir_ + "/nginx", "-c", dir_ + "/nginx/nginx.conf"},
            dir_ + "/nginx/logs/stderr.log");
  if (!WaitUntil([&] {
        return ::waitpid(nginx_, nullptr, WNOHANG) == 0 && Connects(port_);
      })) {
    *error = "nginx did not start";
    return false;
  }
  return true;
}

std::string GitServer::RepoUrl(const std::string& repo) const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/" + repo + ".git";
}

std::string GitServer::RepoPath(const std::string& repo) const {
  return dir_ + "/repos/" + repo + ".git";
}

std::string GitServer::Ref(const std::string& ref,
                           const std::string& repo) const {
  CommandResult r =
      RunCommand("git -C " + RepoPath(repo) + " rev-parse --verify -q " + ref);
  return r.status == 0 ? r.output : "";
}

std::string GitServer::ProxyConfig(const std::string& more) const {
  return "[proxy]\nlisten = \"127.0.0.1:0\"\nroutes = [\"" + dir_ +
         "/routes\"]\nallow_private_hosts = [\"127.0.0.1\"]\n"
         "upstream_ca_file = \"" +
         ca_file() + "\"\n" + more;
}

Reply GitServer::StoreSecret(const TetherServer& server) const {
  return server.CallJson(
      "PUT", "/v1/admin/secrets/git", server.admin_token(),
      json::value(json::object{
          {"value", kPassword},
          {"format", "basic"},
          {"user", "git"},
          {"bindings", json::array{json::object{{"host", "127.0.0.1"}}}}}));
}

}  // namespace tether::testing
