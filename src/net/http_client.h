// A small blocking HTTP/1.1 client for tether's outbound calls: audit
// webhooks, JWKS documents, ticket lookups and the CLI talking to a server.
//
// One request per connection. HTTPS verifies the peer's certificate chain and
// host name against the system trust store or `ca_file`; a client certificate
// may be presented (mTLS). Every call has a deadline and a response size
// limit. Beast is compiled in http_client.cc only.
#ifndef TETHER_NET_HTTP_CLIENT_H_
#define TETHER_NET_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace tether::net {

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path?query or https://...
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when non-empty or not GET
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_response_bytes = 1024 * 1024;
  std::string ca_file;      // empty: the system trust store
  std::string client_cert;  // PEM files for mTLS; both or neither
  std::string client_key;
};

struct HttpClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A URL split for a request.
struct HttpUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
};

// Error code "invalid_url" unless `url` is http(s) with a host.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

// Any HTTP status is a successful result; transport failures (resolution,
// connection, TLS, timeout, oversized or malformed response) are errors with
// code "http_error".
Result<HttpClientResponse> HttpFetch(const HttpClientRequest& request);

}  // namespace tether::net

#endif  // TETHER_NET_HTTP_CLIENT_H_
