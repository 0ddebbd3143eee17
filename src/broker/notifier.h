// Approval notifications (docs/approvals.md, "Webhooks"): new and decided
// approvals are POSTed to the configured webhooks as tether's JSON or as a
// Slack incoming-webhook message, each with a link to the console page.
//
// Never on the request path: Notify() only queues. One thread delivers, in
// order per webhook, retrying failures with exponential backoff (1 s, 2 s,
// 4 s ... up to `max_attempts`); what is given up on is counted in metrics
// and logged. The queue is bounded; when full, the oldest notification is
// dropped (and counted as failed) rather than blocking a decision.
#ifndef TETHER_BROKER_NOTIFIER_H_
#define TETHER_BROKER_NOTIFIER_H_

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/metrics.h"
#include "core/config.h"

namespace tether::broker {

class ApprovalNotifier {
 public:
  ApprovalNotifier(std::vector<ApprovalWebhookConfig> hooks, Metrics& metrics);
  ~ApprovalNotifier();  // stops; undelivered notifications are dropped
  ApprovalNotifier(const ApprovalNotifier&) = delete;
  ApprovalNotifier& operator=(const ApprovalNotifier&) = delete;

  // `event` is "requested" or "decided"; `approval` is its API JSON (with
  // console_url).
  void Notify(std::string_view event, const boost::json::object& approval);

  // The bodies a webhook receives (exposed for tests).
  static std::string GenericPayload(std::string_view event,
                                    const boost::json::object& approval);
  static std::string SlackPayload(std::string_view event,
                                  const boost::json::object& approval);

 private:
  struct Item {
    std::size_t hook = 0;
    std::string body;
    int attempt = 0;
    std::chrono::steady_clock::time_point due;
  };
  void Run();

  std::vector<ApprovalWebhookConfig> hooks_;
  Metrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_NOTIFIER_H_
