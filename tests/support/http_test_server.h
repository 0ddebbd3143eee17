// A real HTTP/1.1 server on 127.0.0.1 (ephemeral port) for tests that need
// a peer: records every request and answers with a status the test chooses
// (by a handler), optionally after a delay.
#ifndef TETHER_TESTS_SUPPORT_HTTP_TEST_SERVER_H_
#define TETHER_TESTS_SUPPORT_HTTP_TEST_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tether::testing {

struct RecordedRequest {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct CannedResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class HttpTestServer {
 public:
  // Returns the HTTP status for the n-th request (0-based).
  using Handler = std::function<int(int n, const RecordedRequest&)>;
  // Returns the whole response for the n-th request.
  using ResponseHandler =
      std::function<CannedResponse(int n, const RecordedRequest&)>;

  explicit HttpTestServer(Handler handler);
  explicit HttpTestServer(ResponseHandler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const;
  std::vector<RecordedRequest> requests() const;

 private:
  void Serve();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ResponseHandler handler_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_HTTP_TEST_SERVER_H_
