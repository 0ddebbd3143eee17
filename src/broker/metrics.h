// Counters for /metrics (Prometheus text format): every decision outcome,
// decision latency, active tasks, audit failures. Lock-free; thread-safe.
#ifndef TETHER_BROKER_METRICS_H_
#define TETHER_BROKER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace tether::broker {

enum class Outcome : int {
  kAllow,
  kDeny,
  kApprovalRequired,
  kError,    // decided deny because something failed (audit, store, ...)
  kInvalid,  // the request was malformed; no decision
  kCount
};

class Metrics {
 public:
  static constexpr std::array<std::int64_t, 12> kBucketsUs = {
      50,   100,   250,   500,   1000,   2500,
      5000, 10000, 25000, 50000, 100000, 1000000};

  void Decision(Outcome o, std::int64_t latency_us);
  void AuditFailure() {
    audit_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  void IdentityReject() {
    identity_rejects_.fetch_add(1, std::memory_order_relaxed);
  }
  void TaskStarted() { tasks_started_.fetch_add(1, std::memory_order_relaxed); }
  void Http(int status);
  // Approvals: raised, decided (approved/denied/expired), used; webhook
  // deliveries, retries and those given up on.
  void ApprovalRequested() { approvals_[0].fetch_add(1, kRelaxed); }
  void ApprovalDecided() { approvals_[1].fetch_add(1, kRelaxed); }
  void ApprovalUsed() { approvals_[2].fetch_add(1, kRelaxed); }
  void WebhookDelivered() { webhooks_[0].fetch_add(1, kRelaxed); }
  void WebhookRetried() { webhooks_[1].fetch_add(1, kRelaxed); }
  void WebhookFailed() { webhooks_[2].fetch_add(1, kRelaxed); }

  // The exposition; `active_tasks` and `policies` are sampled by the caller.
  std::string Render(std::int64_t active_tasks, std::int64_t policies) const;

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<int>(Outcome::kCount)>
      decisions_{};
  std::array<std::atomic<std::uint64_t>, kBucketsUs.size() + 1> buckets_{};
  std::atomic<std::uint64_t> latency_sum_us_{0};
  std::atomic<std::uint64_t> audit_failures_{0};
  std::atomic<std::uint64_t> identity_rejects_{0};
  std::atomic<std::uint64_t> tasks_started_{0};
  std::array<std::atomic<std::uint64_t>, 6> http_{};  // by status class
  static constexpr auto kRelaxed = std::memory_order_relaxed;
  std::array<std::atomic<std::uint64_t>, 3> approvals_{};
  std::array<std::atomic<std::uint64_t>, 3> webhooks_{};
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_METRICS_H_
