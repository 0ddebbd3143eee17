// The one translation unit that compiles Beast's client side.
#include "net/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <exception>

namespace tether::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Error Failed(const HttpUrl& url, const std::string& why) {
  return MakeError("http_error", url.host + ":" + url.port + ": " + why);
}

template <typename Stream>
Result<HttpClientResponse> Exchange(Stream& stream, const HttpUrl& url,
                                    http::request<http::string_body>& req,
                                    std::size_t limit) {
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Failed(url, "cannot send: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(limit);
  parser.header_limit(64 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) return Failed(url, "cannot read the response: " + ec.message());
  auto& res = parser.get();
  HttpClientResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  for (const auto& f : res) {
    out.headers.emplace_back(std::string(f.name_string()),
                             std::string(f.value()));
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url) {
    return MakeError("invalid_url",
                     "`" + std::string(text) + "` is not a valid url");
  }
  std::string scheme(url->scheme());
  if (scheme != "http" && scheme != "https") {
    return MakeError("invalid_url",
                     "`" + std::string(text) + "` must be http or https");
  }
  HttpUrl out;
  out.tls = scheme == "https";
  out.host = std::string(url->host());
  if (out.host.empty()) {
    return MakeError("invalid_url", "`" + std::string(text) + "` has no host");
  }
  if (url->host_type() == boost::urls::host_type::ipv6) {
    // Strip the brackets for the resolver.
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  out.port =
      url->has_port() ? std::string(url->port()) : (out.tls ? "443" : "80");
  out.target = std::string(url->encoded_target());
  if (out.target.empty()) out.target = "/";
  return out;
}

Result<HttpClientResponse> HttpFetch(const HttpClientRequest& request) {
  auto url = ParseHttpUrl(request.url);
  if (!url) return url.error();
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return MakeError("http_error", "unknown method `" + request.method + "`");
  }
  http::request<http::string_body> req{verb, url->target, 11};
  // RFC 9110 7.2: the port unless it is the scheme's default; an IPv6
  // literal in brackets.
  std::string host = url->host.find(':') != std::string::npos
                         ? "[" + url->host + "]"
                         : url->host;
  if (url->port != (url->tls ? "443" : "80")) host += ":" + url->port;
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "tether");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  if (!request.body.empty() || verb != http::verb::get) req.prepare_payload();
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::error_code ec;
    auto endpoints = resolver.resolve(url->host, url->port, ec);
    if (ec) return Failed(*url, "cannot resolve: " + ec.message());
    if (!url->tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(request.timeout);
      stream.connect(endpoints, ec);
      if (ec) return Failed(*url, "cannot connect: " + ec.message());
      auto out = Exchange(stream, *url, req, request.max_response_bytes);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return out;
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (request.ca_file.empty()) {
      ctx.set_default_verify_paths();
    } else {
      ctx.load_verify_file(request.ca_file);
    }
    if (!request.client_cert.empty()) {
      ctx.use_certificate_chain_file(request.client_cert);
      ctx.use_private_key_file(request.client_key, asio::ssl::context::pem);
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url->host.c_str())) {
      return Failed(*url, "cannot set the tls server name");
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(url->host));
    beast::get_lowest_layer(stream).expires_after(request.timeout);
    beast::get_lowest_layer(stream).connect(endpoints, ec);
    if (ec) return Failed(*url, "cannot connect: " + ec.message());
    stream.handshake(asio::ssl::stream_base::client, ec);
    if (ec) return Failed(*url, "tls handshake failed: " + ec.message());
    auto out = Exchange(stream, *url, req, request.max_response_bytes);
    beast::error_code ignored;
    stream.shutdown(ignored);
    return out;
  } catch (const std::exception& e) {
    // Loading a CA or client certificate file throws.
    return Failed(*url, e.what());
  }
}

}  // namespace tether::net
