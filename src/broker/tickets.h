// Ticket providers: a task's ticket state is a security input, so tether
// looks it up itself instead of trusting the caller (DESIGN.md; the
// [[tickets.providers]] config). A lookup is an HTTP GET of the provider's
// URL template with the ticket id (and the task's repository) substituted,
// reading the state at a JSON pointer; the result is cached by the broker for
// the provider's cache_seconds.
//
// Thread-safe; each lookup blocks for at most the provider's timeout.
#ifndef TETHER_BROKER_TICKETS_H_
#define TETHER_BROKER_TICKETS_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/result.h"

namespace tether::broker {

class TicketProviders {
 public:
  // Reads each provider's credential (environment or file) now. Error code
  // "invalid_config".
  static Result<std::unique_ptr<TicketProviders>> Create(
      const TicketsConfig& config);

  bool empty() const { return providers_.empty(); }
  // The provider's name, or "" (`name` empty: the default, the first one).
  std::string Resolve(std::string_view name) const;
  std::int64_t cache_ms(std::string_view provider) const;

  // The ticket's state. Errors: "ticket_lookup_failed" (transport, status,
  // missing or non-string state).
  Result<std::string> Lookup(std::string_view provider,
                             std::string_view ticket_id,
                             std::string_view repo) const;

 private:
  struct Provider {
    TicketProviderConfig config;
    std::string credential;
  };
  std::vector<Provider> providers_;
};

// True for ticket ids tether accepts: 1-128 of [A-Za-z0-9#._/-].
bool ValidTicketId(std::string_view id);

}  // namespace tether::broker

#endif  // TETHER_BROKER_TICKETS_H_
