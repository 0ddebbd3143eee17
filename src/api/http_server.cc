// The one translation unit that compiles Beast's server side.
#include "api/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "net/listen.h"

namespace tether::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// The SPIFFE ID of a verified X.509-SVID: exactly one URI SAN, spiffe://.
std::string PeerSpiffeId(SSL* ssl_handle) {
  if (SSL_get_verify_result(ssl_handle) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_handle);
  if (!cert) return {};
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string out;
  int uris = 0;
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type != GEN_URI) continue;
      ++uris;
      const ASN1_IA5STRING* s = n->d.uniformResourceIdentifier;
      out.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                 static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(names);
  }
  X509_free(cert);
  if (uris != 1 || out.rfind("spiffe://", 0) != 0) return {};
  return out;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void CloseIfIdle() = 0;
};

}  // namespace

HttpResponse JsonError(int status, std::string_view code,
                       std::string_view message) {
  HttpResponse r;
  r.status = status;
  boost::json::object o{
      {"error", boost::json::object{{"code", code}, {"message", message}}}};
  r.body = boost::json::serialize(o);
  return r;
}

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o)
      : options(std::move(o)), ioc(options.io_threads), acceptor(ioc) {}

  HttpServerOptions options;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  std::optional<ssl::context> tls;
  std::unique_ptr<asio::thread_pool> workers;
  HttpHandler handler;
  InlineHandler fast;
  std::vector<std::thread> threads;
  std::atomic<int> in_flight{0};
  std::atomic<int> connections{0};  // live sessions
  asio::steady_timer retry_timer{ioc};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  bool stopped = false;                              // guarded by mu

  void Register(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard lock(mu);
    if (sessions.size() >= 1024 && (sessions.size() & 1023) == 0) {
      std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    }
    sessions.push_back(s);
  }
  void Accept();
};

namespace {

template <bool kTls>
class Session : public SessionBase,
                public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>,
                                    beast::tcp_stream>;

  ~Session() override { server_.connections.fetch_sub(1); }

  Session(HttpServer::Impl& server, tcp::socket socket)
      : server_(server), stream_(MakeStream(server, std::move(socket))) {
    server_.connections.fetch_add(1);
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = ep.address().to_string();
      loopback_ =
          ep.address().is_loopback() ||
          (ep.address().is_v6() && ep.address().to_v6().is_v4_mapped() &&
           asio::ip::make_address_v4(asio::ip::v4_mapped, ep.address().to_v6())
               .is_loopback());
    }
  }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        beast::get_lowest_layer(self->stream_)
            .expires_after(self->server_.options.request_timeout);
        self->stream_.async_handshake(
            ssl::stream_base::server,
            [self](beast::error_code ec) { self->OnHandshake(ec); });
      } else {
        self->DoRead();
      }
    });
  }

  void CloseIfIdle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) {
        beast::error_code ec;
        beast::get_lowest_layer(self->stream_).socket().cancel(ec);
      }
    });
  }

 private:
  static Stream MakeStream(HttpServer::Impl& server, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // nothing to answer over a failed handshake
    if constexpr (kTls) spiffe_id_ = PeerSpiffeId(stream_.native_handle());
    DoRead();
  }

  void DoRead() {
    if (server_.stopping.load()) return DoClose();
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(
        server_.options.request_timeout);
    idle_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(beast::error_code ec) {
    idle_ = false;
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted) {
      return DoClose();
    }
    if (ec == beast::error::timeout) {
      // The stream closed the socket when its deadline passed (a slow or
      // stalled client): there is no one to answer.
      return DoClose();
    }
    if (ec == http::error::body_limit) {
      return Send(JsonError(413, "body_too_large",
                            "the body exceeds " +
                                std::to_string(server_.options.max_body_bytes) +
                                " bytes"),
                  false);
    }
    if (ec == http::error::header_limit) {
      return Send(
          JsonError(431, "headers_too_large",
                    "the headers exceed " +
                        std::to_string(server_.options.max_header_bytes) +
                        " bytes"),
          false);
    }
    if (ec) {
      if (parser_->got_some() &&
          ec.category() ==
              http::make_error_code(http::error::bad_target).category()) {
        return Send(JsonError(400, "bad_request",
                              "malformed HTTP request: " + ec.message()),
                    false);
      }
      return DoClose();
    }
    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    std::size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    r.content_type = std::string(req[http::field::content_type]);
    r.authorization = std::string(req[http::field::authorization]);
    r.last_event_id = std::string(req["Last-Event-ID"]);
    r.host = std::string(req[http::field::host]);
    r.origin = std::string(req[http::field::origin]);
    r.cookie = std::string(req[http::field::cookie]);
    r.csrf_token = std::string(req["X-Tether-CSRF"]);
    r.body = std::move(req.body());
    r.remote = remote_;
    r.loopback = loopback_;
    r.tls = kTls;
    r.peer_spiffe_id = spiffe_id_;
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    if (version < 11 && !req.keep_alive()) keep_alive = false;
    server_.in_flight.fetch_add(1);
    if (server_.fast) {
      Responder respond = [self = this->shared_from_this(),
                           keep_alive](HttpResponse res) {
        asio::post(self->stream_.get_executor(),
                   [self, res = std::move(res), keep_alive]() mutable {
                     self->Send(std::move(res), keep_alive, true);
                   });
      };
      if (server_.fast(r, respond)) return;
    }
    asio::post(*server_.workers, [self = this->shared_from_this(),
                                  r = std::move(r), keep_alive]() mutable {
      HttpResponse res = self->server_.handler(r);
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res), keep_alive]() mutable {
                   self->Send(std::move(res), keep_alive, true);
                 });
    });
  }

  void Send(HttpResponse res, bool keep_alive, bool counted = false) {
    if (res.stream) return StartStream(std::move(res), counted);
    auto msg = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(res.status), 11);
    msg->set(http::field::content_type, res.content_type);
    msg->set(http::field::cache_control, "no-store");
    msg->set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : res.headers) {
      // Set-Cookie repeats; every other header replaces the default.
      if (beast::iequals(k, "Set-Cookie")) {
        msg->insert(k, v);
      } else {
        msg->set(k, v);
      }
    }
    // A trailing newline, so a JSON answer ends its line in a terminal.
    if (!res.body.empty() && res.body.back() != '\n' &&
        res.content_type == "application/json") {
      res.body += '\n';
    }
    msg->body() = std::move(res.body);
    keep_alive = keep_alive && !server_.stopping.load();
    msg->keep_alive(keep_alive);
    msg->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(
        server_.options.request_timeout);
    http::async_write(stream_, *msg,
                      [self = this->shared_from_this(), msg, keep_alive,
                       counted](beast::error_code ec, std::size_t) {
                        if (counted) self->server_.in_flight.fetch_sub(1);
                        if (ec || !keep_alive) return self->DoClose();
                        self->DoRead();
                      });
  }

  // A streamed response: the head by hand (no length: the body ends when
  // the connection closes), then whatever the stream's polls return.
  void StartStream(HttpResponse res, bool counted) {
    stream_body_ = std::move(res.stream);
    stream_counted_ = counted;
    auto head = std::make_shared<std::string>(
        "HTTP/1.1 " + std::to_string(res.status) + " " +
        std::string(
            http::obsolete_reason(static_cast<http::status>(res.status))) +
        "\r\nContent-Type: " + res.content_type +
        "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff"
        "\r\nConnection: close\r\n");
    for (const auto& [k, v] : res.headers) *head += k + ": " + v + "\r\n";
    *head += "\r\n";
    WriteStream(std::move(head));
  }

  void WriteStream(std::shared_ptr<std::string> data) {
    beast::get_lowest_layer(stream_).expires_after(
        server_.options.request_timeout);
    asio::async_write(stream_, asio::buffer(*data),
                      [self = this->shared_from_this(), data](
                          beast::error_code ec, std::size_t) {
                        if (ec) return self->EndStream();
                        self->WaitStream();
                      });
  }

  void WaitStream() {
    if (server_.stopping.load()) return EndStream();
    beast::get_lowest_layer(stream_).expires_never();
    if (!timer_) timer_.emplace(stream_.get_executor());
    timer_->expires_after(stream_body_->interval);
    timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->EndStream();
      self->PollStream();
    });
  }

  void PollStream() {
    if (server_.stopping.load()) return EndStream();
    asio::post(*server_.workers, [self = this->shared_from_this()] {
      std::optional<std::string> chunk;
      try {
        chunk = self->stream_body_->Poll();
      } catch (const std::exception&) {
        chunk.reset();
      }
      asio::post(
          self->stream_.get_executor(),
          [self, chunk = std::move(chunk)]() mutable {
            if (!chunk) return self->EndStream();
            if (chunk->empty()) return self->WaitStream();
            self->WriteStream(std::make_shared<std::string>(std::move(*chunk)));
          });
    });
  }

  void EndStream() {
    if (!stream_body_) return;
    stream_body_.reset();
    if (timer_) timer_->cancel();
    if (stream_counted_) server_.in_flight.fetch_sub(1);
    DoClose();
  }

  void DoClose() {
    beast::error_code ec;
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) {
            beast::error_code ignored;
            beast::get_lowest_layer(self->stream_).socket().close(ignored);
          });
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.socket().close(ec);
    }
  }

  HttpServer::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string remote_;
  bool loopback_ = false;
  std::string spiffe_id_;
  bool idle_ = false;
  std::shared_ptr<HttpStream> stream_body_;  // a streamed response
  bool stream_counted_ = false;
  std::optional<asio::steady_timer> timer_;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(
      asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
        if (ec) {
          if (ec == asio::error::operation_aborted || stopping.load()) return;
          // EMFILE and the like: the next accept would fail at once, so
          // wait a little instead of spinning.
          retry_timer.expires_after(std::chrono::milliseconds(50));
          retry_timer.async_wait([this](beast::error_code wait_ec) {
            if (!wait_ec && !stopping.load()) Accept();
          });
          return;
        }
        if (stopping.load()) return;
        beast::error_code ignored;
        if (connections.load() >= options.max_connections) {
          // At the bound, a new connection is closed at once: idle clients
          // cannot exhaust descriptors and memory.
          s.close(ignored);
          return Accept();
        }
        s.set_option(tcp::no_delay(true), ignored);
        if (tls) {
          auto session = std::make_shared<Session<true>>(*this, std::move(s));
          Register(session);
          session->Start();
        } else {
          auto session = std::make_shared<Session<false>>(*this, std::move(s));
          Register(session);
          session->Start();
        }
        Accept();
      });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(
    HttpServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  const HttpServerOptions& o = impl->options;
  if (!o.tls_cert.empty()) {
    try {
      impl->tls.emplace(ssl::context::tls_server);
      impl->tls->set_options(ssl::context::default_workarounds |
                             ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      impl->tls->use_certificate_chain_file(o.tls_cert);
      impl->tls->use_private_key_file(o.tls_key, ssl::context::pem);
      if (!o.client_ca.empty()) {
        impl->tls->load_verify_file(o.client_ca);
        impl->tls->set_verify_mode(
            ssl::verify_peer |
            (o.require_client_cert ? ssl::verify_fail_if_no_peer_cert : 0));
      }
    } catch (const std::exception& e) {
      return MakeError(
          "invalid_config",
          std::string("cannot load the tls certificate or key: ") + e.what());
    }
  }
  if (Status st = net::Listen(impl->acceptor, o.host, o.port); !st) {
    return st.error();
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

bool HttpServer::tls() const { return impl_->tls.has_value(); }

void HttpServer::Serve(HttpHandler handler, InlineHandler fast) {
  impl_->handler = std::move(handler);
  impl_->fast = std::move(fast);
  impl_->workers =
      std::make_unique<asio::thread_pool>(impl_->options.worker_threads);
  impl_->Accept();
  for (int i = 0; i < impl_->options.io_threads; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpServer::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->stopping.store(true);
  asio::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& w : impl_->sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
  live.clear();
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->in_flight.load() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (impl_->workers) impl_->workers->join();
  // Let the last responses go out.
  auto flush =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (impl_->in_flight.load() > 0 &&
         std::chrono::steady_clock::now() < flush) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace tether::api
