#include "broker/notifier.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "core/json.h"
#include "net/http_client.h"

namespace tether::broker {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxQueued = 10'000;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// Slack's mrkdwn treats these three as markup. Agent-written text also
// loses line breaks and backticks, so it cannot end a code span or start a
// line that looks like tether's own.
std::string SlackEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '`') {
      out += ' ';
    } else if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

ApprovalNotifier::ApprovalNotifier(std::vector<ApprovalWebhookConfig> hooks,
                                   Metrics& metrics)
    : hooks_(std::move(hooks)), metrics_(metrics) {
  if (!hooks_.empty()) thread_ = std::thread([this] { Run(); });
}

ApprovalNotifier::~ApprovalNotifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string ApprovalNotifier::GenericPayload(std::string_view event,
                                             const json::object& approval) {
  json::object o{{"type", "approval." + std::string(event)},
                 {"state", approval.contains("state") ? approval.at("state")
                                                      : json::value()},
                 {"console_url", approval.contains("console_url")
                                     ? approval.at("console_url")
                                     : json::value()},
                 {"approval", approval}};
  return SerializeJson(o);
}

std::string ApprovalNotifier::SlackPayload(std::string_view event,
                                           const json::object& approval) {
  std::string id = Str(approval, "id");
  std::string url = Str(approval, "console_url");
  std::string state = Str(approval, "state");
  std::string action = Str(approval, "action");
  std::string resource;
  if (const json::value* r = approval.if_contains("resource");
      r && r->is_object()) {
    resource = Str(r->get_object(), "type") + "::\"" +
               Str(r->get_object(), "id") + "\"";
  }
  std::string task, intent;
  if (const json::value* t = approval.if_contains("task");
      t && t->is_object()) {
    task = Str(t->get_object(), "id");
    intent = Str(t->get_object(), "intent");
  }
  std::string policies;
  if (const json::value* q = approval.if_contains("requirements");
      q && q->is_array()) {
    for (const json::value& r : q->get_array()) {
      if (!r.is_object()) continue;
      if (!policies.empty()) policies += ", ";
      policies += Str(r.get_object(), "policy");
    }
  }
  std::string headline =
      event == "requested" ? "Approval requested" : "Approval " + state;
  std::string text = "*" + headline + "*: task `" + SlackEscape(task) +
                     "` wants `" + SlackEscape(action) + "` on `" +
                     SlackEscape(resource) + "`";
  if (!intent.empty()) text += "\n>" + SlackEscape(intent);
  text += "\nPolicy: " + SlackEscape(policies);
  if (event == "requested") {
    text += " · expires " + SlackEscape(Str(approval, "expires_at"));
  }
  json::object section{
      {"type", "section"},
      // verbatim: no automatic links from URLs in the agent's text.
      {"text",
       json::object{{"type", "mrkdwn"}, {"text", text}, {"verbatim", true}}}};
  json::array blocks{section};
  if (!url.empty()) {
    json::object label{
        {"type", "plain_text"},
        {"text", event == "requested" ? "Review in tether" : "Open in tether"}};
    json::object button{
        {"type", "button"}, {"text", std::move(label)}, {"url", url}};
    json::object actions{{"type", "actions"},
                         {"elements", json::array{std::move(button)}}};
    blocks.push_back(std::move(actions));
  }
  json::object o{{"text", headline + ": " + action + " on " + resource + " (" +
                              id + ")" + (url.empty() ? "" : " " + url)},
                 {"blocks", std::move(blocks)}};
  return SerializeJson(o);
}

void ApprovalNotifier::Notify(std::string_view event,
                              const json::object& approval) {
  if (hooks_.empty()) return;
  std::string generic, slack;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < hooks_.size(); ++i) {
      const ApprovalWebhookConfig& h = hooks_[i];
      if (std::find(h.events.begin(), h.events.end(), event) == h.events.end())
        continue;
      std::string& body = h.format == "slack" ? slack : generic;
      if (body.empty()) {
        body = h.format == "slack" ? SlackPayload(event, approval)
                                   : GenericPayload(event, approval);
      }
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        metrics_.WebhookFailed();
      }
      queue_.push_back(Item{i, body, 0, std::chrono::steady_clock::now()});
    }
  }
  cv_.notify_all();
}

void ApprovalNotifier::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    // Each webhook gets its notifications in order: only its oldest is a
    // candidate (a retry in backoff holds the ones behind it). Of those,
    // the one due first.
    std::vector<bool> seen(hooks_.size(), false);
    auto it = queue_.end();
    for (auto q = queue_.begin(); q != queue_.end(); ++q) {
      if (seen[q->hook]) continue;
      seen[q->hook] = true;
      if (it == queue_.end() || q->due < it->due) it = q;
    }
    if (it->due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, it->due);
      continue;
    }
    Item item = std::move(*it);
    queue_.erase(it);
    const ApprovalWebhookConfig& h = hooks_[item.hook];
    lock.unlock();
    net::HttpClientRequest req;
    req.method = "POST";
    req.url = h.url;
    req.headers.emplace_back("Content-Type", "application/json");
    for (const auto& [k, v] : h.headers) req.headers.emplace_back(k, v);
    req.body = item.body;
    req.timeout = std::chrono::milliseconds(h.timeout_ms);
    req.ca_file = h.ca_file;
    req.max_response_bytes = 64 * 1024;
    auto res = net::HttpFetch(req);
    bool ok = res && res->status >= 200 && res->status < 300;
    lock.lock();
    if (ok) {
      metrics_.WebhookDelivered();
      continue;
    }
    if (++item.attempt >= h.max_attempts) {
      metrics_.WebhookFailed();
      std::fprintf(stderr,
                   "tether: approval webhook %s: giving up after %d "
                   "attempts (%s)\n",
                   h.name.c_str(), item.attempt,
                   res ? ("HTTP " + std::to_string(res->status)).c_str()
                       : res.error().message.c_str());
      continue;
    }
    metrics_.WebhookRetried();
    item.due = std::chrono::steady_clock::now() +
               std::chrono::seconds(1LL << std::min(item.attempt - 1, 8));
    queue_.push_front(std::move(item));  // still first for its webhook
  }
}

}  // namespace tether::broker
