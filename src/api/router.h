// The REST API of DESIGN.md: authenticates the caller, enforces who may call
// what, parses the body and hands the request to the broker. It decides
// nothing itself.
//
// Who may call what (DESIGN.md):
//   task token        POST /v1/authorize; GET, end, heartbeat of its own task
//   workload identity POST /v1/tasks (then policy decides task.create)
//   approver          approvals: read, approve, deny; read tasks
//   auditor           audit read, verify and stream; read tasks, approvals
//   admin             everything
//   anyone            /healthz, /readyz, /.well-known/jwks.json; /metrics
//                     from loopback unless server.metrics_public
#ifndef TETHER_API_ROUTER_H_
#define TETHER_API_ROUTER_H_

#include <atomic>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/console.h"
#include "api/console_oidc.h"
#include "api/http_server.h"
#include "broker/broker.h"
#include "core/text.h"

namespace tether::api {

class Router {
 public:
  // `broker` must outlive the router.
  // `oidc` (may be null) signs approvers in through an OIDC provider.
  Router(broker::Broker& broker, const ServerConfig& config,
         const ApprovalsConfig& approvals = {},
         std::unique_ptr<ConsoleOidc> oidc = nullptr);
  ~Router();

  // Thread-safe; never throws.
  HttpResponse Handle(const HttpRequest& request);
  // The non-blocking fast path for decisions (an InlineHandler): takes a
  // POST /v1/authorize whose task token is already verified and cached and
  // whose decision needs no lookup, and answers once the audit event is
  // durable. Everything else, including every error, goes to Handle.
  bool HandleInline(const HttpRequest& request, const Responder& respond);

 private:
  HttpResponse Route(const HttpRequest& request);
  // /ui: the console's assets, its configuration and sign-in sessions.
  HttpResponse Console(const HttpRequest& request);
  // A cookie-authenticated state change must come from the console itself:
  // its CSRF token, and no foreign Origin.
  bool SameOrigin(const HttpRequest& request) const;
  // The request's console session: signed in, not expired, and its
  // operator not revoked since (a revoked one's session ends here).
  std::optional<ConsoleSession> FindSession(const HttpRequest& request);
  bool TryInline(const HttpRequest& request, const Responder& respond);
  // A POST body: application/json within the limits. Errors:
  // "unsupported_media_type", "invalid_json".
  Result<boost::json::value> ParseBody(const HttpRequest& request) const;
  broker::Broker& broker_;
  ServerConfig config_;
  ConsoleSessions sessions_;
  std::string console_origin_;  // scheme://host[:port] of console_url
  std::unique_ptr<ConsoleOidc> oidc_;
  std::shared_ptr<std::atomic<int>> streams_;  // open audit streams
};

// The HTTP status for a broker error code.
int StatusForError(std::string_view code);

}  // namespace tether::api

#endif  // TETHER_API_ROUTER_H_
