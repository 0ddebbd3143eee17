// The enforcement proxy (docs/proxy.md): every call an agent makes to a
// routed host is mapped to an action, decided by the broker, forwarded with
// the real credential injected only after an allow whose audit event is
// durable, and recorded.
//
// Three ways in, one listener ([proxy] listen, default 127.0.0.1:8701):
//   - forward proxy, HTTP absolute-form: `GET http://host/path`;
//   - forward proxy, CONNECT host:port: to a routed host the TLS is
//     terminated with a leaf from tether's CA (InterceptCa) and each inner
//     request is decided and forwarded over verified TLS; to any other host
//     the tunnel is `http.connect` on Host::"name" (default deny);
//   - reverse proxy: `/u/<upstream>/<path>` to a configured base URL.
// The agent's task token comes in Proxy-Authorization (Bearer, or Basic
// with the token as the password) or, inside a tunnel or through the
// reverse proxy, in Authorization; it is never forwarded.
//
// A connection is served by one thread with blocking I/O, each read and
// write bounded in time (TimedSocket); connections are bounded ([proxy]
// max_connections). Bodies that are decided on are read whole, up to
// [proxy] max_body_bytes; a git push is decided on its ref updates and its
// pack streams; answers stream back with injected credentials masked.
// Destinations that resolve to
// loopback, private, link-local or metadata addresses are refused unless
// the host is in [proxy] allow_private_hosts; the checked address is the
// one dialed. Beast is compiled in proxy_server.cc only.
#ifndef TETHER_PROXY_PROXY_SERVER_H_
#define TETHER_PROXY_PROXY_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "core/config.h"
#include "core/result.h"
#include "proxy/intercept_ca.h"
#include "proxy/routes.h"

namespace tether::proxy {

class ProxyServer {
 public:
  // Binds (code "listen_failed"), loads the route files (code
  // "invalid_routes", also for an action the catalog lacks) and the CA,
  // and starts serving. `broker` must outlive the server.
  static Result<std::unique_ptr<ProxyServer>> Start(const Config& config,
                                                    broker::Broker& broker);
  ~ProxyServer();  // Shutdown
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  std::uint16_t port() const;
  const InterceptCa& ca() const;
  // The hosts the route files name (their traffic is decided per request).
  std::vector<std::string> hosts() const;
  // Stops accepting and closes every connection.
  void Shutdown();

  struct Impl;

 private:
  explicit ProxyServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_PROXY_SERVER_H_
