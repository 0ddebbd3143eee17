#include "broker/tickets.h"

#include <boost/json.hpp>
#include <cstdlib>

#include "core/files.h"
#include "core/json.h"
#include "core/key_file.h"
#include "core/text.h"
#include "net/http_client.h"

namespace tether::broker {
namespace {

std::string ReplaceAll(std::string s, std::string_view from,
                       std::string_view to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos;
       pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.pop_back();
  return s;
}

}  // namespace

bool ValidTicketId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '#' || c == '.' ||
          c == '_' || c == '/' || c == '-')) {
      return false;
    }
  }
  return true;
}

Result<std::unique_ptr<TicketProviders>> TicketProviders::Create(
    const TicketsConfig& config) {
  std::unique_ptr<TicketProviders> t(new TicketProviders());
  for (const TicketProviderConfig& pc : config.providers) {
    Provider p{pc, {}};
    if (!pc.credential_env.empty()) {
      const char* v = std::getenv(pc.credential_env.c_str());
      if (!v || !*v) {
        return MakeError("invalid_config", "ticket provider " + pc.name +
                                               ": environment "
                                               "variable " +
                                               pc.credential_env +
                                               " is not set");
      }
      p.credential = v;
    } else if (!pc.credential_file.empty()) {
      auto v = ReadKeyFile(pc.credential_file);
      if (!v) {
        return MakeError("invalid_config", "ticket provider " + pc.name + ": " +
                                               v.error().message);
      }
      p.credential = Trim(std::move(*v));
    }
    auto url = net::ParseHttpUrl(
        ReplaceAll(ReplaceAll(pc.url_template, "{id}", "1"), "{repo}", "a/b"));
    if (!url) {
      return MakeError("invalid_config", "ticket provider " + pc.name + ": " +
                                             url.error().message);
    }
    t->providers_.push_back(std::move(p));
  }
  return t;
}

std::string TicketProviders::Resolve(std::string_view name) const {
  if (providers_.empty()) return {};
  if (name.empty()) return providers_.front().config.name;
  for (const auto& p : providers_) {
    if (p.config.name == name) return p.config.name;
  }
  return {};
}

std::int64_t TicketProviders::cache_ms(std::string_view provider) const {
  for (const auto& p : providers_) {
    if (p.config.name == provider) return p.config.cache_seconds * 1000;
  }
  return 0;
}

Result<std::string> TicketProviders::Lookup(std::string_view provider,
                                            std::string_view ticket_id,
                                            std::string_view repo) const {
  const Provider* p = nullptr;
  for (const auto& candidate : providers_) {
    if (candidate.config.name == provider) p = &candidate;
  }
  auto failed = [&](const std::string& why) {
    return MakeError("ticket_lookup_failed",
                     "ticket provider " + std::string(provider) + ": " + why);
  };
  if (!p) return failed("not configured");
  // GitHub-style ids may carry the issue number after '#'.
  std::string id(ticket_id);
  if (auto hash = id.rfind('#'); hash != std::string::npos) {
    id = id.substr(hash + 1);
  }
  net::HttpClientRequest req;
  req.url =
      ReplaceAll(ReplaceAll(p->config.url_template, "{id}", PercentEncode(id)),
                 "{repo}", repo);
  req.timeout = std::chrono::milliseconds(p->config.timeout_ms);
  req.ca_file = p->config.ca_file;
  req.max_response_bytes = 4 * 1024 * 1024;
  req.headers.emplace_back("Accept", "application/json");
  if (!p->credential.empty()) {
    req.headers.emplace_back(p->config.header,
                             p->config.scheme.empty()
                                 ? p->credential
                                 : p->config.scheme + " " + p->credential);
  }
  auto res = net::HttpFetch(req);
  if (!res) return failed(res.error().message);
  if (res->status != 200) {
    return failed("answered http " + std::to_string(res->status));
  }
  auto j = ParseJson(res->body);
  if (!j) return failed("the answer is not JSON");
  boost::system::error_code ec;
  const boost::json::value* state =
      j->find_pointer(p->config.state_pointer, ec);
  if (!state || ec || !state->is_string()) {
    return failed("no string at " + p->config.state_pointer);
  }
  return std::string(state->get_string());
}

}  // namespace tether::broker
