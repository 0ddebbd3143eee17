#include "proxy/proxy_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
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
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "audit/setup.h"
#include "core/crypto.h"
#include "core/entity_ids.h"
#include "core/json.h"
#include "core/text.h"
#include "core/time.h"
#include "net/http_client.h"
#include "net/listen.h"
#include "proxy/normalize.h"
#include "proxy/pktline.h"
#include "proxy/stream_redactor.h"
#include "proxy/timed_socket.h"
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
  // Verifies upstreams: the system trust store or [proxy]
  // upstream_ca_file, loaded once.
  ssl::context upstream_tls{ssl::context::tls_client};
  std::shared_ptr<const RouteTable> routes;
  std::unique_ptr<InterceptCa> ca;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle_cv;
  // Client and upstream sockets, shut down by Shutdown; guarded by mu.
  std::set<int> open_sockets;
  int connections = 0;  // client connections; guarded by mu
  std::set<std::string, std::less<>> allow_private;
  std::map<std::string, net::HttpUrl, std::less<>> upstreams;  // parsed

  void AcceptLoop();
  void Track(int fd) {
    std::lock_guard lock(mu);
    open_sockets.insert(fd);
    // A socket opened while stopping is shut at once.
    if (stopping.load()) ::shutdown(fd, SHUT_RDWR);
  }
  void Forget(int fd) {
    std::lock_guard lock(mu);
    open_sockets.erase(fd);
  }
};

namespace {

using HeadParser = http::request_parser<http::empty_body>;
using Response = http::response<http::string_body>;
// How much of a body is moved at a time, each way.
constexpr std::size_t kChunk = 64 * 1024;

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

bool Allowed(const Result<json::object>& d) {
  if (!d) return false;
  const json::value* v = d->if_contains("decision");
  return v && v->is_string() && v->as_string() == "allow";
}

// Why a decision was not an allow, in words for the agent.
std::string DenialReason(const Result<json::object>& d) {
  if (!d) return d.error().message;
  const json::value* rs = d->if_contains("reasons");
  return rs && rs->is_array() && !rs->as_array().empty() &&
                 rs->as_array().back().is_string()
             ? std::string(rs->as_array().back().as_string())
             : "denied by policy";
}

std::string DecisionId(const json::object& d) {
  const json::value* id = d.if_contains("decision_id");
  return id && id->is_string() ? std::string(id->as_string()) : "";
}

// 403 with code denied, or approval_required and the approval's id.
Response DeniedResponse(unsigned version, const Result<json::object>& d) {
  json::object extra;
  bool approval = false;
  if (d) {
    const json::value* v = d->if_contains("decision");
    approval = v && v->is_string() && v->as_string() == "approval_required";
    const json::value* ap = d->if_contains("approval");
    if (approval && ap && ap->is_object() && ap->as_object().contains("id")) {
      extra["approval_id"] = ap->as_object().at("id");
    }
    extra["decision"] = *d;
  }
  return JsonError(version, http::status::forbidden,
                   approval ? "approval_required" : "denied",
                   "tether: " + DenialReason(d), &extra);
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
std::string SmugglingProblem(const http::request_header<>& req) {
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

// A connection to an upstream, kept open across the requests of one client
// connection when the upstream allows, for the same task only (never
// shared between clients or tasks, so no state on it crosses from one task
// to another).
struct UpstreamConn {
  UpstreamConn(const asio::any_io_executor& ex, std::chrono::milliseconds t)
      : socket(ex), io(socket, t) {}
  std::string key;  // scheme, address, port and name it was opened for
  tcp::socket socket;
  TimedSocket io;
  std::unique_ptr<ssl::stream<TimedSocket&>> tls;
  beast::flat_buffer buffer;
  bool reused = false;

  template <typename F>
  decltype(auto) With(F&& f) {
    if (tls) return f(*tls);
    return f(io);
  }
};

// What an allowed request becomes upstream, and its record.
struct Plan {
  Target target;
  std::string address;  // resolved and checked
  std::vector<std::string> hide;
  broker::Broker::ProxyCall call;
  std::chrono::steady_clock::time_point started;  // set before connecting
};

// One client connection, served on its own thread.
class Session {
 public:
  Session(ProxyServer::Impl& server, tcp::socket socket)
      : s_(server),
        socket_(std::move(socket)),
        client_(socket_, std::chrono::milliseconds(
                             server.config.proxy.idle_timeout_ms)) {
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    // Headers and body pieces go out as separate writes: without this,
    // Nagle holds the second for the peer's delayed ACK (40 ms).
    socket_.set_option(tcp::no_delay(true), ec);
  }
  ~Session() { DropUpstream(); }

  void Run();

 private:
  enum class Outcome { kKeep, kClose };
  enum class Sent { kDone, kNoAnswer, kBroken };

  // Feeds `parser` from the read-ahead buffer, reading more from `stream`
  // as needed, until `done()`; the first error. `on_data` runs whenever
  // bytes wait in the buffer.
  template <typename Stream, typename Parser, typename Done, typename OnData>
  beast::error_code Feed(Stream& stream, Parser& parser, Done done,
                         OnData on_data);
  // Reads one request's header; false on EOF or error (any answer sent).
  template <typename Stream>
  bool ReadHead(Stream& stream, HeadParser& parser);
  // Reads the rest of a body through `parser` under the request deadline;
  // false (answered, to be closed) on error.
  template <typename Stream, typename Parser>
  bool ReadBody(Stream& stream, Parser& parser, unsigned version);
  // Reads and drops whatever body the request still has, so a refusal can
  // be read by a client that is still sending; false if it could not be.
  template <typename Stream, typename Parser>
  bool Discard(Stream& stream, Parser& parser, bool deadline);
  template <typename Stream>
  Outcome Refuse(Stream& stream, HeadParser& head, Response r);
  template <typename Stream>
  Outcome Answer(Stream& stream, Response& r);

  void HandleConnect(const HeadParser& head);
  void Splice(tcp::socket& up, const broker::TaskCaller& caller);
  template <typename Stream>
  Outcome HandleInTunnel(Stream& stream, HeadParser& head,
                         const std::string& host, const std::string& port,
                         const std::string& tunnel_token);
  // Decides, injects, forwards and answers one request. `token` is the
  // caller's task token.
  template <typename Stream>
  Outcome Exchange(Stream& client, HeadParser& head, Target target,
                   const std::string& token, bool in_tunnel);
  template <typename Stream>
  Outcome Push(Stream& client, HeadParser& head, const broker::TaskCaller& who,
               broker::EdgeRequest er, const RouteMatch& route, Plan plan);
  // Prepares the upstream request header: hop-by-hop and credential
  // headers out, the bound secret in, Host and target set. Fails when the
  // destination is refused.
  Result<Plan> Prepare(http::request_header<>& head, Plan plan,
                       const std::string& path, const std::string& query);
  // The upstream connection for `plan`: the kept one if it is to the same
  // place and still open, else a new one (resolving and checking the
  // destination unless plan.address is set; code forbidden_destination).
  Result<UpstreamConn*> Connect(Plan& plan, bool fresh);
  void DropUpstream();
  // Reads the upstream's answer and streams it to the client, redacted.
  template <typename Stream>
  Sent Relay(Stream& client, UpstreamConn& up, Plan& plan, unsigned version,
             bool keep, bool head_only, Outcome& outcome);
  // Records the call (proxy.request), failed with `e`, and its answer.
  Response FailedUpstream(unsigned version, Plan& plan, const Error& e);
  void Record(Plan& plan);

  Result<std::string> Resolve(const std::string& host, const std::string& port);
  Response Unauthorized(unsigned version, bool in_tunnel,
                        const std::string& why);

  ProxyServer::Impl& s_;
  tcp::socket socket_;
  TimedSocket client_;
  beast::flat_buffer buffer_;  // client bytes read ahead of the parser
  std::string remote_;
  std::unique_ptr<UpstreamConn> up_;
  std::string last_token_;
  std::optional<broker::TaskCaller> last_caller_;
};

template <typename Stream, typename Parser, typename Done, typename OnData>
beast::error_code Session::Feed(Stream& stream, Parser& parser, Done done,
                                OnData on_data) {
  beast::error_code ec;
  while (!done()) {
    if (buffer_.size() > 0) {
      on_data();
      std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        return ec;
      }
      if (done()) break;
      if (used > 0) continue;
    }
    std::size_t n = stream.read_some(buffer_.prepare(kChunk), ec);
    buffer_.commit(n);
    if (ec) return ec;
  }
  return {};
}

template <typename Stream>
bool Session::ReadHead(Stream& stream, HeadParser& parser) {
  parser.header_limit(
      static_cast<std::uint32_t>(s_.config.proxy.max_header_bytes));
  // Each read waits at most idle_timeout_ms; the whole request, from its
  // first byte, at most request_timeout_ms, so a client trickling bytes
  // cannot hold a thread and its buffers for ever.
  client_.set_deadline(std::nullopt);
  auto limit = std::chrono::milliseconds(s_.config.proxy.request_timeout_ms);
  bool started = false;
  beast::error_code ec = Feed(
      stream, parser, [&] { return parser.is_header_done(); },
      [&] {
        if (!started) {
          client_.set_deadline(TimedSocket::clock::now() + limit);
          started = true;
        }
      });
  if (!ec) return true;
  if (!started) return false;  // a quiet keep-alive connection ending
  if (ec == asio::error::timed_out) {
    Response r = JsonError(11, http::status::request_timeout, "request_timeout",
                           "the request took too long to arrive");
    r.keep_alive(false);
    http::write(stream, r, ec);
    return false;
  }
  if (ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == asio::error::connection_reset) {
    return false;
  }
  http::status st = ec == http::error::header_limit
                        ? http::status::request_header_fields_too_large
                        : http::status::bad_request;
  Response r = JsonError(11, st, "bad_request",
                         "malformed or oversized request: " + ec.message());
  r.keep_alive(false);
  http::write(stream, r, ec);
  return false;
}

template <typename Stream, typename Parser>
bool Session::ReadBody(Stream& stream, Parser& parser, unsigned version) {
  beast::error_code ec = Feed(
      stream, parser, [&] { return parser.is_done(); }, [] {});
  if (!ec) return true;
  if (ec == asio::error::eof || ec == asio::error::connection_reset) {
    return false;
  }
  http::status st = ec == asio::error::timed_out ? http::status::request_timeout
                    : ec == http::error::body_limit
                        ? http::status::payload_too_large
                        : http::status::bad_request;
  Response r = JsonError(
      version, st,
      st == http::status::request_timeout ? "request_timeout" : "bad_request",
      st == http::status::payload_too_large
          ? "the body is larger than tether reads to decide on "
            "([proxy] max_body_bytes)"
          : "the request body: " + ec.message());
  r.keep_alive(false);
  http::write(stream, r, ec);
  return false;
}

template <typename Stream, typename Parser>
bool Session::Discard(Stream& stream, Parser& parser, bool deadline) {
  if (!deadline) client_.set_deadline(std::nullopt);
  char scratch[kChunk];
  beast::error_code ec;
  while (!parser.is_done()) {
    parser.get().body().data = scratch;
    parser.get().body().size = sizeof scratch;
    if (buffer_.size() > 0) {
      std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_buffer || ec == http::error::need_more) {
        ec = {};
        if (used > 0) continue;
      } else if (ec) {
        return false;
      } else {
        continue;
      }
    }
    if (parser.is_done()) break;
    std::size_t n = stream.read_some(buffer_.prepare(kChunk), ec);
    buffer_.commit(n);
    if (ec) return false;
  }
  return true;
}

template <typename Stream>
Session::Outcome Session::Answer(Stream& stream, Response& r) {
  beast::error_code ec;
  client_.set_deadline(std::nullopt);
  http::write(stream, r, ec);
  return !ec && r.keep_alive() ? Outcome::kKeep : Outcome::kClose;
}

template <typename Stream>
Session::Outcome Session::Refuse(Stream& stream, HeadParser& head, Response r) {
  r.keep_alive(head.get().keep_alive() && r.keep_alive());
  if (!head.is_done()) {
    // A body is on its way: read it to the end (bounded as any body is),
    // so the client, still sending, sees the answer; else close.
    if (AsciiLower(head.get()[http::field::expect]) == "100-continue") {
      r.keep_alive(false);  // it waits for our word before sending
    } else {
      http::request_parser<http::buffer_body> rest(std::move(head));
      rest.body_limit(s_.config.proxy.max_body_bytes);
      if (!Discard(stream, rest, true)) r.keep_alive(false);
    }
  }
  return Answer(stream, r);
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
  while (!s_.stopping.load()) {
    HeadParser head;
    if (!ReadHead(client_, head)) return;
    auto& req = head.get();
    if (std::string why = SmugglingProblem(req); !why.empty()) {
      Response r = JsonError(req.version(), http::status::bad_request,
                             "bad_request", why);
      r.keep_alive(false);
      Answer(client_, r);
      return;
    }
    if (req.method() == http::verb::connect) {
      HandleConnect(head);
      return;  // a tunnel, or a refusal that closes the connection
    }
    std::string_view t = req.target();
    Target target;
    std::string token = TokenFrom(req[http::field::proxy_authorization]);
    if (t.rfind("http://", 0) == 0 || t.rfind("https://", 0) == 0) {
      auto url = net::ParseHttpUrl(t);
      if (!url) {
        if (Refuse(client_, head,
                   JsonError(req.version(), http::status::bad_request,
                             "invalid_target", url.error().message)) ==
            Outcome::kClose)
          return;
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
        Answer(client_, r);
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
        if (Refuse(client_, head,
                   JsonError(req.version(), http::status::not_found,
                             "not_found", "no upstream `" + name + "`")) ==
            Outcome::kClose)
          return;
        continue;
      }
      const net::HttpUrl* url = &up->second;
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
      if (Refuse(
              client_, head,
              JsonError(req.version(), http::status::bad_request, "bad_request",
                        "send absolute-form requests, CONNECT, or "
                        "/u/<upstream>/...")) == Outcome::kClose)
        return;
      continue;
    }
    if (token.empty()) {
      if (Refuse(client_, head,
                 Unauthorized(req.version(), false,
                              "a task token is needed in "
                              "Proxy-Authorization")) == Outcome::kClose)
        return;
      continue;
    }
    if (Exchange(client_, head, target, token, false) == Outcome::kClose)
      return;
  }
}

void Session::HandleConnect(const HeadParser& head) {
  const auto& req = head.get();
  std::string_view authority = req.target();
  std::size_t colon = authority.rfind(':');
  std::string host(authority.substr(0, colon));
  std::string port = colon == std::string_view::npos
                         ? "443"
                         : std::string(authority.substr(colon + 1));
  if (!host.empty() && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto canonical = CanonicalHost(host);
  auto close_with = [&](Response r) {
    r.keep_alive(false);
    Answer(client_, r);
  };
  if (!canonical || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    close_with(JsonError(req.version(), http::status::bad_request,
                         "invalid_target", "CONNECT takes host:port"));
    return;
  }
  host = *canonical;
  // Clients such as git send their first CONNECT without credentials and
  // retry once told which scheme to use: 407 with Proxy-Authenticate.
  std::string token = TokenFrom(req[http::field::proxy_authorization]);
  if (token.empty()) {
    close_with(Unauthorized(req.version(), false,
                            "a task token is needed in Proxy-Authorization"));
    return;
  }
  auto caller = s_.broker.AuthenticateTask(token, remote_);
  if (!caller) {
    close_with(Unauthorized(req.version(), false, caller.error().message));
    return;
  }
  beast::error_code ec;
  // 200, headers only: from here the connection is the tunnel.
  auto established = [&] {
    Response ok{http::status::ok, req.version()};
    ok.reason("Connection Established");
    http::response_serializer<http::string_body> sr(ok);
    http::write_header(client_, sr, ec);
    return !ec;
  };
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
      close_with(JsonError(req.version(), http::status::forbidden, "denied",
                           "tether: CONNECT to " + host + " is not allowed",
                           &extra));
      return;
    }
    auto address = Resolve(host, port);
    if (!address) {
      close_with(JsonError(req.version(), http::status::forbidden,
                           "forbidden_destination", address.error().message));
      return;
    }
    Plan plan;
    plan.target.host = host;
    plan.target.port = port;
    plan.address = *address;
    auto up = Connect(plan, true);
    if (!up) {
      close_with(JsonError(req.version(), http::status::bad_gateway,
                           "upstream_unreachable", up.error().message));
      return;
    }
    if (!established()) return;
    Splice((*up)->socket, *caller);
    DropUpstream();
    return;
  }
  // A routed host: answer the handshake ourselves and decide each request.
  if (!established()) return;
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
  ssl::stream<TimedSocket&> tls(client_, ctx);
  client_.set_deadline(
      TimedSocket::clock::now() +
      std::chrono::milliseconds(s_.config.proxy.request_timeout_ms));
  tls.handshake(ssl::stream_base::server, buffer_.data(), ec);
  client_.set_deadline(std::nullopt);
  if (ec) return;
  buffer_.consume(buffer_.size());
  // The name the client asked for must be the host it CONNECTed to.
  if (const char* sni =
          SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
    auto c = CanonicalHost(sni);
    if (!c || *c != host) return;
  }
  while (!s_.stopping.load()) {
    HeadParser inner;
    if (!ReadHead(tls, inner)) break;
    if (HandleInTunnel(tls, inner, host, port, token) == Outcome::kClose) break;
  }
  tls.shutdown(ec);
}

// Copies bytes both ways until either side closes or goes quiet for the
// idle timeout, or the task stops being active (checked every few seconds
// while the tunnel is open).
void Session::Splice(tcp::socket& up, const broker::TaskCaller& caller) {
  using namespace std::chrono;
  constexpr auto kSlice = milliseconds(2000);
  auto idle = milliseconds(s_.config.proxy.idle_timeout_ms);
  std::atomic<bool> done{false};
  std::atomic<TimedSocket::clock::rep> last{
      TimedSocket::clock::now().time_since_epoch().count()};
  auto pump = [&](tcp::socket& from_sock, tcp::socket& to_sock) {
    TimedSocket from(from_sock, std::min(kSlice, idle));
    TimedSocket to(to_sock, idle);
    char buf[kChunk];
    beast::error_code e;
    while (!done.load()) {
      std::size_t n = from.read_some(asio::buffer(buf), e);
      if (e == asio::error::timed_out) {
        auto quiet = TimedSocket::clock::now() -
                     TimedSocket::clock::time_point(
                         TimedSocket::clock::duration(last.load()));
        if (quiet >= idle || s_.stopping.load() ||
            !s_.broker.CheckTaskActive(caller)) {
          break;
        }
        continue;
      }
      if (e || n == 0) break;
      last = TimedSocket::clock::now().time_since_epoch().count();
      asio::write(to, asio::buffer(buf, n), e);
      if (e) break;
    }
    beast::error_code ignored;
    to_sock.shutdown(tcp::socket::shutdown_send, ignored);
  };
  if (buffer_.size()) {
    beast::error_code e;
    TimedSocket to(up, idle);
    asio::write(to, buffer_.data(), e);
    buffer_.consume(buffer_.size());
    if (e) return;
  }
  std::thread back([&] { pump(up, socket_); });
  pump(socket_, up);
  // The client is done sending; the other way ends when the upstream is
  // (or goes quiet): on a revoked task, end both at once.
  if (!s_.broker.CheckTaskActive(caller) || s_.stopping.load()) {
    done = true;
    beast::error_code ignored;
    up.shutdown(tcp::socket::shutdown_both, ignored);
  }
  back.join();
}

template <typename Stream>
Session::Outcome Session::HandleInTunnel(Stream& stream, HeadParser& head,
                                         const std::string& host,
                                         const std::string& port,
                                         const std::string& tunnel_token) {
  auto& req = head.get();
  if (std::string why = SmugglingProblem(req); !why.empty()) {
    Response r =
        JsonError(req.version(), http::status::bad_request, "bad_request", why);
    r.keep_alive(false);
    return Answer(stream, r);
  }
  std::string_view t = req.target();
  if (t.empty() || t[0] != '/') {
    return Refuse(
        stream, head,
        JsonError(req.version(), http::status::bad_request, "invalid_target",
                  "inside a tunnel, send origin-form"));
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
    return Answer(stream, r);
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
      return Refuse(stream, head,
                    Unauthorized(req.version(), true,
                                 "the tunnel's token and the request's name "
                                 "different tasks"));
    }
  }
  if (token.empty()) {
    return Refuse(stream, head,
                  Unauthorized(req.version(), true,
                               "tether needs the task token (as the "
                               "password)"));
  }
  // Every request re-checks the task: a revoked task's tunnel is closed.
  if (auto c = s_.broker.CachedTaskToken(token)) {
    if (Status st = s_.broker.CheckTaskActive(*c); !st) {
      Response r = JsonError(req.version(), http::status::forbidden,
                             "task_inactive", "tether: " + st.error().message);
      r.keep_alive(false);
      return Answer(stream, r);
    }
  }
  Target target;
  target.tls = true;
  target.host = host;
  target.port = port;
  return Exchange(stream, head, target, token, true);
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

void Session::DropUpstream() {
  if (!up_) return;
  s_.Forget(up_->socket.native_handle());
  beast::error_code ec;
  up_->socket.close(ec);
  up_.reset();
}

Result<UpstreamConn*> Session::Connect(Plan& plan, bool fresh) {
  const Target& t = plan.target;
  // Kept per place and per task: requests of two tasks on one client
  // connection never share an upstream connection (or anything the
  // upstream ties to it).
  std::string key = (t.tls ? "https|" : "http|") + t.host + "|" + t.port + "|" +
                    plan.call.task_id;
  if (up_ && !fresh && up_->key == key) {
    // Still open? Anything readable on an idle connection (a close, or
    // bytes nobody asked for) retires it.
    char probe;
    ssize_t r =
        ::recv(up_->socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      up_->reused = true;
      return up_.get();
    }
  }
  DropUpstream();
  if (plan.address.empty()) {
    auto address = Resolve(t.host, t.port);
    if (!address) return address.error();
    plan.address = *address;
  }
  auto timeout = std::chrono::milliseconds(s_.config.proxy.upstream_timeout_ms);
  auto conn = std::make_unique<UpstreamConn>(socket_.get_executor(), timeout);
  beast::error_code ec;
  auto addr = asio::ip::make_address(plan.address, ec);
  if (ec) return MakeError("upstream_unreachable", ec.message());
  tcp::endpoint ep(addr, static_cast<unsigned short>(std::stoi(t.port)));
  conn->socket.open(ep.protocol(), ec);
  if (ec) return MakeError("upstream_unreachable", ec.message());
  int fd = conn->socket.native_handle();
  s_.Track(fd);
  conn->key = key;
  up_ = std::move(conn);
  // Connect without blocking, waiting at most the upstream timeout.
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      DropUpstream();
      return MakeError("upstream_timeout",
                       "connecting to " + t.host + " timed out");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    std::string why = std::strerror(errno);
    DropUpstream();
    return MakeError("upstream_unreachable",
                     "connecting to " + t.host + ": " + why);
  }
  ::fcntl(fd, F_SETFL, flags);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (t.tls) {
    up_->tls =
        std::make_unique<ssl::stream<TimedSocket&>>(up_->io, s_.upstream_tls);
    auto& tls = *up_->tls;
    beast::error_code literal;
    asio::ip::make_address(t.host, literal);
    if (literal) {  // a name, not an address literal: send it as SNI
      SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str());
    }
    tls.set_verify_callback(ssl::host_name_verification(t.host));
    tls.handshake(ssl::stream_base::client, ec);
    if (ec) {
      DropUpstream();
      return MakeError(
          ec == asio::error::timed_out ? "upstream_timeout" : "upstream_tls",
          ec.message());
    }
  }
  return up_.get();
}

Result<Plan> Session::Prepare(http::request_header<>& head, Plan plan,
                              const std::string& path,
                              const std::string& query) {
  const Target& target = plan.target;
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
  for (const auto& f : head) {
    std::string name(f.name_string());
    if (IsHopByHop(name) || AsciiLower(name) == "expect" ||
        AsciiLower(name) == "tether-wait" ||
        secrets::IsCredentialHeader(name, secret ? &secret->meta : nullptr)) {
      drop.push_back(name);
    }
  }
  for (const std::string& n : drop) head.erase(n);
  std::string authority = target.host;
  if (!((target.tls && target.port == "443") ||
        (!target.tls && target.port == "80")))
    authority += ":" + target.port;
  head.set(http::field::host, authority);
  head.target(path + (query.empty() ? "" : "?" + query));
  head.version(11);
  if (secret) {
    auto [name, value] = secrets::InjectionHeader(secret->meta, secret->value);
    head.set(name, value);
    plan.hide.push_back(secret->value);
    if (secret->meta.format == secrets::Format::kBasic) {
      plan.hide.push_back(value.substr(value.find(' ') + 1));
    }
    // The answer is scanned for the value: it must come as written.
    head.set(http::field::accept_encoding, "identity");
    plan.call.secret = secret->meta.name;
  }
  return plan;
}

void Session::Record(Plan& plan) {
  plan.call.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - plan.started)
                             .count();
  s_.broker.RecordProxyCall(plan.call);
}

Response Session::FailedUpstream(unsigned version, Plan& plan, const Error& e) {
  plan.call.error = e.code;
  Record(plan);
  http::status status =
      e.code == "upstream_timeout"        ? http::status::gateway_timeout
      : e.code == "forbidden_destination" ? http::status::forbidden
                                          : http::status::bad_gateway;
  return JsonError(version, status, e.code, e.message);
}

template <typename Stream>
Session::Sent Session::Relay(Stream& client, UpstreamConn& up, Plan& plan,
                             unsigned version, bool keep, bool head_only,
                             Outcome& outcome) {
  beast::error_code ec;
  std::optional<http::response_parser<http::buffer_body>> parser;
  // Interim answers (100 Continue, 103) are not passed on: the request was
  // sent whole.
  while (true) {
    parser.emplace();
    parser->body_limit(boost::none);
    parser->header_limit(
        static_cast<std::uint32_t>(s_.config.proxy.max_header_bytes));
    if (head_only) parser->skip(true);
    up.With(
        [&](auto& s) { return http::read_header(s, up.buffer, *parser, ec); });
    if (ec) {
      if (!parser->got_some() && up.buffer.size() == 0 &&
          ec != asio::error::timed_out) {
        return Sent::kNoAnswer;
      }
      Response r = FailedUpstream(
          version, plan,
          ec == asio::error::timed_out
              ? Error{"upstream_timeout", "the upstream did not answer in time"}
              : Error{"upstream_error", ec.message()});
      r.keep_alive(false);
      outcome = Answer(client, r);
      return Sent::kBroken;
    }
    unsigned code = parser->get().result_int();
    if (code >= 100 && code < 200 && code != 101) continue;
    break;
  }
  auto& head = parser->get();
  StreamRedactor redact(plan.hide);
  if (redact.active()) {
    auto enc = head[http::field::content_encoding];
    if (!enc.empty() && AsciiLower(enc) != "identity") {
      Response r = FailedUpstream(
          version, plan,
          Error{"upstream_error",
                "the upstream encoded an answer tether must scan for the "
                "injected credential"});
      r.keep_alive(false);
      outcome = Answer(client, r);
      return Sent::kBroken;
    }
  }
  plan.call.status = static_cast<int>(head.result_int());
  bool upstream_keep = head.keep_alive() && !parser->need_eof();
  bool chunked = parser->chunked();
  auto length = parser->content_length();
  bool body_follows = !head_only && !parser->is_done();
  // The client's answer: the upstream's header without hop-by-hop
  // fields or any echo of the credential, then the body as it comes.
  http::response<http::buffer_body> res;
  res.result(head.result_int());
  res.reason(head.reason());
  res.version(version);
  for (const auto& f : head) {
    if (IsHopByHop(f.name_string())) continue;
    std::string v(f.value());
    redact.Mask(v);
    res.insert(f.name_string(), v);
  }
  bool client_keep = keep;
  if (!body_follows) {
    // No body follows (HEAD, 204, 304, or an empty one): the length, if
    // any, was copied as sent.
  } else if (length) {
    res.content_length(*length);
  } else if (chunked && version >= 11) {
    res.chunked(true);
  } else {
    client_keep = false;  // the body ends when the connection does
  }
  res.keep_alive(client_keep);
  http::response_serializer<http::buffer_body> sr(res);
  client_.set_deadline(std::nullopt);
  // The header goes out with the first piece of the body (one write, one
  // segment for a small answer), so until then a failure is still a 502.
  bool header_sent = false;
  auto send = [&](std::string_view piece, bool more) {
    res.body().data = piece.empty() ? nullptr : const_cast<char*>(piece.data());
    res.body().size = piece.size();
    res.body().more = more;
    http::write(client, sr, ec);
    header_sent = true;
    if (ec == http::error::need_buffer) ec = {};
    return !ec;
  };
  char buf[kChunk];
  bool ok = true;
  while (ok && body_follows && !parser->is_done()) {
    head.body().data = buf;
    head.body().size = sizeof buf;
    up.With([&](auto& s) { return http::read(s, up.buffer, *parser, ec); });
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      Error e = ec == asio::error::timed_out
                    ? Error{"upstream_timeout",
                            "the upstream stopped sending its answer"}
                    : Error{"upstream_error", ec.message()};
      DropUpstream();
      if (!header_sent) {
        Response r = FailedUpstream(version, plan, e);
        r.keep_alive(false);
        outcome = Answer(client, r);
        return Sent::kBroken;
      }
      plan.call.error = e.code;
      ok = false;
      break;
    }
    std::size_t n = sizeof buf - head.body().size;
    plan.call.bytes_down += n;
    std::string_view piece = redact.Push(std::string_view(buf, n));
    if (!piece.empty() && !send(piece, true)) ok = false;
  }
  if (ok) {
    std::string_view rest = redact.Finish();
    if (!rest.empty() && !send(rest, true)) ok = false;
    if (ok && !sr.is_done() && !send({}, false)) ok = false;
  }
  Record(plan);
  if (!ok || !upstream_keep) DropUpstream();
  outcome = ok && client_keep ? Outcome::kKeep : Outcome::kClose;
  return ok ? Sent::kDone : Sent::kBroken;
}

template <typename Stream>
Session::Outcome Session::Exchange(Stream& client, HeadParser& head,
                                   Target target, const std::string& token,
                                   bool in_tunnel) {
  auto& req = head.get();
  unsigned version = req.version();
  // The same token as the connection's last request: verified already
  // (its expiry still holds; revocation is checked by every decision).
  std::optional<broker::TaskCaller> caller;
  if (last_caller_ && token == last_token_ &&
      last_caller_->exp * 1000 > NowMs()) {
    caller = last_caller_;
  } else {
    caller = s_.broker.CachedTaskToken(token);
    if (!caller) {
      auto verified = s_.broker.AuthenticateTask(token, remote_);
      if (!verified) {
        return Refuse(
            client, head,
            Unauthorized(version, in_tunnel, verified.error().message));
      }
      caller = *verified;
    }
    last_token_ = token;
    last_caller_ = caller;
  }
  if (req[http::field::content_encoding].size() &&
      AsciiLower(req[http::field::content_encoding]) != "identity") {
    return Refuse(
        client, head,
        JsonError(version, http::status::unsupported_media_type,
                  "unsupported_media_type",
                  "tether decides on bodies it can read: no Content-Encoding"));
  }
  auto normalized = NormalizeTarget(req.target());
  if (!normalized) {
    return Refuse(client, head,
                  JsonError(version, http::status::bad_request,
                            "invalid_target", normalized.error().message));
  }
  std::string method(req.method_string());
  std::string path = target.base + normalized->path;
  // Which route, first without the body: a push is decided on its ref
  // updates and its pack streams; anything else is read whole.
  auto first =
      s_.routes->Match(target.host, method, path, normalized->query, nullptr);
  if (!first) {
    return Refuse(client, head,
                  JsonError(version, http::status::bad_request,
                            "invalid_request", first.error().message));
  }
  broker::EdgeRequest er;
  er.context["method"] = method;
  er.context["path"] = path;
  er.context["query"] = normalized->query;
  er.context["host"] = target.host;
  if (std::string_view wait = req["Tether-Wait"]; !wait.empty()) {
    try {
      er.wait_seconds = std::stoll(std::string(wait));
    } catch (const std::exception&) {
      return Refuse(
          client, head,
          JsonError(version, http::status::bad_request, "invalid_request",
                    "Tether-Wait is a number of seconds"));
    }
  }
  if (!head.is_done() &&
      AsciiLower(req[http::field::expect]) == "100-continue") {
    beast::error_code ec;
    std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::write(client, asio::buffer(cont.data(), cont.size()), ec);
    if (ec) return Outcome::kClose;
  }
  Plan plan;
  plan.target = target;
  plan.call.task_id = caller->task_id;
  plan.call.method = method;
  plan.call.host = target.host;
  plan.call.path = path;
  if (*first && (*first)->git_receive_pack) {
    return Push(client, head, *caller, std::move(er), **first, std::move(plan));
  }
  http::request_parser<http::string_body> whole(std::move(head));
  whole.body_limit(s_.config.proxy.max_body_bytes);
  if (!ReadBody(client, whole, version)) return Outcome::kClose;
  http::request<http::string_body> body_req = whole.release();
  bool keep = body_req.keep_alive();
  const json::value* body_json = nullptr;
  json::value parsed;
  if (AsciiLower(body_req[http::field::content_type])
              .rfind("application/json", 0) == 0 &&
      !body_req.body().empty()) {
    JsonLimits limits;
    limits.max_bytes = 4 * 1024 * 1024;
    if (auto j = ParseJson(body_req.body(), limits)) {
      parsed = std::move(*j);
      body_json = &parsed;
    }
  }
  auto match =
      s_.routes->Match(target.host, method, path, normalized->query, body_json);
  if (!match) {
    Response r = JsonError(version, http::status::bad_request,
                           "invalid_request", match.error().message);
    r.keep_alive(keep);
    return Answer(client, r);
  }
  if (*match) {
    er.action = (*match)->action;
    er.resource_type = (*match)->resource_type;
    er.resource_id = (*match)->resource_id;
    for (const auto& [k, v] : (*match)->context) er.context[k] = v;
  } else {
    er.action = "http.request";
    er.resource_type = "Host";
    er.resource_id = target.host;
  }
  if (!body_req.body().empty()) {
    Sha256Digest d = Sha256(body_req.body());
    er.body_sha256 = HexEncode(
        std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
  }
  auto decided = s_.broker.AuthorizeEdge(*caller, er);
  if (!Allowed(decided)) {
    Response r = DeniedResponse(version, decided);
    r.keep_alive(keep);
    return Answer(client, r);
  }
  // Allowed, and recorded: now the upstream.
  plan.call.decision_id = DecisionId(*decided);
  plan.call.action = er.action;
  plan.call.resource = er.resource_type + "::\"" + er.resource_id + "\"";
  plan.call.bytes_up = body_req.body().size();
  auto prepared =
      Prepare(body_req.base(), std::move(plan), path, normalized->query);
  if (!prepared) {
    Response r = JsonError(version,
                           prepared.error().code == "forbidden_destination"
                               ? http::status::forbidden
                               : http::status::bad_gateway,
                           prepared.error().code, prepared.error().message);
    r.keep_alive(keep);
    return Answer(client, r);
  }
  plan = std::move(*prepared);
  body_req.keep_alive(true);
  body_req.prepare_payload();
  bool head_only = body_req.method() == http::verb::head;
  plan.started = std::chrono::steady_clock::now();
  // A kept connection the upstream has meanwhile closed fails before any
  // answer: then once more on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto up = Connect(plan, attempt > 0);
    if (!up) {
      Response r = FailedUpstream(version, plan, up.error());
      r.keep_alive(keep);
      return Answer(client, r);
    }
    beast::error_code ec;
    (*up)->With([&](auto& s) { return http::write(s, body_req, ec); });
    Outcome outcome = Outcome::kClose;
    Sent sent = Sent::kNoAnswer;
    if (!ec) {
      sent = Relay(client, **up, plan, version, keep, head_only, outcome);
    } else if (ec == asio::error::timed_out) {
      Response r = FailedUpstream(
          version, plan,
          Error{"upstream_timeout", "the upstream did not take the request"});
      r.keep_alive(keep);
      return Answer(client, r);
    }
    if (sent != Sent::kNoAnswer) return outcome;
    bool retry = (*up)->reused && attempt == 0;
    DropUpstream();
    if (!retry) break;
  }
  Response r = FailedUpstream(
      version, plan,
      Error{"upstream_error", "the upstream closed without answering"});
  r.keep_alive(keep);
  return Answer(client, r);
}

template <typename Stream>
Session::Outcome Session::Push(Stream& client, HeadParser& head,
                               const broker::TaskCaller& who,
                               broker::EdgeRequest er, const RouteMatch& route,
                               Plan plan) {
  unsigned version = head.get().version();
  bool keep = head.get().keep_alive();
  http::request_parser<http::buffer_body> body(std::move(head));
  body.body_limit(boost::none);  // the pack streams; only time bounds it
  // Read the ref-update commands at the start of the pkt-line stream,
  // keeping the bytes read so far to send on once allowed.
  ReceivePackParser commands;
  std::string prefix;
  std::optional<Result<ReceivePackParser::State>> state;
  char buf[kChunk];
  beast::error_code ec;
  auto read_piece = [&]() -> std::size_t {
    body.get().body().data = buf;
    body.get().body().size = sizeof buf;
    while (true) {
      if (buffer_.size() > 0) {
        std::size_t used = body.put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == http::error::need_buffer || ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          return 0;
        }
        std::size_t n = sizeof buf - body.get().body().size;
        if (n > 0 || body.is_done()) return n;
        if (used > 0) continue;
      }
      std::size_t got = client.read_some(buffer_.prepare(kChunk), ec);
      buffer_.commit(got);
      if (ec) return 0;
    }
  };
  while (!body.is_done()) {
    std::size_t n = read_piece();
    if (ec) return Outcome::kClose;
    std::size_t consumed = 0;
    prefix.append(buf, n);
    state = commands.Feed(std::string_view(buf, n), consumed);
    if (!*state || **state == ReceivePackParser::State::kDone) break;
  }
  // The commands are in (or the body ended, or they were malformed): the
  // pack may stream on now, without the request's deadline.
  client_.set_deadline(std::nullopt);
  auto reject = [&](const std::string& text) {
    // Read the rest of the pack so git, still sending, reads the answer.
    bool drained = Discard(client, body, false);
    Response r{http::status::ok, version};
    r.set(http::field::content_type, "application/x-git-receive-pack-result");
    r.set(http::field::cache_control, "no-store");
    r.body() = RejectPush(commands.commands(), text);
    r.prepare_payload();
    r.keep_alive(keep && drained);
    return Answer(client, r);
  };
  if (!state || !*state || **state != ReceivePackParser::State::kDone) {
    std::string why =
        state && !*state ? (*state).error().message : "the push is truncated";
    return reject("tether: " + why);
  }
  // One decision per ref the push updates; the pack is not what is bound,
  // the updates are.
  std::string decision_id;
  for (const RefUpdate& u : commands.commands().updates) {
    broker::EdgeRequest one = er;
    one.action = route.action;
    one.resource_type = route.resource_type;
    one.resource_id = route.resource_id;
    for (const auto& [k, v] : route.context) one.context[k] = v;
    one.context["ref"] = u.ref;
    one.context["old"] = u.old_oid;
    one.context["new"] = u.new_oid;
    one.context["is_create"] = u.is_create;
    one.context["is_delete"] = u.is_delete;
    auto decided = s_.broker.AuthorizeEdge(who, one);
    if (!Allowed(decided)) {
      std::string text = "tether: " + u.ref + ": " + DenialReason(decided);
      if (decided) {
        const json::value* ap = decided->if_contains("approval");
        if (ap && ap->is_object() && ap->as_object().contains("console_url")) {
          text = "tether: approval required: " +
                 std::string(ap->as_object().at("console_url").as_string());
        }
      }
      return reject(text);
    }
    if (decision_id.empty()) {
      decision_id = DecisionId(*decided);
      plan.call.action = one.action;
      plan.call.resource = one.resource_type + "::\"" + one.resource_id + "\"";
    }
  }
  plan.call.decision_id = decision_id;
  if (plan.call.action.empty()) {
    // A push that updates nothing (git's probe of "0000"): nothing to
    // decide, and nothing it can change.
    plan.call.action = route.action;
    plan.call.resource =
        route.resource_type + "::\"" + route.resource_id + "\"";
  }
  http::request<http::buffer_body> up_req{std::move(body.get().base())};
  std::string path(er.context["path"].as_string());
  std::string query(er.context["query"].as_string());
  auto prepared = Prepare(up_req.base(), std::move(plan), path, query);
  if (!prepared) {
    bool drained = Discard(client, body, false);
    Response r = JsonError(version,
                           prepared.error().code == "forbidden_destination"
                               ? http::status::forbidden
                               : http::status::bad_gateway,
                           prepared.error().code, prepared.error().message);
    r.keep_alive(keep && drained);
    return Answer(client, r);
  }
  plan = std::move(*prepared);
  // The body goes on framed as it came: chunked, or its length.
  if (auto cl = body.content_length()) {
    up_req.content_length(*cl);
  } else {
    up_req.chunked(true);
  }
  up_req.keep_alive(true);
  plan.started = std::chrono::steady_clock::now();
  auto up = Connect(plan, true);
  if (!up) {
    bool drained = Discard(client, body, false);
    Response r = FailedUpstream(version, plan, up.error());
    r.keep_alive(keep && drained);
    return Answer(client, r);
  }
  UpstreamConn& conn = **up;
  http::request_serializer<http::buffer_body> sr(up_req);
  auto send = [&](std::string_view piece, bool more) {
    up_req.body().data =
        piece.empty() ? nullptr : const_cast<char*>(piece.data());
    up_req.body().size = piece.size();
    up_req.body().more = more;
    conn.With([&](auto& s) { return http::write(s, sr, ec); });
    if (ec == http::error::need_buffer) ec = {};
    return !ec;
  };
  conn.With([&](auto& s) { return http::write_header(s, sr, ec); });
  bool ok = !ec && send(prefix, true);
  plan.call.bytes_up = prefix.size();
  while (ok && !body.is_done()) {
    std::size_t n = read_piece();
    if (ec) {
      // The client stopped sending: the upstream gets a truncated body
      // and the connection to it is dropped.
      DropUpstream();
      plan.call.error = "client_aborted";
      Record(plan);
      return Outcome::kClose;
    }
    plan.call.bytes_up += n;
    if (n > 0) ok = send(std::string_view(buf, n), true);
  }
  if (ok) ok = send({}, false);
  if (!ok) {
    Error e = ec == asio::error::timed_out
                  ? Error{"upstream_timeout", "the upstream stopped reading"}
                  : Error{"upstream_error", ec.message()};
    DropUpstream();
    Response r = FailedUpstream(version, plan, e);
    r.keep_alive(false);
    return Answer(client, r);
  }
  Outcome outcome = Outcome::kClose;
  Sent sent = Relay(client, conn, plan, version, keep, false, outcome);
  if (sent == Sent::kNoAnswer) {
    DropUpstream();
    Response r = FailedUpstream(
        version, plan,
        Error{"upstream_error", "the upstream closed without answering"});
    r.keep_alive(false);
    return Answer(client, r);
  }
  return outcome;
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
    auto url = net::ParseHttpUrl(u.url);
    if (!url) {
      return MakeError("invalid_config", "proxy upstream `" + u.name +
                                             "`: " + url.error().message);
    }
    impl->upstreams[u.name] = *url;
  }
  {
    beast::error_code ec;
    impl->upstream_tls.set_options(
        ssl::context::default_workarounds | ssl::context::no_sslv2 |
        ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
        ssl::context::no_tlsv1_1);
    impl->upstream_tls.set_verify_mode(ssl::verify_peer);
    if (!config.proxy.upstream_ca_file.empty()) {
      impl->upstream_tls.load_verify_file(config.proxy.upstream_ca_file, ec);
    } else {
      impl->upstream_tls.set_default_verify_paths(ec);
    }
    if (ec) {
      return MakeError(
          "invalid_config",
          "proxy: cannot load the upstream trust store: " + ec.message());
    }
  }
  std::string host, port;
  if (!net::SplitHostPort(config.proxy.listen, host, port)) {
    return MakeError("invalid_config", "proxy.listen must be host:port");
  }
  if (Status st = net::Listen(impl->acceptor, host, port); !st) {
    return MakeError("listen_failed", "proxy: " + st.error().message);
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

std::vector<std::string> ProxyServer::hosts() const {
  return impl_->routes->Hosts();
}

void ProxyServer::Shutdown() {
  if (impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  // Unblock accept() by closing the acceptor's socket.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  // Every blocked read or write wakes at once; a thread held in a decision
  // (an approval wait) ends with it. Sessions use this object, so wait for
  // every one to end.
  std::unique_lock lock(impl_->mu);
  for (int fd : impl_->open_sockets) ::shutdown(fd, SHUT_RDWR);
  impl_->idle_cv.wait(lock, [&] { return impl_->connections == 0; });
}

}  // namespace tether::proxy
