// The one translation unit that compiles Beast for the audit library.
#include "audit/webhook_sink.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

namespace tether::audit {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class WebhookSink : public Sink {
 public:
  WebhookSink(WebhookOptions options, bool tls, std::string host,
              std::string port, std::string target)
      : options_(std::move(options)),
        tls_(tls),
        host_(std::move(host)),
        port_(std::move(port)),
        target_(std::move(target)) {}

  const std::string& name() const override { return options_.name; }

  Status Deliver(std::span<const ExportRecord> batch) override {
    std::string body = "{\"events\":[";
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i) body += ',';
      body += batch[i].json;
    }
    body += "]}";
    http::request<http::string_body> req{http::verb::post, target_, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "tether-audit");
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : options_.headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    try {
      return tls_ ? Send<true>(req) : Send<false>(req);
    } catch (const std::exception& e) {
      return MakeError("sink_error",
                       "webhook " + options_.name + ": " + e.what());
    }
  }

 private:
  template <bool kTls>
  Status Send(http::request<http::string_body>& req) {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::error_code ec;
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return Failed("cannot resolve " + host_ + ": " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    beast::flat_buffer buffer;
    if constexpr (kTls) {
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      if (options_.ca_file.empty()) {
        ctx.set_default_verify_paths();
      } else {
        ctx.load_verify_file(options_.ca_file);
      }
      beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
      if (!SSL_set_tlsext_host_name(stream.native_handle(), host_.c_str())) {
        return Failed("cannot set the tls server name");
      }
      stream.set_verify_callback(asio::ssl::host_name_verification(host_));
      beast::get_lowest_layer(stream).expires_after(options_.timeout);
      beast::get_lowest_layer(stream).connect(endpoints, ec);
      if (ec) return Failed("cannot connect: " + ec.message());
      stream.handshake(asio::ssl::stream_base::client, ec);
      if (ec) return Failed("tls handshake failed: " + ec.message());
      http::write(stream, req, ec);
      if (!ec) http::read(stream, buffer, parser, ec);
      if (ec) return Failed(ec.message());
      beast::error_code ignored;
      stream.shutdown(ignored);
    } else {
      beast::tcp_stream stream(io);
      stream.expires_after(options_.timeout);
      stream.connect(endpoints, ec);
      if (ec) return Failed("cannot connect: " + ec.message());
      http::write(stream, req, ec);
      if (!ec) http::read(stream, buffer, parser, ec);
      if (ec) return Failed(ec.message());
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    unsigned status = parser.get().result_int();
    if (status < 200 || status > 299) {
      return Failed("answered http " + std::to_string(status));
    }
    return {};
  }

  Error Failed(const std::string& why) const {
    return MakeError("sink_error", "webhook " + options_.name + ": " + why);
  }

  WebhookOptions options_;
  bool tls_;
  std::string host_, port_, target_;
};

}  // namespace

Result<std::unique_ptr<Sink>> MakeWebhookSink(WebhookOptions options) {
  auto url = boost::urls::parse_uri(options.url);
  if (!url) {
    return MakeError("invalid_config",
                     "webhook url `" + options.url + "` is not a valid url");
  }
  std::string scheme(url->scheme());
  if (scheme != "http" && scheme != "https") {
    return MakeError("invalid_config",
                     "webhook url `" + options.url + "` must be http or https");
  }
  std::string host(url->host());
  if (host.empty()) {
    return MakeError("invalid_config",
                     "webhook url `" + options.url + "` has no host");
  }
  bool tls = scheme == "https";
  std::string port =
      url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  std::string target(url->encoded_target());
  if (target.empty()) target = "/";
  if (options.name.empty()) options.name = "webhook:" + host;
  return std::unique_ptr<Sink>(new WebhookSink(std::move(options), tls,
                                               std::move(host), std::move(port),
                                               std::move(target)));
}

}  // namespace tether::audit
