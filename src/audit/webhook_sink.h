// An audit sink that POSTs batches to an HTTP(S) webhook:
//   {"events": [{"seq": 1, ...}, ...]}
// A 2xx response accepts the batch; anything else (or a timeout) is retried
// by the Exporter with backoff. HTTPS verifies the server's certificate and
// host name against the system trust store or `ca_file`.
#ifndef TETHER_AUDIT_WEBHOOK_SINK_H_
#define TETHER_AUDIT_WEBHOOK_SINK_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "audit/export.h"

namespace tether::audit {

struct WebhookOptions {
  std::string name;
  std::string url;  // http://... or https://...
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{10'000};
  std::string ca_file;  // empty: the system trust store
};

// Fails (code "invalid_config") on a URL that is not http(s) with a host.
Result<std::unique_ptr<Sink>> MakeWebhookSink(WebhookOptions options);

}  // namespace tether::audit

#endif  // TETHER_AUDIT_WEBHOOK_SINK_H_
