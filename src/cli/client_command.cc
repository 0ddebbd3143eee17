#include "cli/client_command.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "core/files.h"
#include "core/json.h"
#include "core/text.h"
#include "net/http_client.h"

namespace tether::cli {
namespace {

namespace json = boost::json;

struct StartFlags {
  std::string repo, ticket, ticket_state, ticket_provider, environment, intent,
      agent;
  std::vector<std::string> labels;
  std::int64_t ttl = 0, lease = 0;
  bool token_only = false;
  bool env = false;
};

struct AuthorizeFlags {
  std::string action, resource_type, resource_id, resource_attrs, context, via,
      approval_id;
  int wait_seconds = 0;
};

struct ApprovalFlags {
  std::string id, state, task, reason;
  int limit = 100;
  int uses = 1;
  int timeout = 3600;
};

// The state of approval `id` ("" if it cannot be read now).
std::string ApprovalState(const Connection& c, const std::string& token,
                          const std::string& id) {
  auto a =
      Fetch(c, token, "GET", "/v1/approvals/" + PercentEncode(id), nullptr);
  if (!a || a->status != 200 || !a->body.is_object()) return "";
  const json::value* s = a->body.get_object().if_contains("state");
  return s && s->is_string() ? std::string(s->get_string()) : "";
}

// Waits until approval `id` is decided, or, with no id, until a task has
// no pending approval left (a task token reads only its own). 0 when all
// were approved, 2 when one was denied, 3 when one expired or time ran out.
int WaitForApprovals(const Connection& conn, const ApprovalFlags& f) {
  auto token =
      Credential(conn, f.id.empty() ? As::kTask : As::kAnyOperatorOrTask);
  if (!token) return Fail(token.error().message);
  Connection c = conn;
  c.timeout_ms = 30'000;
  std::vector<std::string> ids;
  if (!f.id.empty()) {
    ids.push_back(f.id);
  } else {
    auto pending =
        Fetch(c, *token, "GET", "/v1/approvals?state=pending", nullptr);
    if (!pending) return Fail(pending.error().message);
    if (pending->status != 200 || !pending->body.is_object()) {
      return Fail("the server answered http " +
                  std::to_string(pending->status));
    }
    for (const json::value& a :
         pending->body.get_object().at("approvals").as_array()) {
      ids.emplace_back(a.at("id").as_string());
    }
    if (ids.empty()) {
      std::fprintf(stderr, "tether: no pending approvals\n");
      return 0;
    }
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(f.timeout);
  int rc = 0;
  for (const std::string& id : ids) {
    std::fprintf(stderr, "tether: waiting for approval %s\n", id.c_str());
    std::string state;
    while (true) {
      state = ApprovalState(c, *token, id);
      if (!state.empty() && state != "pending") break;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr, "tether: approval %s: still pending\n",
                     id.c_str());
        return 3;
      }
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    std::printf("%s %s\n", id.c_str(), state.c_str());
    if (state == "denied") rc = 2;
    if (state == "expired" && rc == 0) rc = 3;
  }
  return rc;
}

struct SecretFlags {
  std::string name, format, user, header, from_file;
  std::vector<std::string> hosts;
};

struct RevokeFlags {
  std::string task, token, identity, before, reason;
  bool all = false;
};

struct TokenFlags {
  std::string name, role;
  std::vector<std::string> groups;
};

}  // namespace

void AddClientCommands(CLI::App& app, std::function<int()>& run) {
  auto conn = std::make_shared<Connection>();

  // tether task ...
  CLI::App* task =
      app.add_subcommand("task", "start, show, list and end tasks");
  task->require_subcommand(1);
  auto start = std::make_shared<StartFlags>();
  CLI::App* s =
      task->add_subcommand("start", "start a task; prints it and its token");
  AddConnectionOptions(s, *conn);
  s->add_option("--repo", start->repo, "owner/name")->required();
  s->add_option("--ticket", start->ticket, "ticket id, e.g. OPS-42 or 17");
  s->add_option("--ticket-state", start->ticket_state,
                "the ticket's state as you know it (policy sees it as "
                "unverified unless a provider confirms it)");
  s->add_option("--ticket-provider", start->ticket_provider,
                "configured ticket provider (default: the first)");
  s->add_option("--environment", start->environment, "e.g. dev, prod");
  s->add_option("--intent", start->intent, "what the task is for");
  s->add_option("--label", start->labels, "a label (repeatable)");
  s->add_option("--ttl", start->ttl, "seconds (default and cap: config)");
  s->add_option("--lease", start->lease,
                "seconds; the task ends if heartbeats stop");
  s->add_option("--agent", start->agent, "agent name (operators only)");
  s->add_flag("--token-only", start->token_only, "print only the task token");
  s->add_flag("--env", start->env,
              "print `export TETHER_TASK_ID=... TETHER_TASK_TOKEN=...` for "
              "eval");
  s->callback([&run, conn, start] {
    run = [conn, start] {
      json::object b{{"repo", start->repo}};
      if (!start->ticket.empty()) {
        json::object t{{"id", start->ticket}};
        if (!start->ticket_state.empty()) t["state"] = start->ticket_state;
        if (!start->ticket_provider.empty())
          t["provider"] = start->ticket_provider;
        b["ticket"] = std::move(t);
      }
      if (!start->environment.empty()) b["environment"] = start->environment;
      if (!start->intent.empty()) b["intent"] = start->intent;
      if (!start->labels.empty()) {
        json::array labels;
        for (const auto& l : start->labels) labels.emplace_back(l);
        b["labels"] = std::move(labels);
      }
      if (start->ttl) b["ttl_seconds"] = start->ttl;
      if (start->lease) b["lease_seconds"] = start->lease;
      if (!start->agent.empty()) b["agent"] = start->agent;
      json::value body = b, out;
      bool quiet = start->token_only || start->env;
      int rc =
          Call(*conn, As::kIdentity, "POST", "/v1/tasks", &body, &out, !quiet);
      if (rc != 0) return rc;
      // Task ids are hex and tokens base64url with dots: safe unquoted.
      std::string token(out.at("token").as_string());
      std::string id(out.at("task").at("id").as_string());
      if (start->token_only) std::printf("%s\n", token.c_str());
      if (start->env) {
        std::printf("export TETHER_TASK_ID=%s\nexport TETHER_TASK_TOKEN=%s\n",
                    id.c_str(), token.c_str());
      }
      return 0;
    };
  });
  auto task_id = std::make_shared<std::string>();
  CLI::App* show = task->add_subcommand("show", "show a task");
  AddConnectionOptions(show, *conn);
  show->add_option("id", *task_id, "task id")->required();
  show->callback([&run, conn, task_id] {
    run = [conn, task_id] {
      return Call(*conn, As::kAnyOperatorOrTask, "GET", "/v1/tasks/" + *task_id,
                  nullptr);
    };
  });
  auto active = std::make_shared<bool>(false);
  CLI::App* list = task->add_subcommand("list", "list tasks (operators)");
  AddConnectionOptions(list, *conn);
  list->add_flag("--active", *active, "only tasks still active");
  list->callback([&run, conn, active] {
    run = [conn, active] {
      return Call(*conn, As::kOperator, "GET",
                  std::string("/v1/tasks") + (*active ? "?active=true" : ""),
                  nullptr);
    };
  });
  auto end_reason = std::make_shared<std::string>();
  CLI::App* end =
      task->add_subcommand("end", "end a task and revoke what it holds");
  AddConnectionOptions(end, *conn);
  end->add_option("id", *task_id, "task id")->required();
  end->add_option("--reason", *end_reason, "why");
  end->callback([&run, conn, task_id, end_reason] {
    run = [conn, task_id, end_reason] {
      json::value body = json::object{};
      if (!end_reason->empty()) body = json::object{{"reason", *end_reason}};
      return Call(*conn, As::kAnyOperatorOrTask, "POST",
                  "/v1/tasks/" + *task_id + "/end", &body);
    };
  });

  // tether authorize
  auto az = std::make_shared<AuthorizeFlags>();
  CLI::App* a = app.add_subcommand(
      "authorize",
      "ask the server for one decision with a task token; exit 0 allow, 2 "
      "deny, 3 approval required");
  AddConnectionOptions(a, *conn);
  a->add_option("--action", az->action, "e.g. git.push")->required();
  a->add_option("--resource-type", az->resource_type, "e.g. Repo")->required();
  a->add_option("--resource-id", az->resource_id, "e.g. acme/api")->required();
  a->add_option("--resource-attrs", az->resource_attrs,
                "JSON object (open resource types only)");
  a->add_option("--context", az->context, "JSON object");
  a->add_option("--via", az->via, "api (default) or hook");
  a->add_option("--wait", az->wait_seconds,
                "if approval is required, wait up to this many seconds for "
                "the decision");
  a->add_option("--approval-id", az->approval_id,
                "the approval this request was approved under");
  a->callback([&run, conn, az] {
    run = [conn, az] {
      json::object b{{"action", az->action},
                     {"resource", json::object{{"type", az->resource_type},
                                               {"id", az->resource_id}}}};
      if (!az->resource_attrs.empty()) {
        auto j = ParseJson(az->resource_attrs);
        if (!j) return Fail("--resource-attrs: " + j.error().message);
        b["resource"].get_object()["attrs"] = std::move(*j);
      }
      if (!az->context.empty()) {
        auto j = ParseJson(az->context);
        if (!j) return Fail("--context: " + j.error().message);
        b["context"] = std::move(*j);
      }
      if (!az->via.empty()) b["via"] = az->via;
      if (!az->approval_id.empty()) b["approval_id"] = az->approval_id;
      Connection c = *conn;
      if (az->wait_seconds > 0) {
        b["wait_seconds"] = az->wait_seconds;
        c.timeout_ms = (az->wait_seconds + 30) * 1000LL;
      }
      json::value body = b, out;
      int rc = Call(c, As::kTask, "POST", "/v1/authorize", &body, &out);
      if (rc != 0) return rc;
      std::string d(out.at("decision").as_string());
      return d == "allow" ? 0 : d == "approval_required" ? 3 : 2;
    };
  });

  // tether approvals
  auto ap = std::make_shared<ApprovalFlags>();
  CLI::App* approvals = app.add_subcommand(
      "approvals", "list, show, approve and deny approvals (operators)");
  approvals->require_subcommand(1);
  CLI::App* ap_list =
      approvals->add_subcommand("list", "approvals, newest first");
  AddConnectionOptions(ap_list, *conn);
  ap_list
      ->add_option("--state", ap->state, "pending, approved, denied, expired")
      ->check(CLI::IsMember({"pending", "approved", "denied", "expired"}));
  ap_list->add_option("--task", ap->task, "only this task's");
  ap_list->add_option("--limit", ap->limit, "at most this many (1-1000)");
  ap_list->callback([&run, conn, ap] {
    run = [conn, ap] {
      std::string q = "?limit=" + std::to_string(ap->limit);
      if (!ap->state.empty()) q += "&state=" + ap->state;
      if (!ap->task.empty()) q += "&task=" + PercentEncode(ap->task);
      return Call(*conn, As::kOperator, "GET", "/v1/approvals" + q, nullptr);
    };
  });
  CLI::App* ap_show = approvals->add_subcommand(
      "show", "one approval: the request, its policies, who decided");
  AddConnectionOptions(ap_show, *conn);
  ap_show->add_option("id", ap->id, "approval id")->required();
  ap_show->callback([&run, conn, ap] {
    run = [conn, ap] {
      return Call(*conn, As::kOperator, "GET",
                  "/v1/approvals/" + PercentEncode(ap->id), nullptr);
    };
  });
  CLI::App* ap_approve = approvals->add_subcommand(
      "approve", "approve the exact request an approval names");
  AddConnectionOptions(ap_approve, *conn);
  ap_approve->add_option("id", ap->id, "approval id")->required();
  ap_approve->add_option("--reason", ap->reason, "why");
  ap_approve->add_option("--uses", ap->uses,
                         "how many times the request may run (default 1)");
  ap_approve->callback([&run, conn, ap] {
    run = [conn, ap] {
      json::object b{{"uses", ap->uses}};
      if (!ap->reason.empty()) b["reason"] = ap->reason;
      json::value body = b;
      return Call(*conn, As::kOperator, "POST",
                  "/v1/approvals/" + PercentEncode(ap->id) + "/approve", &body);
    };
  });
  CLI::App* ap_deny =
      approvals->add_subcommand("deny", "deny the request an approval names");
  AddConnectionOptions(ap_deny, *conn);
  ap_deny->add_option("id", ap->id, "approval id")->required();
  ap_deny->add_option("--reason", ap->reason, "why (required)")->required();
  ap_deny->callback([&run, conn, ap] {
    run = [conn, ap] {
      json::value body = json::object{{"reason", ap->reason}};
      return Call(*conn, As::kOperator, "POST",
                  "/v1/approvals/" + PercentEncode(ap->id) + "/deny", &body);
    };
  });

  CLI::App* ap_wait = approvals->add_subcommand(
      "wait",
      "wait until an approval is decided (with a task token and no id: every "
      "pending approval of the task); exit 0 approved, 2 denied, 3 expired "
      "or still pending at --timeout");
  AddConnectionOptions(ap_wait, *conn);
  ap_wait->add_option("id", ap->id, "approval id");
  ap_wait->add_option("--timeout", ap->timeout, "seconds (default 3600)")
      ->check(CLI::Range(1, 7 * 86400));
  ap_wait->callback([&run, conn, ap] {
    run = [conn, ap] { return WaitForApprovals(*conn, *ap); };
  });

  // tether secret
  auto sf = std::make_shared<SecretFlags>();
  CLI::App* secret = app.add_subcommand(
      "secret",
      "upstream credentials tether injects (admin); values are "
      "never shown again");
  secret->require_subcommand(1);
  CLI::App* put = secret->add_subcommand(
      "put", "store a credential (the value from stdin, or --from-file)");
  AddConnectionOptions(put, *conn);
  put->add_option("name", sf->name, "e.g. github-app")->required();
  put->add_option("--host", sf->hosts,
                  "where it may be sent: HOST or HOST/PATH-PREFIX, "
                  "*.example.com for subdomains (repeatable)")
      ->required();
  put->add_option("--format", sf->format, "bearer (default), basic or header")
      ->check(CLI::IsMember({"bearer", "basic", "header"}));
  put->add_option("--user", sf->user, "the Basic user name");
  put->add_option("--header", sf->header, "the header, for --format header");
  put->add_option("--from-file", sf->from_file, "read the value from here");
  put->callback([&run, conn, sf] {
    run = [conn, sf] {
      std::string value;
      if (!sf->from_file.empty()) {
        auto text = ReadFile(sf->from_file, 64 * 1024 + 2);
        if (!text) return Fail(sf->from_file + ": " + text.error().message);
        value = std::move(*text);
      } else {
        value.assign(std::istreambuf_iterator<char>(std::cin),
                     std::istreambuf_iterator<char>());
      }
      // One trailing newline is the file's or the terminal's, not the
      // credential's.
      if (!value.empty() && value.back() == '\n') value.pop_back();
      if (!value.empty() && value.back() == '\r') value.pop_back();
      if (value.empty()) return Fail("the secret's value is empty");
      json::array bindings;
      for (const std::string& h : sf->hosts) {
        std::size_t slash = h.find('/');
        json::object b{{"host", h.substr(0, slash)}};
        if (slash != std::string::npos) b["path_prefix"] = h.substr(slash);
        bindings.push_back(std::move(b));
      }
      json::object b{{"value", value}, {"bindings", std::move(bindings)}};
      if (!sf->format.empty()) b["format"] = sf->format;
      if (!sf->user.empty()) b["user"] = sf->user;
      if (!sf->header.empty()) b["header"] = sf->header;
      json::value body = std::move(b);
      return Call(*conn, As::kOperator, "PUT",
                  "/v1/admin/secrets/" + PercentEncode(sf->name), &body);
    };
  });
  CLI::App* slist = secret->add_subcommand("list", "names and bindings");
  AddConnectionOptions(slist, *conn);
  slist->callback([&run, conn] {
    run = [conn] {
      return Call(*conn, As::kOperator, "GET", "/v1/admin/secrets", nullptr);
    };
  });
  CLI::App* sdel = secret->add_subcommand("delete", "remove a credential");
  AddConnectionOptions(sdel, *conn);
  sdel->add_option("name", sf->name, "the secret")->required();
  sdel->callback([&run, conn, sf] {
    run = [conn, sf] {
      return Call(*conn, As::kOperator, "DELETE",
                  "/v1/admin/secrets/" + PercentEncode(sf->name), nullptr);
    };
  });

  // tether revoke
  auto rv = std::make_shared<RevokeFlags>();
  CLI::App* r = app.add_subcommand(
      "revoke", "revoke a task, a token, an identity or everything (admin)");
  AddConnectionOptions(r, *conn);
  auto* o_task = r->add_option("--task", rv->task, "task id");
  auto* o_token = r->add_option("--token", rv->token, "token id (jti)");
  auto* o_identity =
      r->add_option("--identity", rv->identity, "identity subject (sub)");
  auto* o_all = r->add_flag("--all", rv->all,
                            "every task started before --before (default now)");
  r->add_option("--before", rv->before, "RFC 3339 time or Unix seconds")
      ->needs(o_all);
  r->add_option("--reason", rv->reason, "why");
  o_task->excludes(o_token)->excludes(o_identity)->excludes(o_all);
  o_token->excludes(o_identity)->excludes(o_all);
  o_identity->excludes(o_all);
  r->callback([&run, conn, rv] {
    run = [conn, rv] {
      json::object b;
      if (!rv->task.empty()) b["task"] = rv->task;
      if (!rv->token.empty()) b["token"] = rv->token;
      if (!rv->identity.empty()) b["identity"] = rv->identity;
      if (rv->all) b["all"] = true;
      if (!rv->before.empty()) b["before"] = rv->before;
      if (!rv->reason.empty()) b["reason"] = rv->reason;
      if (b.empty() || (b.size() == 1 && b.contains("reason"))) {
        return Fail("name one of --task, --token, --identity or --all");
      }
      json::value body = b;
      return Call(*conn, As::kOperator, "POST", "/v1/revocations", &body);
    };
  });

  // tether keys rotate
  CLI::App* keys = app.add_subcommand("keys", "task-token signing keys");
  keys->require_subcommand(1);
  CLI::App* rotate = keys->add_subcommand(
      "rotate",
      "make a new signing key active; old keys verify until their "
      "tokens expire (admin)");
  AddConnectionOptions(rotate, *conn);
  rotate->callback([&run, conn] {
    run = [conn] {
      json::value body = json::object{};
      return Call(*conn, As::kOperator, "POST", "/v1/admin/keys/rotate", &body);
    };
  });

  // tether admin ...
  CLI::App* admin = app.add_subcommand("admin", "operator tokens and reloads");
  admin->require_subcommand(1);
  CLI::App* token = admin->add_subcommand("token", "operator tokens");
  token->require_subcommand(1);
  auto tf = std::make_shared<TokenFlags>();
  CLI::App* create = token->add_subcommand(
      "create", "create an operator token; it is shown once (admin)");
  AddConnectionOptions(create, *conn);
  create->add_option("--name", tf->name, "operator name")->required();
  create->add_option("--role", tf->role, "admin, approver or auditor")
      ->required()
      ->check(CLI::IsMember({"admin", "approver", "auditor"}));
  create->add_option("--group", tf->groups, "approver group (repeatable)");
  create->callback([&run, conn, tf] {
    run = [conn, tf] {
      json::array groups;
      for (const auto& g : tf->groups) groups.emplace_back(g);
      json::value body = json::object{
          {"name", tf->name}, {"role", tf->role}, {"groups", groups}};
      return Call(*conn, As::kOperator, "POST", "/v1/admin/tokens", &body);
    };
  });
  CLI::App* reload = admin->add_subcommand(
      "reload", "reload policies and catalogs; the old set stays on error");
  AddConnectionOptions(reload, *conn);
  reload->callback([&run, conn] {
    run = [conn] {
      json::value body = json::object{};
      return Call(*conn, As::kOperator, "POST", "/v1/admin/reload", &body);
    };
  });
}

}  // namespace tether::cli
