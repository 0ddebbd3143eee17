#include "tests/support/http_test_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tether::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpTestServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

HttpTestServer::HttpTestServer(Handler handler)
    : HttpTestServer(ResponseHandler(
          [handler = std::move(handler)](int n, const RecordedRequest& r) {
            int status = handler(n, r);
            return CannedResponse{status, "text/plain",
                                  "status " + std::to_string(status)};
          })) {}

HttpTestServer::HttpTestServer(ResponseHandler handler)
    : impl_(std::make_unique<Impl>()), handler_(std::move(handler)) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] { Serve(); });
}

HttpTestServer::~HttpTestServer() {
  stop_ = true;
  // Wake the blocking accept with a connection of our own.
  try {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                            static_cast<unsigned short>(port_)));
  } catch (...) {
  }
  if (thread_.joinable()) thread_.join();
}

std::string HttpTestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<RecordedRequest> HttpTestServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void HttpTestServer::Serve() {
  int n = 0;
  while (!stop_) {
    tcp::socket socket(impl_->io);
    beast::error_code ec;
    impl_->acceptor.accept(socket, ec);
    if (ec || stop_) continue;
    beast::flat_buffer buffer;
    while (true) {
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      RecordedRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.body = req.body();
      for (const auto& f : req) {
        r.headers.emplace_back(std::string(f.name_string()),
                               std::string(f.value()));
      }
      CannedResponse canned = handler_(n++, r);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(std::move(r));
      }
      http::response<http::string_body> res{
          static_cast<http::status>(canned.status), req.version()};
      res.set(http::field::content_type, canned.content_type);
      res.body() = std::move(canned.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) break;
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
}

}  // namespace tether::testing
