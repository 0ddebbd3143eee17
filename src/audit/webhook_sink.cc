#include "audit/webhook_sink.h"

#include "net/http_client.h"

namespace tether::audit {
namespace {

class WebhookSink : public Sink {
 public:
  explicit WebhookSink(WebhookOptions options) : options_(std::move(options)) {}

  const std::string& name() const override { return options_.name; }

  Status Deliver(std::span<const ExportRecord> batch) override {
    net::HttpClientRequest req;
    req.method = "POST";
    req.url = options_.url;
    req.headers = options_.headers;
    req.headers.emplace_back("Content-Type", "application/json");
    req.timeout = options_.timeout;
    req.ca_file = options_.ca_file;
    req.max_response_bytes = 64 * 1024;
    req.body = "{\"events\":[";
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (i) req.body += ',';
      req.body += batch[i].json;
    }
    req.body += "]}";
    auto res = net::HttpFetch(req);
    if (!res) return Failed(res.error().message);
    if (res->status < 200 || res->status > 299) {
      return Failed("answered http " + std::to_string(res->status));
    }
    return {};
  }

 private:
  Error Failed(const std::string& why) const {
    return MakeError("sink_error", "webhook " + options_.name + ": " + why);
  }

  WebhookOptions options_;
};

}  // namespace

Result<std::unique_ptr<Sink>> MakeWebhookSink(WebhookOptions options) {
  auto url = net::ParseHttpUrl(options.url);
  if (!url) {
    return MakeError("invalid_config", "webhook " + url.error().message);
  }
  if (options.name.empty()) options.name = "webhook:" + url->host;
  return std::unique_ptr<Sink>(new WebhookSink(std::move(options)));
}

}  // namespace tether::audit
