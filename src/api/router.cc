#include "api/router.h"

#include <boost/json.hpp>
#include <exception>
#include <variant>

#include "api/ui_assets.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/time.h"
#include "net/http_client.h"

namespace tether::api {
namespace {

namespace json = boost::json;
using identity::Principal;
using identity::PrincipalKind;

HttpResponse Json(int status, const json::object& body) {
  HttpResponse r;
  r.status = status;
  r.body = SerializeJson(body);
  return r;
}

HttpResponse FromError(const Error& e) {
  return JsonError(StatusForError(e.code), e.code, e.message);
}

HttpResponse FromResult(const Result<json::object>& r, int ok_status = 200) {
  if (!r) return FromError(r.error());
  return Json(ok_status, *r);
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i + 1);
    std::string_view part =
        path.substr(i + 1, j == std::string_view::npos ? std::string_view::npos
                                                       : j - i - 1);
    parts.emplace_back(part);
    if (j == std::string_view::npos) break;
    i = j;
  }
  return parts;
}

}  // namespace

namespace {

// "Bearer <token>", scheme case-insensitive.
std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i])
      return {};
  }
  std::string_view t = header.substr(kScheme.size());
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

bool IsJsonContentType(std::string_view ct) {
  std::string_view media = ct.substr(0, ct.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  std::string lower(media);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json";
}

HttpResponse Unauthenticated(const std::string& message) {
  HttpResponse r = JsonError(401, "unauthenticated", message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tether\"");
  return r;
}

HttpResponse Forbidden(const std::string& message) {
  return JsonError(403, "forbidden", message);
}

// The console's pages: nothing from elsewhere, never framed.
constexpr const char* kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

void ConsoleHeaders(HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy", kConsoleCsp);
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
}

// scheme://host[:port] of a URL, lower-cased; "" if it has none.
std::string OriginOf(std::string_view url) {
  auto u = net::ParseHttpUrl(url);
  if (!u) return "";
  std::string o = (u->tls ? "https://" : "http://") + u->host;
  if (!((u->tls && u->port == "443") || (!u->tls && u->port == "80"))) {
    o += ":" + u->port;
  }
  for (char& c : o)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// Audit events as server-sent events, from a sequence number on: polls the
// log when it has grown, filters, and keeps the connection alive.
class AuditStream : public HttpStream {
 public:
  // `authorized` is asked before every poll: the stream ends once its
  // caller is signed out or revoked.
  AuditStream(broker::Broker& broker, audit::EventFilter filter,
              std::string decision, std::int64_t after,
              std::shared_ptr<std::atomic<int>> open,
              std::function<bool()> authorized)
      : broker_(broker),
        authorized_(std::move(authorized)),
        filter_(std::move(filter)),
        decision_(std::move(decision)),
        cursor_(after),
        open_(std::move(open)) {
    interval = std::chrono::milliseconds(500);
  }
  ~AuditStream() override { open_->fetch_sub(1); }

  std::optional<std::string> Poll() override {
    if (!authorized_()) return std::nullopt;
    std::string out;
    if (first_) {
      out += "retry: 2000\n\n";
      first_ = false;
    }
    auto last = static_cast<std::int64_t>(broker_.audit_log().last_seq());
    // At most 10 pages a poll, so a filter that matches little cannot walk
    // the whole log in one go; the rest follows on the next polls.
    for (int page_count = 0; cursor_ < last && page_count < 10; ++page_count) {
      audit::EventFilter f = filter_;
      f.after_seq = cursor_;
      f.limit = 200;
      auto page = broker_.QueryAudit(f);
      if (!page) return std::nullopt;  // the client reconnects
      const json::array& events = page->at("events").as_array();
      for (const json::value& v : events) {
        const json::object& e = v.as_object();
        cursor_ = e.at("seq").to_number<std::int64_t>();
        if (!decision_.empty()) {
          const json::value* d = e.if_contains("decision");
          if (!d || !d->is_string() || d->get_string() != decision_) continue;
        }
        out += "id: " + std::to_string(cursor_) +
               "\nevent: audit\ndata: " + SerializeJson(e) + "\n\n";
      }
      if (events.size() < 200) {
        cursor_ = std::max(cursor_, last);
        break;
      }
      if (out.size() > 256 * 1024) break;  // the rest on the next poll
    }
    auto now = std::chrono::steady_clock::now();
    if (!out.empty()) {
      last_write_ = now;
    } else if (now - last_write_ > std::chrono::seconds(15)) {
      out = ": keep-alive\n\n";
      last_write_ = now;
    }
    return out;
  }

 private:
  broker::Broker& broker_;
  std::function<bool()> authorized_;
  audit::EventFilter filter_;
  std::string decision_;
  std::int64_t cursor_ = 0;
  bool first_ = true;
  std::chrono::steady_clock::time_point last_write_ =
      std::chrono::steady_clock::now();
  std::shared_ptr<std::atomic<int>> open_;
};

constexpr int kMaxAuditStreams = 64;

// Who called: nobody, a task, or a principal (operator or workload).
using Caller = std::variant<std::monostate, broker::TaskCaller, Principal>;

}  // namespace

int StatusForError(std::string_view code) {
  if (code == "invalid_request" || code == "invalid_json" ||
      code == "invalid_time" || code == "invalid_value" ||
      code == "invalid_entities") {
    return 400;
  }
  if (code == "unauthenticated" || code == "identity_rejected" ||
      code == "invalid_token") {
    return 401;
  }
  if (code == "forbidden" || code == "denied" || code == "task_inactive")
    return 403;
  if (code == "not_found") return 404;
  if (code == "conflict") return 409;
  if (code == "too_many_tasks") return 429;
  if (code == "invalid_policy" || code == "invalid_catalog") return 422;
  if (code == "audit_unavailable" || code == "store_busy" ||
      code == "store_full" || code == "store_io") {
    return 503;
  }
  return 500;
}

Router::Router(broker::Broker& broker, const ServerConfig& config,
               const ApprovalsConfig& approvals,
               std::unique_ptr<ConsoleOidc> oidc)
    : broker_(broker),
      config_(config),
      sessions_(approvals.session_ttl_seconds * 1000),
      console_origin_(OriginOf(broker.console_url())),
      oidc_(std::move(oidc)),
      streams_(std::make_shared<std::atomic<int>>(0)) {}

Router::~Router() = default;

bool Router::SameOrigin(const HttpRequest& req) const {
  if (req.origin.empty()) return true;  // not a browser's cross-site request
  std::string origin = req.origin;
  for (char& c : origin)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!console_origin_.empty() && origin == console_origin_) return true;
  std::string own = OriginOf((req.tls ? "https://" : "http://") + req.host);
  return !own.empty() && origin == own;
}

std::optional<ConsoleSession> Router::FindSession(const HttpRequest& req) {
  std::string_view cookie = CookieValue(req.cookie, SessionCookieName(req.tls));
  auto s = sessions_.Find(cookie, NowMs());
  if (s && broker_.IdentityRevoked(s->principal.subject)) {
    sessions_.Remove(cookie);
    return std::nullopt;
  }
  return s;
}

HttpResponse Router::Console(const HttpRequest& req) {
  const std::string& m = req.method;
  auto query = ParseQueryString(req.query);
  if (!query) {
    return JsonError(400, "invalid_request",
                     "the query string is malformed or repeats a parameter");
  }
  auto with_headers = [](HttpResponse r) {
    ConsoleHeaders(r);
    return r;
  };
  if (req.path == "/ui") {
    HttpResponse r;
    r.status = 308;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", "/ui/");
    return r;
  }
  if (req.path == "/ui/config") {
    if (m != "GET") return JsonError(405, "method_not_allowed", "use GET");
    return with_headers(Json(200, {{"oidc_login", oidc_ != nullptr}}));
  }
  if (req.path == "/ui/oidc/login" || req.path == "/ui/oidc/callback") {
    if (m != "GET") return JsonError(405, "method_not_allowed", "use GET");
    if (!oidc_) {
      return JsonError(404, "not_found", "OIDC sign-in is not configured");
    }
    std::int64_t now = NowMs();
    auto state_cookie = [&](std::string_view value, int max_age) {
      std::string c = std::string(kOidcStateCookie) + "=" + std::string(value) +
                      "; Path=/ui/oidc/; HttpOnly; SameSite=Lax; Max-Age=" +
                      std::to_string(max_age);
      if (req.tls) c += "; Secure";
      return c;
    };
    auto oidc_error = [&](const Error& e) {
      int status = e.code == "oidc_unavailable" ? 503 : 401;
      HttpResponse r = JsonError(status, e.code, e.message);
      r.headers.emplace_back("Set-Cookie", state_cookie("", 0));
      return with_headers(std::move(r));
    };
    HttpResponse r;
    r.status = 302;
    r.content_type = "text/plain; charset=utf-8";
    if (req.path == "/ui/oidc/login") {
      auto begun = oidc_->Begin(now);
      if (!begun) return oidc_error(begun.error());
      r.headers.emplace_back("Location", begun->location);
      r.headers.emplace_back("Set-Cookie", state_cookie(begun->state, 600));
      return with_headers(std::move(r));
    }
    if (query->count("error")) {
      return oidc_error(
          MakeError("oidc_rejected",
                    "the provider refused the sign-in: " + (*query)["error"] +
                        (query->count("error_description")
                             ? " (" + (*query)["error_description"] + ")"
                             : "")));
    }
    if (query->count("iss") && !oidc_->IssuerIs((*query)["iss"])) {
      // RFC 9207: the answer came from another provider (a mix-up).
      return oidc_error(MakeError("oidc_rejected",
                                  "the sign-in answer names another issuer"));
    }
    auto who = oidc_->Finish(query->count("code") ? (*query)["code"] : "",
                             query->count("state") ? (*query)["state"] : "",
                             CookieValue(req.cookie, kOidcStateCookie), now);
    if (!who) return oidc_error(who.error());
    if (broker_.OperatorNameTaken(who->id)) {
      return oidc_error(
          MakeError("oidc_rejected", "an operator token already names `" +
                                         who->id + "`; one person, one name"));
    }
    if (broker_.IdentityRevoked(who->subject)) {
      return oidc_error(
          MakeError("oidc_rejected", "this identity has been revoked"));
    }
    auto created = sessions_.Create(std::move(*who), now);
    r.headers.emplace_back("Location", "/ui/#/approvals");
    r.headers.emplace_back("Set-Cookie",
                           SessionCookie(created.cookie_value,
                                         sessions_.ttl_ms() / 1000, req.tls));
    r.headers.emplace_back("Set-Cookie", state_cookie("", 0));
    return with_headers(std::move(r));
  }
  if (req.path == "/ui/session") {
    std::string_view cookie =
        CookieValue(req.cookie, SessionCookieName(req.tls));
    std::int64_t now = NowMs();
    auto session_body = [](const ConsoleSession& s) {
      json::array groups;
      for (const std::string& g : s.principal.groups) groups.emplace_back(g);
      return json::object{
          {"operator", json::object{{"name", s.principal.id},
                                    {"role", s.principal.role},
                                    {"groups", std::move(groups)}}},
          {"csrf_token", s.csrf_token},
          {"expires_at", FormatRfc3339(s.expires_ms)}};
    };
    if (m == "GET") {
      auto s = FindSession(req);
      if (!s) return with_headers(JsonError(401, "unauthenticated", "sign in"));
      return with_headers(Json(200, session_body(*s)));
    }
    if (m == "POST") {
      if (!SameOrigin(req)) {
        return with_headers(
            JsonError(403, "csrf", "sign-in must come from the console"));
      }
      auto b = ParseBody(req);
      if (!b) return JsonError(400, b.error().code, b.error().message);
      const json::value* t =
          b->is_object() ? b->get_object().if_contains("token") : nullptr;
      if (!t || !t->is_string() || t->get_string().empty() ||
          t->get_string().size() > 512) {
        return JsonError(400, "invalid_request",
                         "send {\"token\": \"<operator token>\"}");
      }
      std::string_view token = t->get_string();
      if (broker::Broker::LooksLikeTaskToken(token)) {
        return with_headers(Unauthenticated("sign in with an operator token"));
      }
      auto p = broker_.AuthenticateBearer(token, "console", req.remote);
      if (!p || p->kind != PrincipalKind::kOperator) {
        return with_headers(
            Unauthenticated("that is not a valid operator token"));
      }
      auto created = sessions_.Create(std::move(*p), now);
      HttpResponse r = Json(200, session_body(created.session));
      r.headers.emplace_back("Set-Cookie",
                             SessionCookie(created.cookie_value,
                                           sessions_.ttl_ms() / 1000, req.tls));
      return with_headers(std::move(r));
    }
    if (m == "DELETE") {
      auto s = FindSession(req);
      if (s) {
        if (!SameOrigin(req) || req.csrf_token.empty() ||
            !ConstantTimeEquals(req.csrf_token, s->csrf_token)) {
          return with_headers(
              JsonError(403, "csrf", "missing or wrong X-Tether-CSRF token"));
        }
        sessions_.Remove(cookie);
      }
      HttpResponse r = Json(200, {{"signed_out", true}});
      r.headers.emplace_back("Set-Cookie", SessionCookie("", 0, req.tls));
      return with_headers(std::move(r));
    }
    return JsonError(405, "method_not_allowed", "use GET, POST or DELETE");
  }
  std::string_view path = req.path;
  if (path == "/ui/") path = "/ui/index.html";
  for (const UiAsset& a : UiAssets()) {
    if (a.path != path) continue;
    if (m != "GET" && m != "HEAD") {
      return JsonError(405, "method_not_allowed", "use GET");
    }
    HttpResponse r;
    r.content_type = std::string(a.content_type);
    r.body = std::string(a.bytes);
    ConsoleHeaders(r);
    return r;
  }
  return JsonError(404, "not_found", "no such page");
}

Result<json::value> Router::ParseBody(const HttpRequest& req) const {
  if (!IsJsonContentType(req.content_type)) {
    return MakeError("unsupported_media_type",
                     "the body must be application/json");
  }
  JsonLimits limits;
  limits.max_bytes = config_.max_body_bytes;
  limits.max_depth = 32;
  auto j = ParseJson(req.body, limits);
  if (!j) return MakeError("invalid_json", j.error().message);
  return j;
}

HttpResponse Router::Handle(const HttpRequest& request) {
  HttpResponse r;
  try {
    r = Route(request);
  } catch (const std::exception& e) {
    // A bug, not an input: fail closed and say so without details.
    r = JsonError(500, "internal", "internal error");
  }
  broker_.metrics().Http(r.status);
  return r;
}

bool Router::HandleInline(const HttpRequest& req, const Responder& respond) {
  // Like Handle, never let an exception out (this runs on a network thread);
  // before the broker took the request, the handler pool can still answer.
  bool taken = false;
  try {
    taken = TryInline(req, respond);
  } catch (const std::exception&) {
    if (!taken) return false;
  }
  return taken;
}

bool Router::TryInline(const HttpRequest& req, const Responder& respond) {
  if (req.method != "POST" || req.path != "/v1/authorize" ||
      !req.query.empty()) {
    return false;
  }
  std::string_view token = BearerToken(req.authorization);
  if (token.empty() || !broker::Broker::LooksLikeTaskToken(token)) {
    return false;
  }
  std::optional<broker::TaskCaller> task = broker_.CachedTaskToken(token);
  if (!task) return false;
  auto body = ParseBody(req);
  if (!body) return false;  // the handler pool answers the error
  broker::Metrics& metrics = broker_.metrics();
  return broker_.AuthorizeAsync(*task, *body,
                                [respond, &metrics](Result<json::object> r) {
                                  HttpResponse res = FromResult(r);
                                  metrics.Http(res.status);
                                  respond(std::move(res));
                                });
}

HttpResponse Router::Route(const HttpRequest& req) {
  const std::string& m = req.method;
  std::vector<std::string> path = SplitPath(req.path);
  if (req.path.empty() || req.path[0] != '/') {
    return JsonError(400, "invalid_request", "the target must be a path");
  }
  auto query = ParseQueryString(req.query);
  if (!query) {
    return JsonError(400, "invalid_request",
                     "the query string is malformed or repeats a parameter");
  }
  auto method_not_allowed = [](const char* allow) {
    HttpResponse r =
        JsonError(405, "method_not_allowed", std::string("use ") + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
  };

  // Public endpoints.
  if (req.path == "/healthz") {
    if (m != "GET") return method_not_allowed("GET");
    return Json(200, {{"status", "ok"}});
  }
  if (req.path == "/readyz") {
    if (m != "GET") return method_not_allowed("GET");
    bool ready = broker_.Ready();
    return Json(ready ? 200 : 503, {{"ready", ready}});
  }
  if (req.path == "/.well-known/jwks.json") {
    if (m != "GET") return method_not_allowed("GET");
    HttpResponse r;
    r.body = broker_.Jwks();
    r.headers.emplace_back("Cache-Control", "max-age=60");
    return r;
  }
  if (req.path == "/metrics") {
    if (m != "GET") return method_not_allowed("GET");
    if (!req.loopback && !config_.metrics_public) {
      return Forbidden("/metrics is served to loopback only");
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = broker_.MetricsText();
    return r;
  }
  if (!path.empty() && path[0] == "ui") return Console(req);
  if (path.empty() || path[0] != "v1") {
    return JsonError(404, "not_found", "no such endpoint");
  }

  // Everything under /v1 needs a caller.
  Caller caller;
  std::string_view token = BearerToken(req.authorization);
  if (!req.authorization.empty() && token.empty()) {
    return Unauthenticated("the Authorization header must be `Bearer <token>`");
  }
  if (!token.empty()) {
    if (broker::Broker::LooksLikeTaskToken(token)) {
      auto t = broker_.AuthenticateTask(token, req.remote);
      if (!t) return Unauthenticated(t.error().message);
      caller = std::move(*t);
    } else {
      auto p = broker_.AuthenticateBearer(token, "api", req.remote);
      if (!p) return Unauthenticated(p.error().message);
      caller = std::move(*p);
    }
  } else if (!CookieValue(req.cookie, SessionCookieName(req.tls)).empty()) {
    auto s = FindSession(req);
    if (!s) return Unauthenticated("the console session has ended; sign in");
    if (m != "GET" && m != "HEAD") {
      // Cross-site request forgery: the cookie alone never changes state.
      if (!SameOrigin(req)) {
        return JsonError(403, "csrf", "the request comes from another origin");
      }
      if (req.csrf_token.empty() ||
          !ConstantTimeEquals(req.csrf_token, s->csrf_token)) {
        return JsonError(403, "csrf", "missing or wrong X-Tether-CSRF token");
      }
    }
    caller = std::move(s->principal);
  } else if (!req.peer_spiffe_id.empty()) {
    auto p = broker_.AuthenticateX509(req.peer_spiffe_id, req.remote);
    if (!p) return Unauthenticated(p.error().message);
    caller = std::move(*p);
  } else {
    return Unauthenticated("this endpoint needs a bearer token");
  }
  const broker::TaskCaller* task = std::get_if<broker::TaskCaller>(&caller);
  const Principal* principal = std::get_if<Principal>(&caller);
  bool is_operator = principal && principal->kind == PrincipalKind::kOperator;
  bool is_admin = is_operator && principal->role == "admin";
  std::string actor = principal
                          ? (principal->type + "::\"" + principal->id + "\"")
                          : (task ? "Task::\"" + task->task_id + "\"" : "");

  auto body = [&] { return ParseBody(req); };
  auto body_error = [](const Error& e) {
    return JsonError(e.code == "unsupported_media_type" ? 415 : 400, e.code,
                     e.message);
  };

  // /v1/authorize
  if (path.size() == 2 && path[1] == "authorize") {
    if (m != "POST") return method_not_allowed("POST");
    if (!task) return Forbidden("/v1/authorize takes a task token");
    auto b = body();
    if (!b) return body_error(b.error());
    return FromResult(broker_.Authorize(*task, *b));
  }

  // /v1/proxy: how a task's tools reach the enforcement proxy.
  if (path.size() == 2 && path[1] == "proxy") {
    if (m != "GET") return method_not_allowed("GET");
    json::object info = broker_.ProxyInfo();
    if (info.empty()) {
      return JsonError(404, "proxy_disabled", "the proxy is not running");
    }
    return Json(200, info);
  }

  // /v1/tasks...
  if (path.size() >= 2 && path[1] == "tasks") {
    if (path.size() == 2) {
      if (m == "POST") {
        if (task) return Forbidden("a task token cannot start tasks");
        if (is_operator && !is_admin) {
          return Forbidden("only workloads and admins start tasks");
        }
        auto b = body();
        if (!b) return body_error(b.error());
        auto reply = broker_.CreateTask(*principal, *b);
        if (!reply) return FromError(reply.error());
        return Json(reply->status, reply->body);
      }
      if (m == "GET") {
        if (!is_operator) return Forbidden("listing tasks is for operators");
        std::size_t limit = 100;
        if (auto it = query->find("limit"); it != query->end()) {
          try {
            limit = std::stoul(it->second);
          } catch (const std::exception&) {
            return JsonError(400, "invalid_request", "`limit` is a number");
          }
        }
        bool active = query->count("active") && (*query)["active"] == "true";
        std::string after = query->count("after") ? (*query)["after"] : "";
        return FromResult(broker_.ListTasks(active, limit, after));
      }
      return method_not_allowed("GET, POST");
    }
    const std::string& id = path[2];
    bool own = task && task->task_id == id;
    if (path.size() == 3) {
      if (m != "GET") return method_not_allowed("GET");
      if (own) {
        if (Status s = broker_.CheckTaskActive(*task); !s) {
          return FromError(s.error());
        }
      } else if (!is_operator) {
        return Forbidden("a task token reads only its own task");
      }
      return FromResult(broker_.GetTask(id));
    }
    if (path.size() == 4 && path[3] == "events") {
      if (m != "POST") return method_not_allowed("POST");
      if (!own) return Forbidden("a task reports only on itself");
      auto b = body();
      if (!b) return body_error(b.error());
      return FromResult(broker_.RecordToolResult(*task, *b), 201);
    }
    if (path.size() == 4 && (path[3] == "end" || path[3] == "heartbeat")) {
      if (m != "POST") return method_not_allowed("POST");
      if (own) {
        if (Status s = broker_.CheckTaskActive(*task); !s) {
          return FromError(s.error());
        }
      } else if (!is_admin) {
        return Forbidden("only the task itself or an admin may do this");
      }
      if (path[3] == "heartbeat") return FromResult(broker_.Heartbeat(id));
      std::string reason = own ? "ended by the task" : "ended by " + actor;
      if (!req.body.empty()) {
        auto b = body();
        if (!b) return body_error(b.error());
        if (!b->is_object()) {
          return JsonError(400, "invalid_request", "the body is an object");
        }
        for (const auto& [k, v] : b->get_object()) {
          if (k != "reason" || !v.is_string() || v.get_string().size() > 1024)
            return JsonError(400, "invalid_request",
                             "the body may carry only a `reason` string");
          reason = std::string(v.get_string());
        }
      }
      return FromResult(broker_.EndTask(id, actor, reason));
    }
    return JsonError(404, "not_found", "no such endpoint");
  }

  // A task reads its own approvals (to wait for a person's decision), in
  // brief: not who decided or the policies' text.
  if (task && path.size() >= 2 && path[1] == "approvals" && path.size() <= 3) {
    if (m != "GET") return method_not_allowed("GET");
    auto brief = [](const json::object& a) {
      json::object o;
      for (const char* k :
           {"id", "state", "action", "resource", "edge", "uses", "uses_allowed",
            "created_at", "expires_at", "console_url"}) {
        if (const json::value* v = a.if_contains(k)) o[k] = *v;
      }
      return o;
    };
    if (path.size() == 3) {
      auto a = broker_.GetApproval(path[2]);
      const json::value* owner = a ? a->if_contains("task") : nullptr;
      const json::value* owner_id = owner && owner->is_object()
                                        ? owner->get_object().if_contains("id")
                                        : nullptr;
      if (!a || !owner_id || !owner_id->is_string() ||
          owner_id->get_string() != task->task_id) {
        return JsonError(404, "not_found", "no such approval");
      }
      return Json(200, brief(*a));
    }
    std::string state = query->count("state") ? (*query)["state"] : "";
    auto list = broker_.ListApprovals(state, task->task_id, 100, "");
    if (!list) return FromError(list.error());
    json::array out;
    for (const json::value& a : list->at("approvals").as_array()) {
      out.push_back(brief(a.as_object()));
    }
    return Json(200, json::object{{"approvals", std::move(out)}});
  }

  // Operator endpoints.
  if (task) return Forbidden("a task token may not call this endpoint");
  if (!is_operator) return Forbidden("this endpoint is for operators");

  if (path.size() == 2 && path[1] == "revocations") {
    if (m != "POST") return method_not_allowed("POST");
    if (!is_admin) return Forbidden("revocations are for admins");
    auto b = body();
    if (!b) return body_error(b.error());
    return FromResult(broker_.Revoke(*principal, *b), 201);
  }
  if (path.size() >= 2 && path[1] == "approvals") {
    if (path.size() == 2) {
      if (m != "GET") return method_not_allowed("GET");
      std::size_t limit = 100;
      std::string state, task_id, after;
      for (const auto& [k, v] : *query) {
        if (k == "state") {
          state = v;
        } else if (k == "task") {
          task_id = v;
        } else if (k == "after") {
          after = v;
        } else if (k == "limit") {
          try {
            limit = std::stoul(v);
          } catch (const std::exception&) {
            return JsonError(400, "invalid_request", "`limit` is a number");
          }
        } else {
          return JsonError(400, "invalid_request",
                           "unknown query parameter `" + k + "`");
        }
      }
      return FromResult(broker_.ListApprovals(state, task_id, limit, after));
    }
    const std::string& id = path[2];
    if (path.size() == 3) {
      if (m != "GET") return method_not_allowed("GET");
      return FromResult(broker_.GetApproval(id));
    }
    if (path.size() == 4 && (path[3] == "approve" || path[3] == "deny")) {
      if (m != "POST") return method_not_allowed("POST");
      if (principal->role != "approver" && !is_admin) {
        return Forbidden("deciding approvals is for approvers");
      }
      json::value b = json::object{};
      if (!req.body.empty()) {
        auto parsed = body();
        if (!parsed) return body_error(parsed.error());
        b = std::move(*parsed);
      }
      return FromResult(
          broker_.DecideApproval(*principal, id, path[3] == "approve", b));
    }
    return JsonError(404, "not_found", "no such endpoint");
  }
  if (path.size() >= 2 && path[1] == "audit") {
    if (principal->role != "auditor" && !is_admin) {
      return Forbidden("the audit log is for auditors and admins");
    }
    if (m != "GET") return method_not_allowed("GET");
    if (path.size() == 3 && path[2] == "stream") {
      audit::EventFilter f;
      std::string decision;
      for (const auto& [k, v] : *query) {
        if (k == "task") {
          f.task = v;
        } else if (k == "type") {
          f.type = v;
        } else if (k == "decision") {
          decision = v;
        } else {
          return JsonError(400, "invalid_request",
                           "unknown query parameter `" + k + "`");
        }
      }
      auto last = static_cast<std::int64_t>(broker_.audit_log().last_seq());
      std::int64_t after = std::max<std::int64_t>(0, last - 100);
      if (!req.last_event_id.empty()) {
        try {
          after = std::stoll(req.last_event_id);
        } catch (const std::exception&) {
          return JsonError(400, "invalid_request",
                           "Last-Event-ID must be an event's seq");
        }
      }
      if (streams_->fetch_add(1) >= kMaxAuditStreams) {
        streams_->fetch_sub(1);
        return JsonError(503, "too_many_streams",
                         "too many audit streams are open");
      }
      HttpResponse r;
      r.content_type = "text/event-stream";
      std::function<bool()> authorized;
      std::string subject = principal->subject;
      if (token.empty() && req.peer_spiffe_id.empty()) {
        std::string cookie(CookieValue(req.cookie, SessionCookieName(req.tls)));
        authorized = [this, cookie, subject] {
          return sessions_.Find(cookie, NowMs()).has_value() &&
                 !broker_.IdentityRevoked(subject);
        };
      } else {
        authorized = [this, subject] {
          return !broker_.IdentityRevoked(subject);
        };
      }
      r.stream =
          std::make_shared<AuditStream>(broker_, std::move(f), decision, after,
                                        streams_, std::move(authorized));
      return r;
    }
    if (path.size() == 2) {
      audit::EventFilter f;
      for (const auto& [k, v] : *query) {
        if (k == "task") {
          f.task = v;
        } else if (k == "type") {
          f.type = v;
        } else if (k == "since" || k == "until") {
          auto t = ParseTimeMs(v);
          if (!t) return FromError(t.error());
          (k == "since" ? f.since_ms : f.until_ms) = *t;
        } else if (k == "after" || k == "limit") {
          try {
            (k == "after" ? f.after_seq : f.limit) = std::stoll(v);
          } catch (const std::exception&) {
            return JsonError(400, "invalid_request",
                             "`" + k + "` must be a number");
          }
        } else {
          return JsonError(400, "invalid_request",
                           "unknown query parameter `" + k + "`");
        }
      }
      return FromResult(broker_.QueryAudit(std::move(f)));
    }
    if (path.size() == 3 && path[2] == "verify") {
      return FromResult(broker_.VerifyAudit());
    }
    return JsonError(404, "not_found", "no such endpoint");
  }
  if (path.size() >= 3 && path[1] == "admin") {
    if (!is_admin) return Forbidden("administration is for admins");
    if (path[2] == "secrets") {
      if (path.size() == 3) {
        if (m != "GET") return method_not_allowed("GET");
        return FromResult(broker_.ListSecrets());
      }
      if (path.size() != 4)
        return JsonError(404, "not_found", "no such endpoint");
      if (m == "PUT") {
        auto b = body();
        if (!b) return body_error(b.error());
        return FromResult(broker_.PutSecret(*principal, path[3], *b));
      }
      if (m == "DELETE") {
        return FromResult(broker_.DeleteSecret(*principal, path[3]));
      }
      return method_not_allowed("PUT, DELETE");
    }
    if (m != "POST") return method_not_allowed("POST");
    if (path.size() == 3 && path[2] == "reload") {
      return FromResult(broker_.Reload(actor));
    }
    if (path.size() == 4 && path[2] == "keys" && path[3] == "rotate") {
      return FromResult(broker_.RotateKeys(actor));
    }
    if (path.size() == 3 && path[2] == "tokens") {
      auto b = body();
      if (!b) return body_error(b.error());
      return FromResult(broker_.CreateOperatorToken(*principal, *b), 201);
    }
  }
  return JsonError(404, "not_found", "no such endpoint");
}

}  // namespace tether::api
