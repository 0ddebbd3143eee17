#include "proxy/proxy_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "audit/setup.h"
#include "core/crypto.h"
#include "core/entity_ids.h"
#include "core/json.h"
#include "core/text.h"
#include "net/http_client.h"
#include "proxy/normalize.h"
#include "proxy/pktline.h"
#include "secrets/secret_store.h"

namespace tether::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct ProxyServer::Impl {
  Impl(const Config& c, broker::Broker& b) : config(c), broker(b) {}
  Config config;
  broker::Broker& broker;
  std::shared_ptr<const RouteTable> routes;
  std::unique_ptr<InterceptCa> ca;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle_cv;
  std::set<int> open_sockets;  // guarded by mu: closed on Shutdown
  int connections = 0;         // guarded by mu
  std::set<std::string, std::less<>> allow_private;
  std::map<std::string, std::string, std::less<>> upstreams;

  void AcceptLoop();
  void Serve(tcp::socket socket);
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A response with a JSON error body.
Response JsonError(unsigned version, http::status status, std::string_view code,
                   const std::string& message,
                   const json::object* extra = nullptr) {
  json::object err{{"code", code}, {"message", message}};
  if (extra) {
    for (const auto& [k, v] : *extra) err[k] = v;
  }
  Response r{status, version};
  r.set(http::field::content_type, "application/json");
  r.set(http::field::cache_control, "no-store");
  r.body() = SerializeJson(json::object{{"error", std::move(err)}}) + "\n";
  r.prepare_payload();
  return r;
}

void SetTimeouts(int fd, std::int64_t ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// The task token in an Authorization or Proxy-Authorization value: Bearer
// <token>, or Basic with the token as the password (git and many clients
// only do Basic).
std::string TokenFrom(std::string_view header) {
  auto starts = [&](std::string_view scheme) {
    return header.size() > scheme.size() &&
           AsciiLower(header.substr(0, scheme.size())) == scheme;
  };
  std::string token;
  if (starts("bearer ")) {
    token = std::string(header.substr(7));
  } else if (starts("basic ")) {
    std::string b64(header.substr(6));
    while (!b64.empty() && b64.back() == ' ') b64.pop_back();
    for (char& c : b64) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    auto decoded = Base64UrlDecode(b64);
    if (!decoded) return "";
    std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) return "";
    token = decoded->substr(colon + 1);
  }
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
  return token;
}

// Refuses what request smuggling needs: a body framed two ways, framing
// other than plain chunked, control characters in header values.
std::string SmugglingProblem(const Request& req) {
  bool has_cl = req.find(http::field::content_length) != req.end();
  auto te = req.find(http::field::transfer_encoding);
  if (te != req.end()) {
    if (has_cl) return "both Content-Length and Transfer-Encoding";
    if (AsciiLower(te->value()) != "chunked") {
      return "Transfer-Encoding other than chunked";
    }
  }
  int te_count = 0, cl_count = 0;
  for (const auto& f : req) {
    if (f.name() == http::field::transfer_encoding) ++te_count;
    if (f.name() == http::field::content_length) ++cl_count;
    for (char c : f.value()) {
      if (c == '\0' || c == '\r' || c == '\n')
        return "control characters in a header";
    }
  }
  if (te_count > 1) return "Transfer-Encoding given twice";
  if (cl_count > 1) return "Content-Length given twice";
  return "";
}

bool IsHopByHop(std::string_view name) {
  static const std::set<std::string, std::less<>> kHop = {
      "connection",        "keep-alive",
      "proxy-connection",  "te",
      "trailer",           "transfer-encoding",
      "upgrade",           "proxy-authorization",
      "proxy-authenticate"};
  return kHop.count(AsciiLower(name)) > 0;
}

// Loopback, private (RFC 1918, ULA), link-local (and so cloud metadata),
// CGNAT, unspecified and multicast destinations.
bool IsPrivate(const asio::ip::address& a) {
  if (a.is_loopback() || a.is_unspecified() || a.is_multicast()) return true;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
           (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] == 0;
  }
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return IsPrivate(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
  }
  auto b = v6.to_bytes();
  return v6.is_link_local() || v6.is_site_local() || (b[0] & 0xfe) == 0xfc;
}

struct Target {
  bool tls = false;
  std::string host;  // canonical
  std::string port;
  std::string path;   // normalized
  std::string query;  // normalized, without '?'
  std::string base;   // reverse upstreams: a path prefix to prepend
};

}  // namespace

// One client connection, served on its own thread.
class Session {
 public:
  Session(ProxyServer::Impl& server, tcp::socket socket)
      : s_(server), socket_(std::move(socket)) {
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }

  void Run();

 private:
  // Reads one request from `stream`; false on EOF or error (the reply, if
  // any, has been sent).
  template <typename Stream>
  bool ReadRequest(Stream& stream, beast::flat_buffer& buffer, Request& req);
  template <typename Stream>
  void HandleConnect(Stream& stream, beast::flat_buffer& buffer,
                     const Request& req);
  template <typename Stream>
  bool HandleInTunnel(Stream& stream, beast::flat_buffer& buffer,
                      const std::string& host, const std::string& port,
                      const std::string& tunnel_token);
  // Decides, injects, forwards and answers one request. `token` is the
  // caller's task token.
  Response Forward(Request& req, const Target& target, const std::string& token,
                   bool in_tunnel);
  Result<Response> SendUpstream(Request& req, const Target& target,
                                const std::string& address);
  Result<std::string> Resolve(const std::string& host, const std::string& port);
  Response Unauthorized(unsigned version, bool in_tunnel,
                        const std::string& why);

  ProxyServer::Impl& s_;
  tcp::socket socket_;
  std::string remote_;
};

template <typename Stream>
bool Session::ReadRequest(Stream& stream, beast::flat_buffer& buffer,
                          Request& req) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(
      static_cast<std::uint32_t>(s_.config.proxy.max_header_bytes));
  parser.body_limit(s_.config.proxy.max_body_bytes);
  beast::error_code ec;
  // Each read waits at most idle_timeout_ms (the socket's timeout); the
  // whole request, from its first byte, at most request_timeout_ms, so a
  // client trickling bytes cannot hold a thread and its buffers for ever.
  std::optional<std::chrono::steady_clock::time_point> first_byte;
  auto limit = std::chrono::milliseconds(s_.config.proxy.request_timeout_ms);
  // The bytes are read here and handed to the parser, so the deadline is
  // checked after every read (Beast's own read would wait for a whole
  // header first).
  while (!parser.is_done()) {
    if (buffer.size() > 0) {
      std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        break;
      } else if (used > 0) {
        continue;
      }
    }
    if (parser.is_done()) break;
    std::size_t n = stream.read_some(buffer.prepare(64 * 1024), ec);
    buffer.commit(n);
    if (ec == asio::error::eof) {
      ec = parser.got_some() ? beast::error_code(http::error::partial_message)
                             : beast::error_code(http::error::end_of_stream);
      break;
    }
    if (ec) break;
    auto now = std::chrono::steady_clock::now();
    if (!first_byte && n > 0) first_byte = now;
    if (first_byte && now - *first_byte > limit) {
      Response r =
          JsonError(11, http::status::request_timeout, "request_timeout",
                    "the request took too long to arrive");
      r.keep_alive(false);
      http::write(stream, r, ec);
      return false;
    }
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof) return false;
  if (ec) {
    if (!parser.got_some()) return false;
    http::status st = ec == http::error::body_limit
                          ? http::status::payload_too_large
                      : ec == http::error::header_limit
                          ? http::status::request_header_fields_too_large
                          : http::status::bad_request;
    Response r = JsonError(11, st, "bad_request",
                           "malformed or oversized request: " + ec.message());
    r.keep_alive(false);
    http::write(stream, r, ec);
    return false;
  }
  req = parser.release();
  return true;
}

Response Session::Unauthorized(unsigned version, bool in_tunnel,
                               const std::string& why) {
  if (in_tunnel) {
    Response r =
        JsonError(version, http::status::unauthorized, "unauthenticated", why);
    r.set(http::field::www_authenticate, "Basic realm=\"tether\"");
    return r;
  }
  Response r = JsonError(version, http::status::proxy_authentication_required,
                         "unauthenticated", why);
  r.set(http::field::proxy_authenticate, "Basic realm=\"tether\"");
  return r;
}

void Session::Run() {
  SetTimeouts(socket_.native_handle(), s_.config.proxy.idle_timeout_ms);
  beast::flat_buffer buffer;
  while (!s_.stopping.load()) {
    Request req;
    if (!ReadRequest(socket_, buffer, req)) return;
    beast::error_code ec;
    if (std::string why = SmugglingProblem(req); !why.empty()) {
      Response r = JsonError(req.version(), http::status::bad_request,
                             "bad_request", why);
      r.keep_alive(false);
      http::write(socket_, r, ec);
      return;
    }
    if (req.method() == http::verb::connect) {
      HandleConnect(socket_, buffer, req);
      return;  // a tunnel, or a refusal that closes the connection
    }
    std::string_view t = req.target();
    Target target;
    std::string token = TokenFrom(req[http::field::proxy_authorization]);
    if (t.rfind("http://", 0) == 0 || t.rfind("https://", 0) == 0) {
      auto url = net::ParseHttpUrl(t);
      if (!url) {
        Response r = JsonError(req.version(), http::status::bad_request,
                               "invalid_target", url.error().message);
        http::write(socket_, r, ec);
        continue;
      }
      target.tls = url->tls;
      target.host = url->host;
      target.port = url->port;
      // Host must name the same authority as the absolute-form target.
      std::string host_header(req[http::field::host]);
      std::string authority = url->host;
      if (!((url->tls && url->port == "443") ||
            (!url->tls && url->port == "80")))
        authority += ":" + url->port;
      if (!host_header.empty() &&
          AsciiLower(host_header) != AsciiLower(authority)) {
        Response r =
            JsonError(req.version(), http::status::bad_request, "bad_request",
                      "the Host header names another authority");
        r.keep_alive(false);
        http::write(socket_, r, ec);
        return;
      }
      req.target(url->target);
    } else if (t.rfind("/u/", 0) == 0) {
      // The reverse proxy: /u/<name>/<path>.
      std::size_t slash = t.find('/', 3);
      std::string name(t.substr(3, slash == std::string_view::npos
                                       ? std::string_view::npos
                                       : slash - 3));
      auto up = s_.upstreams.find(name);
      if (up == s_.upstreams.end()) {
        Response r = JsonError(req.version(), http::status::not_found,
                               "not_found", "no upstream `" + name + "`");
        http::write(socket_, r, ec);
        continue;
      }
      auto url = net::ParseHttpUrl(up->second);
      target.tls = url->tls;
      target.host = url->host;
      target.port = url->port;
      std::string base = url->target == "/" ? "" : url->target;
      while (!base.empty() && base.back() == '/') base.pop_back();
      target.base = base;
      req.target(slash == std::string_view::npos
                     ? std::string("/")
                     : std::string(t.substr(slash)));
      if (token.empty()) token = TokenFrom(req[http::field::authorization]);
    } else {
      Response r = JsonError(
          req.version(), http::status::bad_request, "bad_request",
          "send absolute-form requests, CONNECT, or /u/<upstream>/...");
      http::write(socket_, r, ec);
      continue;
    }
    if (token.empty()) {
      Response r =
          Unauthorized(req.version(), false,
                       "a task token is needed in Proxy-Authorization");
      http::write(socket_, r, ec);
      if (ec) return;
      continue;
    }
    bool keep = req.keep_alive();
    Response res = Forward(req, target, token, false);
    res.keep_alive(keep && res.keep_alive());
    http::write(socket_, res, ec);
    if (ec || !res.keep_alive()) return;
  }
}

template <typename Stream>
void Session::HandleConnect(Stream& stream, beast::flat_buffer& buffer,
                            const Request& req) {
  beast::error_code ec;
  std::string_view authority = req.target();
  std::size_t colon = authority.rfind(':');
  std::string host(authority.substr(0, colon));
  std::string port = colon == std::string_view::npos
                         ? "443"
                         : std::string(authority.substr(colon + 1));
  if (!host.empty() && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto canonical = CanonicalHost(host);
  if (!canonical || port.empty() ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    Response r = JsonError(req.version(), http::status::bad_request,
                           "invalid_target", "CONNECT takes host:port");
    r.keep_alive(false);
    http::write(stream, r, ec);
    return;
  }
  host = *canonical;
  // Clients such as git send their first CONNECT without credentials and
  // retry once told which scheme to use: 407 with Proxy-Authenticate.
  std::string token = TokenFrom(req[http::field::proxy_authorization]);
  if (token.empty()) {
    Response r = Unauthorized(req.version(), false,
                              "a task token is needed in Proxy-Authorization");
    r.keep_alive(false);
    http::write(stream, r, ec);
    return;
  }
  auto caller = s_.broker.AuthenticateTask(token, remote_);
  if (!caller) {
    Response r = Unauthorized(req.version(), false, caller.error().message);
    r.keep_alive(false);
    http::write(stream, r, ec);
    return;
  }
  bool routed = s_.routes->HasHost(host);
  if (!routed) {
    // A blind tunnel is a decision too: http.connect on the host.
    broker::EdgeRequest er;
    er.action = "http.connect";
    er.resource_type = "Host";
    er.resource_id = host;
    er.context = {{"host", host}, {"method", "CONNECT"}};
    auto d = s_.broker.AuthorizeEdge(*caller, er);
    std::string decision =
        d ? std::string(d->at("decision").as_string()) : "deny";
    if (decision != "allow") {
      json::object extra;
      if (d) extra["decision"] = *d;
      Response r =
          JsonError(req.version(), http::status::forbidden, "denied",
                    "tether: CONNECT to " + host + " is not allowed", &extra);
      r.keep_alive(false);
      http::write(stream, r, ec);
      return;
    }
    auto address = Resolve(host, port);
    if (!address) {
      Response r = JsonError(req.version(), http::status::forbidden,
                             "forbidden_destination", address.error().message);
      r.keep_alive(false);
      http::write(stream, r, ec);
      return;
    }
    tcp::socket up(socket_.get_executor());
    up.connect(tcp::endpoint(asio::ip::make_address(*address),
                             static_cast<unsigned short>(std::stoi(port))),
               ec);
    // A silent upstream ends the tunnel as a silent client does.
    if (!ec) SetTimeouts(up.native_handle(), s_.config.proxy.idle_timeout_ms);
    if (ec) {
      Response r = JsonError(req.version(), http::status::bad_gateway,
                             "upstream_unreachable", ec.message());
      r.keep_alive(false);
      http::write(stream, r, ec);
      return;
    }
    Response ok{http::status::ok, req.version()};
    ok.reason("Connection Established");
    http::response_serializer<http::string_body> sr(ok);
    http::write_header(stream, sr, ec);
    // Splice both ways until either side closes.
    auto pump = [](auto& from, auto& to) {
      char buf[16384];
      beast::error_code e;
      while (true) {
        std::size_t n = from.read_some(asio::buffer(buf), e);
        if (e || n == 0) break;
        asio::write(to, asio::buffer(buf, n), e);
        if (e) break;
      }
      to.shutdown(tcp::socket::shutdown_send, e);
    };
    if (buffer.size()) asio::write(up, buffer.data(), ec);
    std::thread back([&] { pump(up, socket_); });
    pump(socket_, up);
    back.join();
    return;
  }
  // A routed host: answer the handshake ourselves and decide each request.
  Response ok{http::status::ok, req.version()};
  ok.reason("Connection Established");
  http::response_serializer<http::string_body> sr(ok);
  http::write_header(stream, sr, ec);
  if (ec) return;
  auto leaf = s_.ca->LeafFor(host);
  if (!leaf) return;
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                  ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain(asio::buffer((*leaf)->cert_pem), ec);
  if (!ec)
    ctx.use_private_key(asio::buffer((*leaf)->key_pem), ssl::context::pem, ec);
  if (ec) return;
  // ALPN: only HTTP/1.1.
  SSL_CTX_set_alpn_select_cb(
      ctx.native_handle(),
      [](SSL*, const unsigned char** out, unsigned char* outlen,
         const unsigned char* in, unsigned int inlen, void*) -> int {
        static const unsigned char kH11[] = {8,   'h', 't', 't', 'p',
                                             '/', '1', '.', '1'};
        unsigned char* sel = nullptr;
        if (SSL_select_next_proto(&sel, outlen, kH11, sizeof kH11, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED) {
          return SSL_TLSEXT_ERR_NOACK;
        }
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  ssl::stream<tcp::socket&> tls(socket_, ctx);
  tls.handshake(ssl::stream_base::server, buffer.data(), ec);
  if (ec) return;
  buffer.consume(buffer.size());
  // The name the client asked for must be the host it CONNECTed to.
  if (const char* sni =
          SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
    auto c = CanonicalHost(sni);
    if (!c || *c != host) return;
  }
  while (!s_.stopping.load()) {
    if (!HandleInTunnel(tls, buffer, host, port, token)) break;
  }
  tls.shutdown(ec);
}

template <typename Stream>
bool Session::HandleInTunnel(Stream& stream, beast::flat_buffer& buffer,
                             const std::string& host, const std::string& port,
                             const std::string& tunnel_token) {
  Request req;
  if (!ReadRequest(stream, buffer, req)) return false;
  beast::error_code ec;
  if (std::string why = SmugglingProblem(req); !why.empty()) {
    Response r =
        JsonError(req.version(), http::status::bad_request, "bad_request", why);
    r.keep_alive(false);
    http::write(stream, r, ec);
    return false;
  }
  std::string_view t = req.target();
  if (t.empty() || t[0] != '/') {
    Response r =
        JsonError(req.version(), http::status::bad_request, "invalid_target",
                  "inside a tunnel, send origin-form");
    http::write(stream, r, ec);
    return !ec;
  }
  // Host must be the tunnel's.
  std::string host_header = AsciiLower(req[http::field::host]);
  std::size_t hc = host_header.rfind(':');
  std::string hh =
      hc == std::string::npos ? host_header : host_header.substr(0, hc);
  auto ch = CanonicalHost(hh);
  if (host_header.empty() || !ch || *ch != host) {
    Response r = JsonError(req.version(), http::status::bad_request,
                           "bad_request", "Host must name the tunnel's host");
    r.keep_alive(false);
    http::write(stream, r, ec);
    return false;
  }
  std::string inner = TokenFrom(req[http::field::authorization]);
  if (!inner.empty() && !broker::Broker::LooksLikeTaskToken(inner))
    inner.clear();
  std::string token = tunnel_token.empty() ? inner : tunnel_token;
  if (!tunnel_token.empty() && !inner.empty() && inner != tunnel_token) {
    // Both given: they must name the same task.
    auto a = s_.broker.AuthenticateTask(tunnel_token, remote_);
    auto b = s_.broker.AuthenticateTask(inner, remote_);
    if (!a || !b || a->task_id != b->task_id) {
      Response r = Unauthorized(req.version(), true,
                                "the tunnel's token and the request's name "
                                "different tasks");
      http::write(stream, r, ec);
      return !ec;
    }
  }
  if (token.empty()) {
    Response r = Unauthorized(req.version(), true,
                              "tether needs the task token (as the password)");
    http::write(stream, r, ec);
    return !ec;
  }
  // Every request re-checks the task: a revoked task's tunnel is closed.
  if (auto c = s_.broker.CachedTaskToken(token)) {
    if (Status st = s_.broker.CheckTaskActive(*c); !st) {
      Response r = JsonError(req.version(), http::status::forbidden,
                             "task_inactive", "tether: " + st.error().message);
      r.keep_alive(false);
      http::write(stream, r, ec);
      return false;
    }
  }
  Target target;
  target.tls = true;
  target.host = host;
  target.port = port;
  bool keep = req.keep_alive();
  Response res = Forward(req, target, token, true);
  res.keep_alive(keep && res.keep_alive());
  http::write(stream, res, ec);
  return !ec && res.keep_alive();
}

Result<std::string> Session::Resolve(const std::string& host,
                                     const std::string& port) {
  tcp::resolver resolver(socket_.get_executor());
  beast::error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    return MakeError("upstream_unreachable", "cannot resolve " + host);
  }
  bool allowed = s_.allow_private.count(host) > 0;
  // Every address the name has must be acceptable, and the one checked is
  // the one dialed (no second lookup to rebind).
  for (const auto& e : results) {
    if (!allowed && IsPrivate(e.endpoint().address())) {
      return MakeError("forbidden_destination",
                       host + " resolves to a private or local address");
    }
  }
  return results.begin()->endpoint().address().to_string();
}

Result<Response> Session::SendUpstream(Request& req, const Target& target,
                                       const std::string& address) {
  beast::error_code ec;
  tcp::socket sock(socket_.get_executor());
  sock.connect(
      tcp::endpoint(asio::ip::make_address(address),
                    static_cast<unsigned short>(std::stoi(target.port))),
      ec);
  if (ec) return MakeError("upstream_unreachable", ec.message());
  SetTimeouts(sock.native_handle(), s_.config.proxy.upstream_timeout_ms);
  http::response_parser<http::string_body> parser;
  parser.body_limit(s_.config.proxy.max_body_bytes);
  parser.header_limit(
      static_cast<std::uint32_t>(s_.config.proxy.max_header_bytes));
  // A response to HEAD has headers only (its Content-Length describes a
  // body that is not sent): tell the parser not to wait for one.
  if (req.method() == http::verb::head) parser.skip(true);
  beast::flat_buffer buf;
  if (target.tls) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    if (!s_.config.proxy.upstream_ca_file.empty()) {
      ctx.load_verify_file(s_.config.proxy.upstream_ca_file, ec);
    } else {
      ctx.set_default_verify_paths(ec);
    }
    if (ec) return MakeError("upstream_tls", ec.message());
    ssl::stream<tcp::socket&> tls(sock, ctx);
    SSL_set_tlsext_host_name(tls.native_handle(), target.host.c_str());
    tls.set_verify_callback(ssl::host_name_verification(target.host));
    tls.handshake(ssl::stream_base::client, ec);
    if (ec) return MakeError("upstream_tls", ec.message());
    http::write(tls, req, ec);
    if (!ec) http::read(tls, buf, parser, ec);
    beast::error_code ignored;
    tls.shutdown(ignored);
  } else {
    http::write(sock, req, ec);
    if (!ec) http::read(sock, buf, parser, ec);
  }
  if (ec == asio::error::would_block || ec == asio::error::timed_out) {
    return MakeError("upstream_timeout", "the upstream did not answer in time");
  }
  if (ec) return MakeError("upstream_error", ec.message());
  return parser.release();
}

Response Session::Forward(Request& req, const Target& in_target,
                          const std::string& token, bool in_tunnel) {
  unsigned version = req.version();
  Target target = in_target;
  auto caller = s_.broker.CachedTaskToken(token);
  if (!caller) {
    auto verified = s_.broker.AuthenticateTask(token, remote_);
    if (!verified)
      return Unauthorized(version, in_tunnel, verified.error().message);
    caller = *verified;
  }
  if (req[http::field::content_encoding].size() &&
      AsciiLower(req[http::field::content_encoding]) != "identity") {
    return JsonError(
        version, http::status::unsupported_media_type, "unsupported_media_type",
        "tether decides on bodies it can read: no Content-Encoding");
  }
  auto normalized = NormalizeTarget(req.target());
  if (!normalized) {
    return JsonError(version, http::status::bad_request, "invalid_target",
                     normalized.error().message);
  }
  std::string method(req.method_string());
  const json::value* body_json = nullptr;
  json::value parsed;
  if (AsciiLower(req[http::field::content_type]).rfind("application/json", 0) ==
          0 &&
      !req.body().empty()) {
    JsonLimits limits;
    limits.max_bytes = 4 * 1024 * 1024;
    if (auto j = ParseJson(req.body(), limits)) {
      parsed = std::move(*j);
      body_json = &parsed;
    }
  }
  std::string path = target.base + normalized->path;
  auto match =
      s_.routes->Match(target.host, method, path, normalized->query, body_json);
  if (!match) {
    return JsonError(version, http::status::bad_request, "invalid_request",
                     match.error().message);
  }
  broker::EdgeRequest er;
  if (*match) {
    er.action = (*match)->action;
    er.resource_type = (*match)->resource_type;
    er.resource_id = (*match)->resource_id;
    er.context = (*match)->context;
  } else {
    er.action = "http.request";
    er.resource_type = "Host";
    er.resource_id = target.host;
  }
  er.context["method"] = method;
  er.context["path"] = path;
  er.context["query"] = normalized->query;
  er.context["host"] = target.host;
  if (std::string_view wait = req["Tether-Wait"]; !wait.empty()) {
    try {
      er.wait_seconds = std::stoll(std::string(wait));
    } catch (const std::exception&) {
      return JsonError(version, http::status::bad_request, "invalid_request",
                       "Tether-Wait is a number of seconds");
    }
  }
  json::object decision;
  std::string reason;
  auto decided_ok = [&](const Result<json::object>& d) {
    if (!d) {
      reason = d.error().message;
      decision = json::object{{"decision", "deny"}};
      return false;
    }
    decision = *d;
    if (decision.at("decision").as_string() != "allow") {
      const json::value* rs = decision.if_contains("reasons");
      reason = rs && rs->is_array() && !rs->as_array().empty() &&
                       rs->as_array().back().is_string()
                   ? std::string(rs->as_array().back().as_string())
                   : "denied by policy";
      return false;
    }
    return true;
  };
  if (*match && (*match)->git_receive_pack) {
    // One decision per ref the push updates; the pack is not what is
    // bound, the updates are.
    ReceivePackParser parser;
    std::size_t consumed = 0;
    auto state = parser.Feed(req.body(), consumed);
    if (!state || *state != ReceivePackParser::State::kDone) {
      std::string why = state ? "the push is truncated" : state.error().message;
      Response r{http::status::ok, version};
      r.set(http::field::content_type, "application/x-git-receive-pack-result");
      r.body() = RejectPush(parser.commands(), "tether: " + why);
      r.prepare_payload();
      return r;
    }
    for (const RefUpdate& u : parser.commands().updates) {
      broker::EdgeRequest push = er;
      push.context["ref"] = u.ref;
      push.context["old"] = u.old_oid;
      push.context["new"] = u.new_oid;
      push.context["is_create"] = u.is_create;
      push.context["is_delete"] = u.is_delete;
      if (!decided_ok(s_.broker.AuthorizeEdge(*caller, push))) {
        std::string text = "tether: " + u.ref + ": " + reason;
        const json::value* ap = decision.if_contains("approval");
        if (ap && ap->is_object() && ap->as_object().contains("console_url")) {
          text = "tether: approval required: " +
                 std::string(ap->as_object().at("console_url").as_string());
        }
        Response r{http::status::ok, version};
        r.set(http::field::content_type,
              "application/x-git-receive-pack-result");
        r.set(http::field::cache_control, "no-store");
        r.body() = RejectPush(parser.commands(), text);
        r.prepare_payload();
        return r;
      }
    }
  } else {
    if (!req.body().empty()) {
      Sha256Digest d = Sha256(req.body());
      er.body_sha256 = HexEncode(
          std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
    }
    if (!decided_ok(s_.broker.AuthorizeEdge(*caller, er))) {
      json::object extra;
      const json::value* ap = decision.if_contains("approval");
      bool approval =
          decision.at("decision").as_string() == "approval_required";
      if (approval && ap && ap->is_object()) {
        extra["approval_id"] = ap->as_object().at("id");
      }
      extra["decision"] = decision;
      return JsonError(version, http::status::forbidden,
                       approval ? "approval_required" : "denied",
                       "tether: " + reason, &extra);
    }
  }
  // Allowed, and recorded: now the upstream.
  auto address = Resolve(target.host, target.port);
  if (!address) {
    return JsonError(version,
                     address.error().code == "forbidden_destination"
                         ? http::status::forbidden
                         : http::status::bad_gateway,
                     address.error().code, address.error().message);
  }
  // Strip hop-by-hop headers and anything carrying a credential; inject
  // the secret bound to this host and path, if any.
  std::optional<secrets::Secret> secret;
  if (auto all = s_.broker.Secrets()) {
    for (const secrets::Secret& candidate : *all) {
      if (secrets::BindingAllows(candidate.meta, target.host, path)) {
        secret = candidate;
        break;
      }
    }
  }
  std::vector<std::string> drop;
  for (const auto& f : req) {
    std::string name(f.name_string());
    if (IsHopByHop(name) ||
        secrets::IsCredentialHeader(name, secret ? &secret->meta : nullptr)) {
      drop.push_back(name);
    }
  }
  for (const std::string& n : drop) req.erase(n);
  std::string authority = target.host;
  if (!((target.tls && target.port == "443") ||
        (!target.tls && target.port == "80")))
    authority += ":" + target.port;
  req.set(http::field::host, authority);
  req.target(path + (normalized->query.empty() ? "" : "?" + normalized->query));
  req.keep_alive(false);
  std::vector<std::string> hide;
  if (secret) {
    auto [name, value] = secrets::InjectionHeader(secret->meta, secret->value);
    req.set(name, value);
    hide.push_back(secret->value);
    if (secret->meta.format == secrets::Format::kBasic) {
      hide.push_back(value.substr(value.find(' ') + 1));
    }
  }
  req.prepare_payload();
  broker::Broker::ProxyCall call;
  call.task_id = caller->task_id;
  if (const json::value* id = decision.if_contains("decision_id");
      id && id->is_string()) {
    call.decision_id = std::string(id->as_string());
  }
  call.action = er.action;
  call.resource = er.resource_type + "::\"" + er.resource_id + "\"";
  call.method = method;
  call.host = target.host;
  call.path = path;
  call.secret = secret ? secret->meta.name : "";
  call.bytes_up = req.body().size();
  auto started = std::chrono::steady_clock::now();
  auto res = SendUpstream(req, target, *address);
  call.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  if (!res) {
    call.error = res.error().code;
    s_.broker.RecordProxyCall(call);
    bool timeout = res.error().code == "upstream_timeout";
    return JsonError(
        version,
        timeout ? http::status::gateway_timeout : http::status::bad_gateway,
        res.error().code, res.error().message);
  }
  Response out = std::move(*res);
  call.status = static_cast<int>(out.result_int());
  call.bytes_down = out.body().size();
  s_.broker.RecordProxyCall(call);
  // Nothing the upstream echoes may hand the agent the credential.
  for (const std::string& h : hide) {
    if (h.empty()) continue;
    std::string& b = out.body();
    for (std::size_t at = b.find(h); at != std::string::npos;
         at = b.find(h, at)) {
      b.replace(at, h.size(), "[REDACTED]");
    }
    for (auto& f : out) {
      if (f.value().find(h) != std::string_view::npos) {
        std::string v(f.value());
        for (std::size_t at = v.find(h); at != std::string::npos;
             at = v.find(h, at)) {
          v.replace(at, h.size(), "[REDACTED]");
        }
        out.set(f.name_string(), v);
      }
    }
  }
  std::vector<std::string> hop;
  for (const auto& f : out) {
    if (IsHopByHop(f.name_string())) hop.emplace_back(f.name_string());
  }
  for (const std::string& n : hop) out.erase(n);
  out.version(version);
  out.keep_alive(true);
  out.prepare_payload();
  return out;
}

void ProxyServer::Impl::AcceptLoop() {
  while (!stopping.load()) {
    beast::error_code ec;
    tcp::socket socket(ioc);
    acceptor.accept(socket, ec);
    if (ec) {
      if (stopping.load()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int fd = socket.native_handle();
    {
      std::lock_guard lock(mu);
      if (connections >= config.proxy.max_connections) {
        socket.close(ec);
        continue;
      }
      ++connections;
      open_sockets.insert(fd);
    }
    std::thread([this, s = std::move(socket), fd]() mutable {
      {
        Session session(*this, std::move(s));
        try {
          session.Run();
        } catch (const std::exception&) {
          // A bug, not an input: the connection ends; nothing was allowed.
        }
      }
      std::lock_guard lock(mu);
      open_sockets.erase(fd);
      --connections;
      idle_cv.notify_all();
    }).detach();
  }
}

ProxyServer::ProxyServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProxyServer::~ProxyServer() { Shutdown(); }

Result<std::unique_ptr<ProxyServer>> ProxyServer::Start(
    const Config& config, broker::Broker& broker) {
  auto impl = std::make_unique<Impl>(config, broker);
  auto routes = RouteTable::Load(config.proxy.routes);
  if (!routes) return routes.error();
  impl->routes = *routes;
  for (const std::string& a : impl->routes->Actions()) {
    if (!broker.HasAction(a)) {
      return MakeError("invalid_routes", "a route decides `" + a +
                                             "`, which is not in the action "
                                             "catalog");
    }
  }
  // The key with tether's other keys; the certificate, which agents must
  // read, beside the data.
  std::string key_dir =
      config.proxy.ca_dir.empty()
          ? (config.keys.dir.empty() ? audit::KeysDir(config) : config.keys.dir)
          : config.proxy.ca_dir;
  std::string cert_dir =
      config.proxy.ca_dir.empty() ? config.data_dir : config.proxy.ca_dir;
  auto ca = InterceptCa::LoadOrCreate(key_dir + "/proxy-ca.key",
                                      cert_dir + "/proxy-ca.pem");
  if (!ca) return ca.error();
  impl->ca = std::move(*ca);
  for (const std::string& h : config.proxy.allow_private_hosts) {
    auto c = CanonicalHost(h);
    impl->allow_private.insert(c ? *c : h);
  }
  for (const UpstreamConfig& u : config.proxy.upstreams) {
    impl->upstreams[u.name] = u.url;
  }
  std::string listen = config.proxy.listen;
  std::size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (!host.empty() && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec || colon == std::string::npos) {
    return MakeError("invalid_config", "proxy.listen must be address:port");
  }
  tcp::endpoint ep(
      addr, static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec)
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError("listen_failed",
                     "proxy: cannot listen on " + listen + ": " + ec.message());
  }
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<ProxyServer>(new ProxyServer(std::move(impl)));
}

std::uint16_t ProxyServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

const InterceptCa& ProxyServer::ca() const { return *impl_->ca; }

void ProxyServer::Shutdown() {
  if (impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  // Unblock accept() by closing the acceptor's socket.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::unique_lock lock(impl_->mu);
  for (int fd : impl_->open_sockets) ::shutdown(fd, SHUT_RDWR);
  impl_->idle_cv.wait_for(lock, std::chrono::seconds(5),
                          [&] { return impl_->connections == 0; });
}

}  // namespace tether::proxy
