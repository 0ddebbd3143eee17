// Listening sockets for tether's servers (the REST API and the proxy): one
// way to read a `host:port` setting and to open, bind and listen.
#ifndef TETHER_NET_LISTEN_H_
#define TETHER_NET_LISTEN_H_

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "core/result.h"

namespace tether::net {

// Splits `host:port` or `[v6]:port`; false unless the port is 0..65535
// and the host non-empty.
bool SplitHostPort(const std::string& listen, std::string& host,
                   std::string& port);

// Resolves `host` (passive), then opens, binds (reuse_address) and listens
// on `acceptor`. Error code "listen_failed".
Status Listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& host,
              const std::string& port);

}  // namespace tether::net

#endif  // TETHER_NET_LISTEN_H_
