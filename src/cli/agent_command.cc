#include "cli/agent_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/client.h"
#include "core/canonical_json.h"
#include "core/crypto.h"
#include "core/entity_ids.h"
#include "core/files.h"
#include "core/json.h"
#include "core/text.h"
#include "hooks/tool_calls.h"
#include "net/http_client.h"

extern char** environ;

namespace tether::cli {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using hooks::Agent;
using hooks::GitPush;
using hooks::JsonString;
using hooks::MapToolCall;
using hooks::ToolCall;
using hooks::UrlHost;

// `text` split at `sep`, without empty pieces.
std::vector<std::string> SplitList(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool WriteFileAtomic(const std::string& path, std::string_view contents,
                     mode_t mode) {
  if (!WriteFileAtomically(path, contents)) return false;
  return ::chmod(path.c_str(), mode) == 0;
}

// At most `limit` bytes of standard input; false if there is more.
bool ReadStdin(std::size_t limit, std::string& out) {
  out.clear();
  char buf[65536];
  while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(std::cin.gcount()));
    if (out.size() > limit) return false;
  }
  return true;
}

std::string SelfPath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "tether" : p.string();
}

std::string HomeDir() {
  std::string h = Env("HOME");
  return h.empty() ? "/root" : h;
}

// Single-quotes `s` for a POSIX shell.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// "tid" from a task token's claims (read, not verified: the server does).
std::string TaskIdFromToken(const std::string& token) {
  std::size_t a = token.find('.');
  std::size_t b = a == std::string::npos ? a : token.find('.', a + 1);
  if (b == std::string::npos) return "";
  auto claims = Base64UrlDecode(token.substr(a + 1, b - a - 1));
  if (!claims) return "";
  auto j = ParseJson(*claims);
  if (!j || !j->is_object()) return "";
  const json::value* tid = j->get_object().if_contains("tid");
  return tid && tid->is_string() ? std::string(tid->get_string()) : "";
}

// ---------------------------------------------------------------------------
// tether run

struct RunFlags {
  Connection conn;
  std::string repo, ticket, intent, environment, audience = "tether";
  std::vector<std::string> labels, keep_env, scrub_env;
  std::int64_t ttl = 0, lease = 60;
  bool quiet = false;
  std::vector<std::string> command;
};

// Standing credentials an agent must not inherit: exact names, prefixes and
// suffixes (TETHER_TASK_TOKEN and friends are set afterwards).
bool IsStandingCredential(const std::string& name) {
  static const std::set<std::string, std::less<>> kExact = {
      "GITHUB_TOKEN",
      "GH_TOKEN",
      "GH_ENTERPRISE_TOKEN",
      "GITHUB_ENTERPRISE_TOKEN",
      "GITLAB_TOKEN",
      "GL_TOKEN",
      "CI_JOB_TOKEN",
      "NPM_TOKEN",
      "NODE_AUTH_TOKEN",
      "YARN_NPM_AUTH_TOKEN",
      "PYPI_TOKEN",
      "TWINE_PASSWORD",
      "TWINE_USERNAME",
      "CARGO_REGISTRY_TOKEN",
      "GEM_HOST_API_KEY",
      "DOCKER_PASSWORD",
      "DOCKER_AUTH_CONFIG",
      "ANTHROPIC_API_KEY",
      "ANTHROPIC_AUTH_TOKEN",
      "OPENAI_API_KEY",
      "CLAUDE_CODE_OAUTH_TOKEN",
      "HF_TOKEN",
      "HUGGING_FACE_HUB_TOKEN",
      "GOOGLE_APPLICATION_CREDENTIALS",
      "GOOGLE_API_KEY",
      "CLOUDSDK_AUTH_ACCESS_TOKEN",
      "AZURE_CLIENT_SECRET",
      "AZURE_CLIENT_CERTIFICATE_PATH",
      "ARM_CLIENT_SECRET",
      "VAULT_TOKEN",
      "CONSUL_HTTP_TOKEN",
      "NOMAD_TOKEN",
      "DIGITALOCEAN_TOKEN",
      "CLOUDFLARE_API_TOKEN",
      "HEROKU_API_KEY",
      "SLACK_TOKEN",
      "SLACK_BOT_TOKEN",
      "SENTRY_AUTH_TOKEN",
      "SNYK_TOKEN",
      "SSH_AUTH_SOCK",
      "GIT_ASKPASS",
      "SSH_ASKPASS",
      "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
      "ACTIONS_ID_TOKEN_REQUEST_URL",
      "ACTIONS_RUNTIME_TOKEN",
      "TETHER_TOKEN",
      "TETHER_IDENTITY_TOKEN",
      "TETHER_TASK_TOKEN",
      "KUBECONFIG"};
  static const char* kPrefixes[] = {"AWS_", "AZURE_CLIENT_", "ARM_"};
  static const char* kSuffixes[] = {
      "_TOKEN",      "_SECRET",     "_PASSWORD",    "_API_KEY",
      "_ACCESS_KEY", "_SECRET_KEY", "_PRIVATE_KEY", "_CREDENTIALS"};
  // Settings, not credentials.
  static const std::set<std::string, std::less<>> kNotSecret = {
      "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_PROFILE",
      "AWS_CONFIG_FILE"};
  if (kNotSecret.count(name)) return false;
  if (kExact.count(name)) return true;
  for (const char* p : kPrefixes) {
    if (name.rfind(p, 0) == 0) return true;
  }
  for (const char* s : kSuffixes) {
    std::size_t n = std::strlen(s);
    if (name.size() > n && name.compare(name.size() - n, n, s) == 0)
      return true;
  }
  return false;
}

// Files a process running as this user could read credentials from.
void WarnAboutCredentialFiles() {
  std::string home = HomeDir();
  std::vector<std::string> found;
  for (const char* rel :
       {"/.git-credentials", "/.netrc", "/.aws/credentials",
        "/.config/gh/hosts.yml", "/.docker/config.json", "/.pypirc",
        "/.config/gcloud/credentials.db", "/.kube/config"}) {
    std::string p = home + rel;
    if (::access(p.c_str(), R_OK) == 0) found.push_back(p);
  }
  if (auto npmrc = ReadFile(home + "/.npmrc", 1 << 20)) {
    if (npmrc->find("_auth") != std::string::npos) {
      found.push_back(home + "/.npmrc");
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(home + "/.ssh", ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("id_", 0) == 0 && e.path().extension() != ".pub" &&
        ::access(e.path().c_str(), R_OK) == 0) {
      found.push_back(e.path().string());
    }
  }
  for (const std::string& f : found) {
    std::fprintf(stderr,
                 "tether run: warning: %s holds credentials the agent can "
                 "read (tether cannot take these away: move them, or run the "
                 "agent as another user)\n",
                 f.c_str());
  }
}

// "owner/name" from the origin remote of the working directory's repo.
std::string RepoFromGit() {
  FILE* p = ::popen("git remote get-url origin 2>/dev/null", "r");
  if (!p) return "";
  char buf[1024];
  std::string url;
  while (std::fgets(buf, sizeof buf, p)) url += buf;
  ::pclose(p);
  url = Trim(url);
  // https://host/owner/name(.git), ssh://git@host/owner/name, git@host:o/n
  std::string path;
  if (std::size_t s = url.find("://"); s != std::string::npos) {
    std::size_t slash = url.find('/', s + 3);
    if (slash != std::string::npos) path = url.substr(slash + 1);
  } else if (std::size_t c = url.find(':'); c != std::string::npos) {
    path = url.substr(c + 1);
  }
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0)
    path.resize(path.size() - 4);
  while (!path.empty() && path.back() == '/') path.pop_back();
  auto c = CanonicalRepo(path);
  return c ? *c : "";
}

// The token that starts the task: a workload identity (a file or env var,
// or GitHub Actions' id-token endpoint), else an admin operator token.
Result<std::string> StartingToken(const RunFlags& f) {
  auto id = TokenFrom(f.conn.identity_token_file, "TETHER_IDENTITY_TOKEN");
  if (!id) return id.error();
  if (!id->empty()) return id;
  std::string url = Env("ACTIONS_ID_TOKEN_REQUEST_URL");
  std::string bearer = Env("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
  if (!url.empty() && !bearer.empty()) {
    net::HttpClientRequest req;
    req.method = "GET";
    req.url = url + (url.find('?') == std::string::npos ? "?" : "&") +
              "audience=" + PercentEncode(f.audience);
    req.headers.emplace_back("Authorization", "Bearer " + bearer);
    req.headers.emplace_back("Accept", "application/json");
    req.timeout = std::chrono::seconds(30);
    auto res = net::HttpFetch(req);
    if (!res) {
      return MakeError("identity", "GitHub Actions' id-token request: " +
                                       res.error().message);
    }
    auto j = ParseJson(res->body);
    const json::value* v =
        j && j->is_object() ? j->get_object().if_contains("value") : nullptr;
    if (res->status != 200 || !v || !v->is_string()) {
      return MakeError("identity",
                       "GitHub Actions' id-token request answered http " +
                           std::to_string(res->status));
    }
    return std::string(v->get_string());
  }
  auto op = TokenFrom(f.conn.token_file, "TETHER_TOKEN");
  if (!op) return op.error();
  if (op->empty()) {
    return MakeError(
        "no_token",
        "tether run needs an identity: a workload identity token "
        "(TETHER_IDENTITY_TOKEN or --identity-token-file), GitHub Actions' "
        "id-token permission, or an admin token (TETHER_TOKEN)");
  }
  return op;
}

std::string ErrorText(const Answer& a) {
  if (a.body.is_object()) {
    const json::value* e = a.body.get_object().if_contains("error");
    if (e && e->is_object()) {
      const json::value* m = e->get_object().if_contains("message");
      if (m && m->is_string()) return std::string(m->get_string());
    }
  }
  return "http " + std::to_string(a.status);
}

// The child's environment, as NAME=VALUE strings.
class ChildEnv {
 public:
  ChildEnv() {
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      std::size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      vars_.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  std::string Get(const std::string& name) const {
    for (const auto& [k, v] : vars_) {
      if (k == name) return v;
    }
    return "";
  }
  void Set(const std::string& name, const std::string& value) {
    for (auto& [k, v] : vars_) {
      if (k == name) {
        v = value;
        return;
      }
    }
    vars_.emplace_back(name, value);
  }
  // Removes what `drop` says; returns the names removed.
  template <typename Pred>
  std::vector<std::string> RemoveIf(Pred drop) {
    std::vector<std::string> gone;
    std::vector<std::pair<std::string, std::string>> kept;
    for (auto& kv : vars_) {
      if (drop(kv.first)) {
        gone.push_back(kv.first);
      } else {
        kept.push_back(std::move(kv));
      }
    }
    vars_ = std::move(kept);
    return gone;
  }
  std::vector<std::string> Strings() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : vars_) out.push_back(k + "=" + v);
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

// The system's CA bundle then tether's CA: clients that take one bundle
// still verify hosts reached through blind tunnels or directly.
std::string CaBundle(const std::string& tether_ca) {
  std::string bundle;
  for (const std::string& p :
       {Env("SSL_CERT_FILE"), std::string("/etc/ssl/certs/ca-certificates.crt"),
        std::string("/etc/pki/tls/certs/ca-bundle.crt")}) {
    if (p.empty()) continue;
    if (auto text = ReadFile(p, 16 << 20)) {
      bundle = *text;
      break;
    }
  }
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  return bundle + tether_ca;
}

int RunCommand(RunFlags& f) {
  if (f.command.empty()) return Fail("tether run: give a command after --");
  Connection conn = f.conn;
  std::string repo = f.repo.empty() ? RepoFromGit() : f.repo;
  if (repo.empty()) {
    return Fail(
        "tether run: --repo is needed (no origin remote to take it from)");
  }
  auto starter = StartingToken(f);
  if (!starter) return Fail(starter.error().message);
  // A lease cannot outlast the task.
  std::int64_t lease = f.ttl > 0 ? std::min(f.lease, f.ttl) : f.lease;
  json::object b{{"repo", repo}, {"lease_seconds", lease}};
  if (!f.ticket.empty()) b["ticket"] = json::object{{"id", f.ticket}};
  if (!f.environment.empty()) b["environment"] = f.environment;
  if (!f.intent.empty()) b["intent"] = f.intent;
  if (!f.labels.empty()) {
    json::array labels;
    for (const auto& l : f.labels) labels.emplace_back(l);
    b["labels"] = std::move(labels);
  }
  if (f.ttl) b["ttl_seconds"] = f.ttl;
  json::value body = b;
  auto started = Fetch(conn, *starter, "POST", "/v1/tasks", &body);
  if (!started) return Fail("tether run: " + started.error().message);
  if (started->status != 201 && started->status != 200) {
    return Fail("tether run: the task was not started: " + ErrorText(*started));
  }
  std::string token, task_id;
  if (const json::object* reply = started->body.if_object()) {
    token = hooks::JsonString(*reply, "token");
    if (const json::value* t = reply->if_contains("task"); t && t->is_object())
      task_id = hooks::JsonString(t->get_object(), "id");
  }
  if (token.empty() || !IsTaskId(task_id)) {
    return Fail("tether run: the server's answer names no task and token");
  }

  // Everything after this point ends the task on the way out.
  auto end_task = [&](const std::string& why) {
    json::value reason = json::object{{"reason", why}};
    Connection c = conn;
    c.timeout_ms = 10'000;
    auto r = Fetch(c, token, "POST", "/v1/tasks/" + task_id + "/end", &reason);
    if (!r || (r->status != 200 && r->status != 409)) {
      std::fprintf(stderr,
                   "tether run: could not end task %s (%s); its lease ends it "
                   "within %lld s\n",
                   task_id.c_str(),
                   r ? ErrorText(*r).c_str() : r.error().message.c_str(),
                   static_cast<long long>(lease));
    }
  };
  auto proxy = Fetch(conn, token, "GET", "/v1/proxy", nullptr);
  if (!proxy || proxy->status != 200 || !proxy->body.is_object()) {
    end_task("tether run could not reach the proxy");
    return Fail("tether run: the server does not run the proxy (" +
                (proxy ? ErrorText(*proxy) : proxy.error().message) + ")");
  }
  const json::object& pinfo = proxy->body.get_object();
  std::string proxy_url = hooks::JsonString(pinfo, "url");
  std::string ca_pem = hooks::JsonString(pinfo, "ca_pem");
  std::vector<std::string> hosts;
  if (const json::value* hv = pinfo.if_contains("hosts");
      hv && hv->is_array()) {
    for (const json::value& h : hv->get_array()) {
      if (h.is_string()) hosts.emplace_back(h.get_string());
    }
  }
  if (proxy_url.empty() || ca_pem.empty()) {
    end_task("the server's proxy answer was incomplete");
    return Fail("tether run: the server's proxy answer lacks url or ca_pem");
  }

  // A private directory for the CA files.
  std::string tmpl =
      (Env("TMPDIR").empty() ? "/tmp" : Env("TMPDIR")) + "/tether-run-XXXXXX";
  std::vector<char> dir_buf(tmpl.begin(), tmpl.end());
  dir_buf.push_back('\0');
  if (!::mkdtemp(dir_buf.data())) {
    end_task("tether run could not create its directory");
    return Fail("tether run: mkdtemp: " + std::string(std::strerror(errno)));
  }
  std::string dir(dir_buf.data());
  std::string ca_file = dir + "/tether-ca.pem";
  std::string bundle_file = dir + "/ca-bundle.pem";
  if (!WriteFileAtomic(ca_file, ca_pem, 0644) ||
      !WriteFileAtomic(bundle_file, CaBundle(ca_pem), 0644)) {
    end_task("tether run could not write its CA files");
    return Fail("tether run: cannot write " + dir);
  }

  ChildEnv env;
  std::set<std::string, std::less<>> keep(f.keep_env.begin(), f.keep_env.end());
  std::set<std::string, std::less<>> scrub(f.scrub_env.begin(),
                                           f.scrub_env.end());
  for (const std::string& extra : SplitList(Env("TETHER_RUN_SCRUB_ENV"), ',')) {
    scrub.insert(extra);
  }
  for (const std::string& extra : SplitList(Env("TETHER_RUN_KEEP_ENV"), ',')) {
    keep.insert(extra);
  }
  keep.erase("TETHER_TOKEN");  // never: it is an admin's
  std::vector<std::string> removed = env.RemoveIf([&](const std::string& n) {
    if (n == "TETHER_TOKEN" || n == "TETHER_IDENTITY_TOKEN") return true;
    if (keep.count(n)) return false;
    return scrub.count(n) > 0 || IsStandingCredential(n);
  });
  // The proxy, with the task token as its password.
  auto pu = net::ParseHttpUrl(proxy_url);
  if (!pu) {
    end_task("the proxy URL is not valid");
    return Fail("tether run: the proxy URL " + proxy_url + " is not valid");
  }
  std::string with_token = std::string(pu->tls ? "https://" : "http://") +
                           "task:" + token + "@" + pu->host + ":" + pu->port;
  for (const char* n :
       {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}) {
    env.Set(n, with_token);
  }
  env.RemoveIf([](const std::string& n) {
    return n == "ALL_PROXY" || n == "all_proxy";
  });
  // Only tether itself bypasses the proxy; nothing the routes name may.
  std::string server = ServerUrl(conn);
  std::vector<std::string> no_proxy;
  if (std::string h = UrlHost(server); !h.empty()) no_proxy.push_back(h);
  std::set<std::string> routed(hosts.begin(), hosts.end());
  for (const char* n : {"NO_PROXY", "no_proxy"}) {
    for (std::string entry : SplitList(env.Get(n), ',')) {
      entry = Trim(entry);
      std::string bare = AsciiLower(entry);
      while (!bare.empty() && bare.front() == '.') bare.erase(0, 1);
      bool names_routed = false;
      for (const std::string& h : routed) {
        if (bare == "*" || h == bare ||
            (h.size() > bare.size() &&
             h.compare(h.size() - bare.size(), bare.size(), bare) == 0 &&
             h[h.size() - bare.size() - 1] == '.')) {
          names_routed = true;
        }
      }
      if (names_routed) {
        std::fprintf(stderr,
                     "tether run: NO_PROXY entry `%s` would bypass tether for "
                     "a routed host: dropped\n",
                     entry.c_str());
        continue;
      }
      if (!entry.empty() && std::find(no_proxy.begin(), no_proxy.end(),
                                      entry) == no_proxy.end()) {
        no_proxy.push_back(entry);
      }
    }
  }
  std::string np;
  for (const std::string& e : no_proxy) np += (np.empty() ? "" : ",") + e;
  env.Set("NO_PROXY", np);
  env.Set("no_proxy", np);
  // tether's CA for every common client.
  env.Set("SSL_CERT_FILE", bundle_file);
  env.Set("CURL_CA_BUNDLE", bundle_file);
  env.Set("REQUESTS_CA_BUNDLE", bundle_file);
  env.Set("GIT_SSL_CAINFO", bundle_file);
  env.Set("NODE_EXTRA_CA_CERTS", ca_file);
  for (const char* n : {"NIX_SSL_CERT_FILE", "HTTPLIB2_CA_CERTS",
                        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
                        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "PIP_CERT",
                        "AWS_CA_BUNDLE", "CODEX_CA_CERTIFICATE", "DENO_CERT"}) {
    if (!env.Get(n).empty()) env.Set(n, bundle_file);
  }
  // git: no inherited credential helper, then ours; ssh remotes of routed
  // hosts over https (through the proxy).
  std::vector<std::pair<std::string, std::string>> git;
  git.emplace_back("credential.helper", "");
  git.emplace_back("credential.helper",
                   "!" + ShellQuote(SelfPath()) + " git-credential");
  for (const std::string& h : hosts) {
    git.emplace_back("url.https://" + h + "/.insteadOf", "git@" + h + ":");
    git.emplace_back("url.https://" + h + "/.insteadOf",
                     "ssh://git@" + h + "/");
  }
  int count = 0;
  if (std::string c = env.Get("GIT_CONFIG_COUNT"); !c.empty()) {
    try {
      count = std::stoi(c);
    } catch (const std::exception&) {
      count = 0;
    }
  }
  for (const auto& [k, v] : git) {
    env.Set("GIT_CONFIG_KEY_" + std::to_string(count), k);
    env.Set("GIT_CONFIG_VALUE_" + std::to_string(count), v);
    ++count;
  }
  env.Set("GIT_CONFIG_COUNT", std::to_string(count));
  // For hooks and the credential helper.
  env.Set("TETHER_URL", server);
  env.Set("TETHER_TASK_ID", task_id);
  env.Set("TETHER_TASK_TOKEN", token);
  env.Set("TETHER_PROXY_URL", proxy_url);
  std::string host_list;
  for (const std::string& h : hosts)
    host_list += (host_list.empty() ? "" : ",") + h;
  env.Set("TETHER_PROXY_HOSTS", host_list);
  if (std::string ca =
          !conn.ca_file.empty() ? conn.ca_file : Env("TETHER_CA_FILE");
      !ca.empty()) {
    env.Set("TETHER_CA_FILE", ca);
  }

  if (!f.quiet) {
    std::fprintf(stderr, "tether run: task %s on %s; proxy %s\n",
                 task_id.c_str(), repo.c_str(), proxy_url.c_str());
    std::string names;
    for (const std::string& n : removed)
      names += (names.empty() ? "" : ", ") + n;
    if (!names.empty()) {
      std::fprintf(stderr,
                   "tether run: removed from the command's environment: %s\n",
                   names.c_str());
    }
  }
  WarnAboutCredentialFiles();
  std::fflush(stderr);

  // Signals: the ones meant for this process go on to the command;
  // the terminal's reach it directly (same process group).
  sigset_t forwarded, old_mask;
  sigemptyset(&forwarded);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD,
                SIGWINCH}) {
    sigaddset(&forwarded, s);
  }
  ::sigprocmask(SIG_BLOCK, &forwarded, &old_mask);
  std::vector<std::string> env_strings = env.Strings();
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (std::string& a : f.command) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = ::fork();
  if (child < 0) {
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    end_task("tether run could not start the command");
    fs::remove_all(dir);
    return Fail("tether run: fork: " + std::string(std::strerror(errno)));
  }
  if (child == 0) {
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    ::environ = envp.data();
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "tether run: %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  using clock = std::chrono::steady_clock;
  auto every = std::chrono::seconds(std::max<std::int64_t>(1, lease / 3));
  auto next_beat = clock::now() + every;
  int status = 0;
  bool done = false;
  bool killed_for_task = false;
  while (!done) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_beat - clock::now());
    if (wait.count() < 0) wait = std::chrono::milliseconds(0);
    timespec ts{static_cast<time_t>(wait.count() / 1000),
                static_cast<long>((wait.count() % 1000) * 1'000'000)};
    siginfo_t info{};
    int sig = ::sigtimedwait(&forwarded, &info, &ts);
    if (sig == SIGCHLD || sig < 0) {
      pid_t r = ::waitpid(child, &status, WNOHANG);
      if (r == child) {
        done = true;
        break;
      }
    } else if (sig > 0) {
      // From the terminal (the kernel) the command got it too.
      if (info.si_code == SI_USER || info.si_code == SI_QUEUE ||
          sig == SIGTERM || sig == SIGHUP) {
        ::kill(child, sig);
      }
    }
    if (clock::now() >= next_beat) {
      Connection c = conn;
      c.timeout_ms = 10'000;
      auto beat = Fetch(c, token, "POST", "/v1/tasks/" + task_id + "/heartbeat",
                        nullptr);
      if (beat && beat->status >= 400 && beat->status < 500 &&
          beat->status != 429 && !killed_for_task) {
        std::fprintf(stderr,
                     "tether run: task %s is no longer active (%s): stopping "
                     "the command\n",
                     task_id.c_str(), ErrorText(*beat).c_str());
        ::kill(child, SIGTERM);
        killed_for_task = true;
      }
      next_beat = clock::now() + every;
    }
  }
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  int rc = WIFEXITED(status)     ? WEXITSTATUS(status)
           : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                 : 1;
  end_task(WIFSIGNALED(status)
               ? "the command ended by signal " +
                     std::to_string(WTERMSIG(status))
               : "the command exited with status " + std::to_string(rc));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!f.quiet) {
    std::fprintf(stderr, "tether run: task %s ended (command status %d)\n",
                 task_id.c_str(), rc);
  }
  return rc;
}

// ---------------------------------------------------------------------------
// tether git-credential

// key=value lines until a blank line or EOF (git-credential(1)).
std::vector<std::pair<std::string, std::string>> ReadCredentialRequest() {
  std::vector<std::pair<std::string, std::string>> out;
  std::string text;
  ReadStdin(64 * 1024, text);  // more than that is not a credential request
  std::istringstream lines(text.substr(0, 64 * 1024));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return out;
}

int GitCredential(const std::string& op, bool block) {
  auto req = ReadCredentialRequest();
  // store and erase: nothing is ever kept, so there is nothing to do.
  if (op != "get") return 0;
  std::string protocol, host;
  for (const auto& [k, v] : req) {
    if (k == "protocol") protocol = AsciiLower(v);
    if (k == "host") host = AsciiLower(v);
  }
  std::string token = Env("TETHER_TASK_TOKEN");
  std::string bare = host;
  if (!bare.empty() && bare.front() == '[') {
    bare = bare.substr(1, bare.find(']') - 1);
  } else if (std::size_t c = bare.rfind(':'); c != std::string::npos) {
    bare = bare.substr(0, c);
  }
  bool ours = false;
  // tether's proxy itself (git asks for proxy credentials the same way).
  if (auto pu = net::ParseHttpUrl(Env("TETHER_PROXY_URL"))) {
    std::string proxy_host = AsciiLower(pu->host);
    if (host == proxy_host + ":" + pu->port ||
        (bare == proxy_host && host.find(':') == std::string::npos)) {
      ours = true;
    }
  }
  // Routed hosts, over https only.
  if (protocol == "https") {
    for (const std::string& h : SplitList(Env("TETHER_PROXY_HOSTS"), ',')) {
      if (AsciiLower(Trim(h)) == bare) ours = true;
    }
  }
  if (ours && !token.empty()) {
    std::printf("username=tether-task\npassword=%s\n", token.c_str());
    return 0;
  }
  if (block || Env("TETHER_GIT_CREDENTIAL_BLOCK") == "1") {
    std::printf("quit=1\n");
  }
  return 0;
}

// ---------------------------------------------------------------------------
// tether hook claude-code | codex

struct HookFlags {
  bool install = false;
  std::string project, settings, codex_home;
  std::string mode;  // "", interactive, non-interactive
  int timeout_seconds = 30;
};

struct Verdict {
  std::string decision;  // allow | deny | approval_required
  std::string reason;
  std::string approval_url;
  bool failed = false;  // tether could not be asked or did not answer
};

Verdict Ask(const Connection& conn, const std::string& token,
            const ToolCall& call, const HookFlags& f) {
  // One decision per pushed ref (each is its own request), else one.
  std::vector<json::object> contexts;
  bool pushes_ref = false;
  for (const GitPush& p : call.pushes) {
    for (const std::string& r : p.refs) {
      json::object c = call.context;
      c["ref"] = r;
      contexts.push_back(std::move(c));
      pushes_ref = true;
    }
  }
  if (!pushes_ref) contexts.push_back(call.context);
  Connection c = conn;
  // One deadline for all of the call's decisions: the agent waits for the
  // hook no longer than its own timeout.
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::seconds(f.timeout_seconds);
  for (const json::object& ctx : contexts) {
    c.timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       deadline - std::chrono::steady_clock::now())
                       .count();
    if (c.timeout_ms <= 0) {
      return {"deny", "tether did not answer in time", "", true};
    }
    json::value body = json::object{
        {"action", "tool.call"},
        {"resource", json::object{{"type", "Tool"}, {"id", call.tool}}},
        {"context", ctx},
        {"via", "hook"}};
    auto a = Fetch(c, token, "POST", "/v1/authorize", &body);
    if (!a) {
      return {"deny", "tether could not be asked: " + a.error().message, "",
              true};
    }
    if (a->status != 200 || !a->body.is_object()) {
      return {"deny", "tether refused the request: " + ErrorText(*a), "", true};
    }
    const json::object& d = a->body.get_object();
    std::string decision = JsonString(d, "decision");
    if (decision == "allow") continue;
    Verdict v{decision == "approval_required" ? decision : "deny", "", ""};
    const json::value* rs = d.if_contains("reasons");
    v.reason = rs && rs->is_array() && !rs->as_array().empty() &&
                       rs->as_array().back().is_string()
                   ? std::string(rs->as_array().back().as_string())
                   : "denied by policy";
    if (const json::value* ap = d.if_contains("approval");
        ap && ap->is_object()) {
      v.approval_url = JsonString(ap->get_object(), "console_url");
    }
    if (ctx.contains("ref")) {
      v.reason = std::string(ctx.at("ref").as_string()) + ": " + v.reason;
    }
    return v;
  }
  return {"allow", "", ""};
}

// Prints the agent's decision JSON. Claude Code and Codex both read
// hookSpecificOutput; Codex runs anything but a deny (and takes "allow"
// as a failed hook), so for Codex an allow prints nothing.
void PrintPreToolUse(Agent agent, const std::string& event, const Verdict& v,
                     bool interactive) {
  std::string text =
      v.decision == "allow" ? "tether: allowed"
      : v.decision == "approval_required"
          ? "tether: approval required" +
                (v.approval_url.empty() ? "" : ": " + v.approval_url)
          : "tether: " + v.reason;
  if (event == "PermissionRequest") {
    json::object decision{
        {"behavior", v.decision == "allow" ? "allow" : "deny"}};
    if (v.decision != "allow") decision["message"] = text;
    std::printf(
        "%s\n",
        SerializeJson(json::object{{"hookSpecificOutput",
                                    json::object{{"hookEventName", event},
                                                 {"decision", decision}}}})
            .c_str());
    return;
  }
  std::string d = v.decision;
  if (agent == Agent::kCodex) {
    if (d == "allow") return;  // nothing: the call runs
    d = "deny";                // never ask: Codex would run it
  } else if (d == "approval_required") {
    d = interactive ? "ask" : "defer";
  }
  json::object out{{"hookEventName", "PreToolUse"},
                   {"permissionDecision", d},
                   {"permissionDecisionReason", text}};
  std::printf("%s\n",
              SerializeJson(json::object{{"hookSpecificOutput", out}}).c_str());
}

// Fails closed: an explicit deny on stdout, the reason on stderr, exit 2
// (which both agents also read as "block").
int HookFailure(Agent agent, const std::string& event, const std::string& why) {
  Verdict v{"deny", why, ""};
  PrintPreToolUse(agent, event.empty() ? "PreToolUse" : event, v, false);
  std::fflush(stdout);
  std::fprintf(stderr, "tether: %s\n", why.c_str());
  return 2;
}

int RunHook(Agent agent, const HookFlags& f, const Connection& conn) {
  std::string input;
  if (!ReadStdin(8 * 1024 * 1024, input)) {
    return HookFailure(agent, "", "the hook input is larger than 8 MiB");
  }
  JsonLimits limits;
  limits.max_bytes = 8 * 1024 * 1024;
  auto parsed = ParseJson(input, limits);
  if (!parsed || !parsed->is_object()) {
    return HookFailure(agent, "", "the hook input is not a JSON object");
  }
  const json::object& in = parsed->get_object();
  std::string event = JsonString(in, "hook_event_name");
  auto token = TokenFrom(conn.task_token_file, "TETHER_TASK_TOKEN");
  bool post = event == "PostToolUse" || event == "PostToolUseFailure";
  if (!token || token->empty()) {
    if (post) return 0;  // the tool ran already; nothing to decide
    return HookFailure(agent, event,
                       "no task token (TETHER_TASK_TOKEN): run the agent "
                       "under `tether run`");
  }
  if (post) {
    std::string tid = Env("TETHER_TASK_ID");
    if (tid.empty()) tid = TaskIdFromToken(*token);
    if (!IsTaskId(tid)) {
      std::fprintf(stderr, "tether: no task id to record the result under\n");
      return 0;
    }
    json::object report{{"tool", JsonString(in, "tool_name")},
                        {"ok", event == "PostToolUse"}};
    if (std::string s = JsonString(in, "tool_use_id"); !s.empty())
      report["tool_use_id"] = s;
    if (std::string s = JsonString(in, "session_id"); !s.empty())
      report["session"] = s;
    report["agent"] = agent == Agent::kClaude ? "claude-code" : "codex";
    const json::value* resp = in.if_contains("tool_response");
    if (!resp) resp = in.if_contains("error");
    if (resp) {
      std::string output = resp->is_string() ? std::string(resp->get_string())
                                             : SerializeJson(*resp);
      // The server keeps a hash, the size and the first 2 KiB; the rest
      // need not cross (and would pass the API's body limit).
      constexpr std::size_t kSent = 64 * 1024;
      if (output.size() > kSent) {
        report["output_bytes"] = output.size();
        output.resize(kSent);
      }
      report["output"] = std::move(output);
    }
    json::value body = report;
    Connection c = conn;
    c.timeout_ms = 10'000;
    auto r = Fetch(c, *token, "POST", "/v1/tasks/" + tid + "/events", &body);
    if (!r || r->status != 201) {
      std::fprintf(stderr, "tether: the tool result was not recorded: %s\n",
                   r ? ErrorText(*r).c_str() : r.error().message.c_str());
    }
    return 0;
  }
  if (event != "PreToolUse" && event != "PermissionRequest") {
    return HookFailure(agent, event,
                       "tether handles PreToolUse, PermissionRequest and "
                       "PostToolUse, not `" +
                           event + "`");
  }
  auto call = MapToolCall(in, agent);
  if (!call) return HookFailure(agent, event, call.error().message);
  Verdict v = Ask(conn, *token, *call, f);
  if (v.failed) return HookFailure(agent, event, v.reason);
  bool interactive = f.mode == "interactive" ||
                     (f.mode.empty() && Env("CLAUDE_CODE_ENTRYPOINT") == "cli");
  PrintPreToolUse(agent, event, v, interactive);
  if (v.decision == "approval_required") {
    std::fprintf(stderr, "tether: approval required%s%s; once approved, %s\n",
                 v.approval_url.empty() ? "" : ": ", v.approval_url.c_str(),
                 agent == Agent::kClaude && !interactive
                     ? "resume the run (claude -p --resume <session>)"
                     : "ask the agent to try again");
  }
  return 0;
}

// --- installing the hooks ---------------------------------------------------

Result<json::object> ReadJsonObject(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return json::object{};
  auto text = ReadFile(path, 16 << 20);
  if (!text) return MakeError("io_error", path + ": " + text.error().message);
  if (Trim(*text).empty()) return json::object{};
  auto j = ParseJson(*text);
  if (!j) return MakeError("invalid_json", path + ": " + j.error().message);
  if (!j->is_object())
    return MakeError("invalid_json", path + ": not an object");
  return j->get_object();
}

// Adds {matcher?, hooks: [{type: command, command, ...}]} under
// hooks.<event> unless a group already runs `command`; returns the group's
// and the handler's index.
std::pair<std::size_t, std::size_t> AddHookGroup(json::object& root,
                                                 const std::string& event,
                                                 const std::string& matcher,
                                                 json::object handler) {
  json::value& hooks = root["hooks"];
  if (!hooks.is_object()) hooks = json::object{};
  json::value& list = hooks.get_object()[event];
  if (!list.is_array()) list = json::array{};
  json::array& groups = list.get_array();
  std::string command(handler.at("command").as_string());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!groups[i].is_object()) continue;
    const json::value* hs = groups[i].get_object().if_contains("hooks");
    if (!hs || !hs->is_array()) continue;
    const json::array& handlers = hs->get_array();
    for (std::size_t k = 0; k < handlers.size(); ++k) {
      if (handlers[k].is_object() &&
          JsonString(handlers[k].get_object(), "command") == command)
        return {i, k};
    }
  }
  json::object group;
  if (!matcher.empty()) group["matcher"] = matcher;
  group["hooks"] = json::array{std::move(handler)};
  groups.emplace_back(std::move(group));
  return {groups.size() - 1, 0};
}

int InstallClaude(const HookFlags& f) {
  std::string path = !f.settings.empty() ? f.settings
                     : !f.project.empty()
                         ? f.project + "/.claude/settings.json"
                         : HomeDir() + "/.claude/settings.json";
  auto root = ReadJsonObject(path);
  if (!root) return Fail(root.error().message);
  std::string command = ShellQuote(SelfPath()) + " hook claude-code";
  for (const char* event :
       {"PreToolUse", "PostToolUse", "PostToolUseFailure"}) {
    json::object handler{{"type", "command"},
                         {"command", command},
                         {"timeout", f.timeout_seconds + 30}};
    // A hook that crashes or times out blocks the call.
    if (std::string(event) == "PreToolUse") handler["onFailure"] = "block";
    AddHookGroup(*root, event, "*", std::move(handler));
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (!WriteFileAtomic(path, SerializeJson(*root) + "\n", 0644)) {
    return Fail("cannot write " + path);
  }
  std::printf(
      "tether: Claude Code hooks (PreToolUse, PostToolUse, "
      "PostToolUseFailure) in %s\n",
      path.c_str());
  return 0;
}

// Codex runs hooks from a user file only once trusted: the trust entry is
// sha256 of the canonical JSON of the hook's normalized identity.
std::string CodexTrustHash(const std::string& event, const std::string& command,
                           int timeout) {
  json::value id =
      json::object{{"event_name", event},
                   {"hooks", json::array{json::object{{"type", "command"},
                                                      {"command", command},
                                                      {"timeout", timeout},
                                                      {"async", false}}}}};
  std::string canonical;
  AppendCanonicalJson(canonical, id);
  return "sha256:" + HexEncode(Sha256(canonical));
}

int InstallCodex(const HookFlags& f) {
  std::string home = !f.codex_home.empty()        ? f.codex_home
                     : !Env("CODEX_HOME").empty() ? Env("CODEX_HOME")
                                                  : HomeDir() + "/.codex";
  std::error_code ec;
  fs::create_directories(home, ec);
  home = fs::weakly_canonical(home, ec).string();
  std::string hooks_path = home + "/hooks.json";
  auto root = ReadJsonObject(hooks_path);
  if (!root) return Fail(root.error().message);
  std::string command = ShellQuote(SelfPath()) + " hook codex";
  int timeout = f.timeout_seconds + 30;
  std::string trust;
  for (const auto& [event, key] :
       {std::pair<const char*, const char*>{"PreToolUse", "pre_tool_use"},
        {"PostToolUse", "post_tool_use"}}) {
    auto [group, handler] = AddHookGroup(
        *root, event, "",
        json::object{
            {"type", "command"}, {"command", command}, {"timeout", timeout}});
    std::string state_key = hooks_path + ":" + key + ":" +
                            std::to_string(group) + ":" +
                            std::to_string(handler);
    trust += "\n[hooks.state.\"" + state_key + "\"]\ntrusted_hash = \"" +
             CodexTrustHash(key, command, timeout) + "\"\n";
  }
  if (!WriteFileAtomic(hooks_path, SerializeJson(*root) + "\n", 0644)) {
    return Fail("cannot write " + hooks_path);
  }
  std::string config_path = home + "/config.toml";
  std::string config;
  if (auto text = ReadFile(config_path, 16 << 20)) config = *text;
  if (config.find(hooks_path + ":pre_tool_use:") == std::string::npos) {
    if (!config.empty() && config.back() != '\n') config += '\n';
    config +=
        "\n# tether's hooks (tether hook codex --install): trusted\n" + trust;
    if (!WriteFileAtomic(config_path, config, 0600)) {
      return Fail("cannot write " + config_path);
    }
  }
  std::printf(
      "tether: Codex hooks (PreToolUse, PostToolUse) in %s, trusted "
      "in %s\n",
      hooks_path.c_str(), config_path.c_str());
  return 0;
}

}  // namespace

void AddAgentCommands(CLI::App& app, std::function<int()>& run) {
  // tether run
  auto rf = std::make_shared<RunFlags>();
  CLI::App* r = app.add_subcommand(
      "run",
      "run an agent under a new task: its traffic through tether's proxy, no "
      "standing credentials, the task ended when it exits");
  AddConnectionOptions(r, rf->conn);
  r->add_option("--repo", rf->repo,
                "owner/name (default: the origin remote of the working "
                "directory)");
  r->add_option("--ticket", rf->ticket, "ticket id, e.g. OPS-42");
  r->add_option("--intent", rf->intent, "what the task is for");
  r->add_option("--env", rf->environment, "environment, e.g. dev, prod");
  r->add_option("--ttl", rf->ttl, "seconds (default and cap: the server's)");
  r->add_option("--lease", rf->lease,
                "seconds: the server ends the task if this runner stops "
                "sending heartbeats (default 60)")
      ->check(CLI::Range(5, 86400));
  r->add_option("--label", rf->labels, "a label (repeatable)");
  r->add_option("--keep-env", rf->keep_env,
                "keep this variable although it looks like a credential "
                "(repeatable; also $TETHER_RUN_KEEP_ENV, comma-separated)");
  r->add_option("--scrub-env", rf->scrub_env,
                "also remove this variable (repeatable; also "
                "$TETHER_RUN_SCRUB_ENV)");
  r->add_option("--audience", rf->audience,
                "audience of the GitHub Actions id token (default tether)");
  r->add_flag("--quiet", rf->quiet, "say nothing but warnings");
  r->add_option("command", rf->command, "the command and its arguments")
      ->required();
  r->positionals_at_end();
  r->callback([&run, rf] { run = [rf] { return RunCommand(*rf); }; });

  // tether git-credential
  auto op = std::make_shared<std::string>();
  auto block = std::make_shared<bool>(false);
  CLI::App* gc = app.add_subcommand(
      "git-credential",
      "git credential helper: the task token for tether's proxy and routed "
      "hosts; never stores anything");
  gc->add_option("operation", *op, "get, store or erase")
      ->required()
      ->check(CLI::IsMember({"get", "store", "erase"}));
  gc->add_flag("--block", *block,
               "answer quit=1 for other hosts, so git asks nobody else "
               "(also TETHER_GIT_CREDENTIAL_BLOCK=1)");
  gc->callback([&run, op, block] {
    run = [op, block] { return GitCredential(*op, *block); };
  });

  // tether hook claude-code | codex
  CLI::App* hook = app.add_subcommand(
      "hook", "agent hook adapters: ask tether before each tool call");
  hook->require_subcommand(1);
  auto conn = std::make_shared<Connection>();
  for (Agent agent : {Agent::kClaude, Agent::kCodex}) {
    auto hf = std::make_shared<HookFlags>();
    bool claude = agent == Agent::kClaude;
    CLI::App* h = hook->add_subcommand(
        claude ? "claude-code" : "codex",
        claude ? "Claude Code's PreToolUse / PostToolUse hook (JSON on stdin)"
               : "Codex's PreToolUse / PermissionRequest / PostToolUse hook");
    AddConnectionOptions(h, *conn);
    h->add_flag("--install", hf->install,
                claude ? "write the hooks into Claude Code's settings"
                       : "write the hooks into $CODEX_HOME/hooks.json and "
                         "trust them in config.toml");
    if (claude) {
      h->add_option("--project", hf->project,
                    "with --install: this project's .claude/settings.json "
                    "(default ~/.claude/settings.json)");
      h->add_option("--settings", hf->settings,
                    "with --install: this settings file");
      h->add_option("--mode", hf->mode,
                    "interactive (approval → ask) or non-interactive "
                    "(approval → defer); default from "
                    "CLAUDE_CODE_ENTRYPOINT")
          ->check(CLI::IsMember({"interactive", "non-interactive"}));
    } else {
      h->add_option("--codex-home", hf->codex_home,
                    "with --install: Codex's home (default $CODEX_HOME or "
                    "~/.codex)");
    }
    h->add_option("--timeout", hf->timeout_seconds,
                  "seconds to wait for tether's answer (default 30)")
        ->check(CLI::Range(1, 3600));
    h->callback([&run, hf, conn, agent] {
      run = [hf, conn, agent] {
        if (hf->install) {
          return agent == Agent::kClaude ? InstallClaude(*hf)
                                         : InstallCodex(*hf);
        }
        try {
          return RunHook(agent, *hf, *conn);
        } catch (const std::exception& e) {
          return HookFailure(agent, "", e.what());
        }
      };
    });
  }
}

}  // namespace tether::cli
