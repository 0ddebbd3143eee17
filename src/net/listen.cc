#include "net/listen.h"

namespace tether::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool SplitHostPort(const std::string& listen, std::string& host,
                   std::string& port) {
  if (!listen.empty() && listen[0] == '[') {
    std::size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() ||
        listen[close + 1] != ':') {
      return false;
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    std::size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(port) <= 65535;
}

Status Listen(tcp::acceptor& acceptor, const std::string& host,
              const std::string& port) {
  boost::system::error_code ec;
  tcp::resolver resolver(acceptor.get_executor());
  auto endpoints = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return MakeError("listen_failed", "cannot resolve " + host + ":" + port);
  }
  tcp::endpoint ep = endpoints.begin()->endpoint();
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError("listen_failed", "cannot listen on " + host + ":" + port +
                                          ": " + ec.message());
  }
  return {};
}

}  // namespace tether::net
