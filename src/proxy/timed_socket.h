// A blocking TCP socket whose every read and write waits at most a given
// time (and never past an optional deadline), for the proxy's
// thread-per-connection I/O. Asio's own synchronous operations wait without
// limit (a socket timeout makes them poll again), so a client or upstream
// that goes silent would hold its thread for ever; this wrapper polls with
// the time left and fails the operation with asio::error::timed_out.
//
// It models Asio's SyncReadStream and SyncWriteStream, so Beast's HTTP
// reads and writes and asio::ssl::stream<TimedSocket&> run over it.
// ::shutdown() of the file descriptor from another thread wakes a waiting
// operation at once.
//
// Included only by the proxy's implementation files: it pulls in Asio.
#ifndef TETHER_PROXY_TIMED_SOCKET_H_
#define TETHER_PROXY_TIMED_SOCKET_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <chrono>
#include <optional>

namespace tether::proxy {

class TimedSocket {
 public:
  using clock = std::chrono::steady_clock;
  using lowest_layer_type = boost::asio::ip::tcp::socket;
  using executor_type = lowest_layer_type::executor_type;

  TimedSocket(lowest_layer_type& socket, std::chrono::milliseconds timeout)
      : socket_(socket), timeout_(timeout) {}

  executor_type get_executor() { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_; }
  const lowest_layer_type& lowest_layer() const { return socket_; }
  int fd() const { return socket_.native_handle(); }

  // The longest a single read or write may wait.
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // No operation waits past `at` (std::nullopt: none).
  void set_deadline(std::optional<clock::time_point> at) { deadline_ = at; }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers,
                        boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    int n = Gather(buffers, iov);
    if (n == 0) {
      ec = {};
      return 0;
    }
    if (deadline_ && clock::now() >= *deadline_) {
      ec = boost::asio::error::timed_out;
      return 0;
    }
    // Wait first: a read is issued when the bytes are needed, which is
    // mostly before they have come (an answer, the next request). Writes
    // below try first instead: there is mostly room.
    if (!Wait(POLLIN, ec)) return 0;
    while (true) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(n);
      ssize_t got = ::recvmsg(fd(), &msg, MSG_DONTWAIT);
      if (got > 0) {
        ec = {};
        return static_cast<std::size_t>(got);
      }
      if (got == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
      if (!Wait(POLLIN, ec)) return 0;
    }
  }

  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers,
                         boost::system::error_code& ec) {
    iovec iov[kMaxIov];
    int n = Gather(buffers, iov);
    if (n == 0) {
      ec = {};
      return 0;
    }
    while (true) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(n);
      ssize_t sent = ::sendmsg(fd(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent >= 0) {
        ec = {};
        return static_cast<std::size_t>(sent);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
      if (!Wait(POLLOUT, ec)) return 0;
    }
  }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    boost::system::error_code ec;
    std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  static constexpr int kMaxIov = 16;

  template <typename Buffers>
  static int Gather(const Buffers& buffers, iovec* iov) {
    int n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n < kMaxIov; ++it) {
      auto b = boost::asio::buffer(*it);
      if (b.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(static_cast<const void*>(b.data()));
      iov[n].iov_len = b.size();
      ++n;
    }
    return n;
  }

  // Waits until the socket is ready for `events`; false (ec set) on
  // timeout or error.
  bool Wait(short events, boost::system::error_code& ec) {
    auto wait = timeout_;
    if (deadline_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline_ - clock::now());
      wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
    }
    auto until = clock::now() + wait;
    while (true) {
      pollfd p{fd(), events, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - clock::now());
      int r = ::poll(&p, 1,
                     static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      if (r > 0) return true;  // ready, or an error the next call reports
      if (r == 0) {
        ec = boost::asio::error::timed_out;
        return false;
      }
      if (errno == EINTR) continue;
      ec = boost::system::error_code(errno, boost::system::system_category());
      return false;
    }
  }

  lowest_layer_type& socket_;
  std::chrono::milliseconds timeout_;
  std::optional<clock::time_point> deadline_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TIMED_SOCKET_H_
