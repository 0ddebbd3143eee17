#include "broker/metrics.h"

namespace tether::broker {

void Metrics::Decision(Outcome o, std::int64_t latency_us) {
  decisions_[static_cast<int>(o)].fetch_add(1, std::memory_order_relaxed);
  if (o == Outcome::kInvalid) return;
  std::size_t i = 0;
  while (i < kBucketsUs.size() && latency_us > kBucketsUs[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(static_cast<std::uint64_t>(latency_us),
                            std::memory_order_relaxed);
}

void Metrics::Http(int status) {
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 0;
  http_[cls].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render(std::int64_t active_tasks,
                            std::int64_t policies) const {
  static const char* kOutcomes[] = {"allow", "deny", "approval_required",
                                    "error", "invalid"};
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line("# HELP tether_decisions_total Authorization outcomes.");
  line("# TYPE tether_decisions_total counter");
  for (int i = 0; i < static_cast<int>(Outcome::kCount); ++i) {
    line(std::string("tether_decisions_total{outcome=\"") + kOutcomes[i] +
         "\"} " + std::to_string(decisions_[i].load()));
  }
  line(
      "# HELP tether_decision_latency_seconds Time to decide, audit included.");
  line("# TYPE tether_decision_latency_seconds histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
    cumulative += buckets_[i].load();
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBucketsUs[i] / 1e6);
    line(std::string("tether_decision_latency_seconds_bucket{le=\"") + le +
         "\"} " + std::to_string(cumulative));
  }
  cumulative += buckets_[kBucketsUs.size()].load();
  line("tether_decision_latency_seconds_bucket{le=\"+Inf\"} " +
       std::to_string(cumulative));
  char sum[48];
  std::snprintf(sum, sizeof sum, "%.6f", latency_sum_us_.load() / 1e6);
  line(std::string("tether_decision_latency_seconds_sum ") + sum);
  line("tether_decision_latency_seconds_count " + std::to_string(cumulative));
  line("# HELP tether_active_tasks Tasks neither ended nor expired.");
  line("# TYPE tether_active_tasks gauge");
  line("tether_active_tasks " + std::to_string(active_tasks));
  line("# HELP tether_tasks_started_total Tasks started.");
  line("# TYPE tether_tasks_started_total counter");
  line("tether_tasks_started_total " + std::to_string(tasks_started_.load()));
  line("# HELP tether_audit_failures_total Audit writes that failed.");
  line("# TYPE tether_audit_failures_total counter");
  line("tether_audit_failures_total " + std::to_string(audit_failures_.load()));
  line("# HELP tether_approvals_total Approvals by event.");
  line("# TYPE tether_approvals_total counter");
  const char* kApprovalEvents[] = {"requested", "decided", "used"};
  for (int i = 0; i < 3; ++i) {
    line(std::string("tether_approvals_total{event=\"") + kApprovalEvents[i] +
         "\"} " + std::to_string(approvals_[i].load()));
  }
  line(
      "# HELP tether_approval_webhooks_total Approval notifications by "
      "outcome (failed: given up after every attempt).");
  line("# TYPE tether_approval_webhooks_total counter");
  const char* kWebhookOutcomes[] = {"delivered", "retried", "failed"};
  for (int i = 0; i < 3; ++i) {
    line(std::string("tether_approval_webhooks_total{outcome=\"") +
         kWebhookOutcomes[i] + "\"} " + std::to_string(webhooks_[i].load()));
  }
  line("# HELP tether_identity_rejections_total Credentials refused.");
  line("# TYPE tether_identity_rejections_total counter");
  line("tether_identity_rejections_total " +
       std::to_string(identity_rejects_.load()));
  line("# HELP tether_policies Policies in the active set.");
  line("# TYPE tether_policies gauge");
  line("tether_policies " + std::to_string(policies));
  line("# HELP tether_http_responses_total HTTP responses by status class.");
  line("# TYPE tether_http_responses_total counter");
  for (int c = 1; c <= 5; ++c) {
    line("tether_http_responses_total{class=\"" + std::to_string(c) + "xx\"} " +
         std::to_string(http_[c].load()));
  }
  return out;
}

}  // namespace tether::broker
