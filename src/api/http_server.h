// tether's HTTP/1.1 server on Boost.Beast: asynchronous, keep-alive, a few
// network threads and a pool of handler threads (a handler may wait for a
// durable audit write; many waiting handlers share one group commit).
//
// Hard limits on every connection: header bytes, body bytes and a deadline
// for each request (Beast's `header_limit`, `body_limit`, `expires_after`);
// a request over a limit is answered 413/431/408 with a JSON error and the
// connection closed. TLS, and mTLS with client certificates verified against
// `client_ca`, are OpenSSL through Asio. Beast is compiled in
// http_server.cc only.
#ifndef TETHER_API_HTTP_SERVER_H_
#define TETHER_API_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace tether::api {

struct HttpRequest {
  std::string method;  // upper case, as sent
  std::string target;  // origin-form: path and query
  std::string path;    // percent-decoding left to the router
  std::string query;
  std::string content_type;
  std::string authorization;
  std::string body;
  std::string remote;  // peer IP address
  bool loopback = false;
  bool tls = false;
  // The SPIFFE ID (URI SAN) of a client certificate that verified against
  // client_ca; empty otherwise.
  std::string peer_spiffe_id;
  std::string last_event_id;  // for server-sent events
  // For the console's cookie sessions and their CSRF checks.
  std::string host;    // the Host header
  std::string origin;  // the Origin header, if sent
  std::string cookie;
  std::string csrf_token;  // X-Tether-CSRF
};

// A response that stays open (server-sent events). After the head the
// server calls Poll() on a handler thread about every `interval`; what it
// returns is written to the client (nothing, when empty). The response ends
// when Poll() returns nullopt, the client goes away or the server stops.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual std::optional<std::string> Poll() = 0;
  std::chrono::milliseconds interval{500};
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is streamed (status and headers as above; the
  // connection closes when the stream ends).
  std::shared_ptr<HttpStream> stream;
};

// Called on a handler thread, where it may block; must not throw.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Called first, on the network thread, where it must not block: returns
// false to pass the request to the HttpHandler, or true after taking it, in
// which case it calls `respond` exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using InlineHandler =
    std::function<bool(const HttpRequest&, const Responder& respond)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::string port = "8700";  // "0": an ephemeral port
  int io_threads = 2;
  int worker_threads = 64;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 32 * 1024;
  std::chrono::milliseconds request_timeout{30'000};
  int max_connections = 4096;  // more are closed as they arrive
  std::string tls_cert;        // PEM chain and key: HTTPS
  std::string tls_key;
  std::string client_ca;  // verify client certificates against these
  bool require_client_cert = false;
};

class HttpServer {
 public:
  // Binds and listens (code "listen_failed", "invalid_config" for TLS
  // files); serving starts with Serve().
  static Result<std::unique_ptr<HttpServer>> Listen(HttpServerOptions options);
  ~HttpServer();  // Shutdown with no grace
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  bool tls() const;

  // Starts the network and handler threads. `fast` may be null.
  void Serve(HttpHandler handler, InlineHandler fast = nullptr);

  // Stops accepting, closes idle connections, lets requests in flight finish
  // for up to `grace`, then stops. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A JSON error body: {"error":{"code":...,"message":...}}.
HttpResponse JsonError(int status, std::string_view code,
                       std::string_view message);

}  // namespace tether::api

#endif  // TETHER_API_HTTP_SERVER_H_
