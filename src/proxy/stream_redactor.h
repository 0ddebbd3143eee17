// Masks the exact values of injected credentials in what an upstream sends
// back, as it streams (docs/proxy.md, "Credentials"): an upstream that
// echoes the credential (an error page quoting the Authorization header, a
// debug endpoint) must not hand it to the agent.
//
// A value is overwritten in place by "[REDACTED]" padded with '*' to the
// value's length, so a Content-Length stays true and the body can stream.
// The last (longest value - 1) bytes of what came in are held back until the
// next piece shows whether they begin a value; Finish() releases them.
#ifndef TETHER_PROXY_STREAM_REDACTOR_H_
#define TETHER_PROXY_STREAM_REDACTOR_H_

#include <string>
#include <string_view>
#include <vector>

namespace tether::proxy {

class StreamRedactor {
 public:
  explicit StreamRedactor(std::vector<std::string> values);

  // False when there is nothing to mask: Push then returns its input.
  bool active() const { return !values_.empty(); }

  // Masks every value in `s` (a header value, a whole body).
  void Mask(std::string& s) const;

  // Takes the next piece of the body; returns what may be sent now (valid
  // until the next call).
  std::string_view Push(std::string_view piece);
  // The held-back rest, once the body has ended.
  std::string_view Finish();

 private:
  std::vector<std::string> values_;
  std::size_t hold_ = 0;
  std::string pending_;
  std::size_t released_ = 0;  // leading bytes of pending_ already returned
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_STREAM_REDACTOR_H_
