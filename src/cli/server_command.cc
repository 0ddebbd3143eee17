#include "cli/server_command.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "api/http_server.h"
#include "api/router.h"
#include "broker/broker.h"
#include "core/config.h"
#include "core/key_file.h"
#include "net/listen.h"
#include "proxy/proxy_server.h"

namespace tether::cli {
namespace {

struct ServerFlags {
  std::string config;
  std::string listen;
  std::string proxy_listen;
  std::string data_dir;
  std::string admin_token_file;
  bool insecure = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "tether server: %s\n", message.c_str());
  return 1;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int RunServer(const ServerFlags& flags) {
  // Dozens of handler threads would each get a malloc arena of their own;
  // two keep the heap compact with 100,000 tasks in memory, at no measured
  // cost in throughput.
  mallopt(M_ARENA_MAX, 2);
  // Signals are taken by a sigwait loop below; every thread inherits the
  // mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Config config;
  if (!flags.config.empty()) {
    auto c = LoadConfig(flags.config);
    if (!c) return Fail(c.error().message);
    config = std::move(*c);
  }
  if (!flags.listen.empty()) config.server.listen = flags.listen;
  if (!flags.proxy_listen.empty()) config.proxy.listen = flags.proxy_listen;
  if (!flags.data_dir.empty()) config.data_dir = flags.data_dir;
  std::string host, port;
  if (!net::SplitHostPort(config.server.listen, host, port)) {
    return Fail("listen address `" + config.server.listen +
                "` must be host:port");
  }
  bool tls = !config.server.tls_cert.empty();
  if (!IsLoopbackHost(host) && !tls && !flags.insecure) {
    return Fail("refusing to listen on " + config.server.listen +
                " without TLS: task and operator tokens would cross the "
                "network in clear text (configure server.tls_cert and "
                "tls_key, or pass --insecure)");
  }
  api::HttpServerOptions options;
  options.host = host;
  options.port = port;
  options.io_threads = config.server.io_threads;
  options.worker_threads = config.server.worker_threads;
  options.max_body_bytes = config.server.max_body_bytes;
  options.max_header_bytes = config.server.max_header_bytes;
  options.request_timeout =
      std::chrono::milliseconds(config.server.request_timeout_ms);
  options.max_connections = static_cast<int>(config.server.max_connections);
  options.tls_cert = config.server.tls_cert;
  options.tls_key = config.server.tls_key;
  options.client_ca = config.server.client_ca;
  options.require_client_cert = config.server.require_client_cert;
  auto server = api::HttpServer::Listen(options);
  if (!server) return Fail(server.error().message);
  std::string bound =
      host.find(':') != std::string::npos ? "[" + host + "]" : host;
  bound += ":" + std::to_string((*server)->port());
  broker::BrokerOptions bo;
  bo.url = config.server.url.empty()
               ? std::string(tls ? "https://" : "http://") + bound
               : config.server.url;
  while (!bo.url.empty() && bo.url.back() == '/') bo.url.pop_back();
  bo.config = config;
  auto broker = broker::Broker::Open(std::move(bo));
  if (!broker) return Fail(broker.error().message);
  if (!(*broker)->bootstrap_admin_token().empty()) {
    const std::string& token = (*broker)->bootstrap_admin_token();
    if (!flags.admin_token_file.empty()) {
      ::unlink(flags.admin_token_file.c_str());
      if (Status s = WriteKeyFile(flags.admin_token_file, token + "\n"); !s) {
        return Fail(s.error().message);
      }
      std::fprintf(stderr,
                   "tether server: created the admin operator token; it is "
                   "in %s (mode 0600) and will not be shown again\n",
                   flags.admin_token_file.c_str());
    } else {
      std::fprintf(stderr,
                   "tether server: created the admin operator token (shown "
                   "once, keep it safe):\n  %s\n",
                   token.c_str());
    }
  }
  std::unique_ptr<api::ConsoleOidc> oidc;
  if (!config.approvals.oidc.empty()) {
    auto made =
        api::ConsoleOidc::Create(config.approvals.oidc.front(),
                                 (*broker)->console_url() + "oidc/callback");
    if (!made) {
      std::fprintf(stderr, "tether server: %s\n", made.error().message.c_str());
      return 1;
    }
    oidc = std::move(*made);
  }
  api::Router router(**broker, config.server, config.approvals,
                     std::move(oidc));
  (*server)->Serve(
      [&router](const api::HttpRequest& r) { return router.Handle(r); },
      [&router](const api::HttpRequest& r, const api::Responder& respond) {
        return router.HandleInline(r, respond);
      });
  std::string listening = std::string(tls ? "https://" : "http://") + bound;
  std::unique_ptr<proxy::ProxyServer> proxy_server;
  if (config.proxy.enabled) {
    auto started = proxy::ProxyServer::Start(config, **broker);
    if (!started) {
      std::fprintf(stderr, "tether server: %s\n",
                   started.error().message.c_str());
      (*server)->Shutdown(std::chrono::seconds(1));
      return 1;
    }
    proxy_server = std::move(*started);
  }
  std::printf("tether server: listening on %s\n", listening.c_str());
  if (proxy_server) {
    std::string host =
        config.proxy.listen.substr(0, config.proxy.listen.rfind(':'));
    std::printf("tether proxy: listening on http://%s:%u (CA %s)\n",
                host.c_str(), proxy_server->port(),
                proxy_server->ca().cert_path().c_str());
    // What `tether run` reads from GET /v1/proxy.
    std::string reach = config.proxy.public_url;
    if (reach.empty()) {
      std::string h = host == "0.0.0.0" ? "127.0.0.1"
                      : host == "[::]"  ? "[::1]"
                                        : host;
      reach = "http://" + h + ":" + std::to_string(proxy_server->port());
    }
    boost::json::array hosts;
    for (const std::string& h : proxy_server->hosts()) hosts.emplace_back(h);
    (*broker)->SetProxyInfo(
        boost::json::object{{"url", reach},
                            {"ca_pem", proxy_server->ca().cert_pem()},
                            {"hosts", std::move(hosts)}});
  }
  if ((*broker)->url() != listening) {
    std::printf("tether server: public url %s\n", (*broker)->url().c_str());
  }
  std::fflush(stdout);

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto r = (*broker)->Reload("tether (SIGHUP)");
      if (r) {
        std::fprintf(stderr, "tether server: policies reloaded (%s)\n",
                     r->at("policy_set_sha256").as_string().c_str());
      } else {
        std::fprintf(stderr,
                     "tether server: reload refused, the old policies stay "
                     "in force:\n%s\n",
                     r.error().message.c_str());
      }
      continue;
    }
    std::fprintf(stderr, "tether server: shutting down\n");
    break;
  }
  // Requests waiting for an approval answer now (approval_required).
  (*broker)->StopWaiting();
  if (proxy_server) proxy_server->Shutdown();
  (*server)->Shutdown(std::chrono::seconds(10));
  server->reset();
  broker->reset();
  return 0;
}

}  // namespace

void AddServerCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* cmd = app.add_subcommand(
      "server", "run the broker: REST API, task tokens, decisions, audit");
  cmd->add_option("--config", flags->config, "tether.toml");
  cmd->add_option("--listen", flags->listen,
                  "host:port (default 127.0.0.1:8700; port 0 picks one)");
  cmd->add_option("--proxy-listen", flags->proxy_listen,
                  "the proxy's host:port (default 127.0.0.1:8701)");
  cmd->add_option("--data-dir", flags->data_dir,
                  "state, audit log and keys (default ./tether-data)");
  cmd->add_option("--admin-token-file", flags->admin_token_file,
                  "at first start, write the admin operator token here "
                  "(mode 0600) instead of printing it");
  cmd->add_flag("--insecure", flags->insecure,
                "allow a non-loopback listen address without TLS");
  cmd->callback([&run, flags] { run = [flags] { return RunServer(*flags); }; });
}

}  // namespace tether::cli
