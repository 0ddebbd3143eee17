#include "cli/policy_command.h"

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/setup.h"
#include "core/config.h"
#include "core/files.h"
#include "core/json.h"
#include "policy/authorizer.h"
#include "policy/entities.h"
#include "policy/policy_set.h"
#include "policy/request.h"
#include "policy/value.h"

namespace tether::cli {
namespace {

namespace json = boost::json;
using policy::EntityStore;
using policy::OwnedRequest;
using policy::PolicySet;

void PrintError(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
}

// Loads every path (file or directory of *.cedar) into one set. Prints every
// diagnostic; returns null if there was any.
std::shared_ptr<const PolicySet> LoadPolicies(
    const std::vector<std::string>& paths, std::size_t* files = nullptr) {
  PolicySet::Builder builder;
  bool io_ok = true;
  std::size_t count = 0;
  for (const std::string& path : paths) {
    auto sources = ReadSources(path, ".cedar");
    if (!sources) {
      PrintError(path + ": " + sources.error().message);
      io_ok = false;
      continue;
    }
    if (sources->empty()) {
      PrintError(path + ": no *.cedar files in this directory");
      io_ok = false;
    }
    for (NamedText& s : *sources) {
      builder.AddSource(s.name, s.text);
      ++count;
    }
  }
  auto set = builder.Build();
  for (const policy::SourceDiagnostic& d : builder.diagnostics()) {
    PrintError(policy::FormatDiagnostic(d));
  }
  if (!set || !io_ok) return nullptr;
  if (files) *files = count;
  return *set;
}

// Reads and parses a JSON file; errors print as `path:line:col: message`.
std::optional<json::value> LoadJson(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) {
    PrintError(path + ": " + text.error().message);
    return std::nullopt;
  }
  LineCol where;
  auto j = ParseJson(*text, {}, &where);
  if (!j) {
    PrintError(path + ":" + std::to_string(where.line) + ":" +
               std::to_string(where.column) + ": " + j.error().message);
    return std::nullopt;
  }
  return std::move(*j);
}

std::unique_ptr<EntityStore> LoadEntities(const json::value& j,
                                          const std::string& where) {
  auto store = EntityStore::FromJson(j);
  if (!store) {
    PrintError(where + ": " + store.error().message);
    return nullptr;
  }
  return std::move(*store);
}

std::string DescribeRequest(const policy::Request& r) {
  return policy::UidToString(*r.principal) + " " +
         policy::UidToString(*r.action) + " " +
         policy::UidToString(*r.resource);
}

int RunCheck(const std::vector<std::string>& paths) {
  std::size_t files = 0;
  auto set = LoadPolicies(paths, &files);
  if (!set) return 1;
  std::printf("ok: %zu policies in %zu file(s)\n", set->size(), files);
  return 0;
}

struct EvalOptions {
  std::vector<std::string> policies;
  std::string entities;
  std::string request;
  std::string requests;
  bool cedar_semantics = false;
  std::string format = "json";
  bool audit = false;    // record each decision in the audit log
  std::string config;    // tether.toml (audit settings, data dir)
  std::string data_dir;  // overrides the config's
};

int RunEval(const EvalOptions& opt) {
  auto set = LoadPolicies(opt.policies);
  if (!set) return 1;
  std::unique_ptr<EntityStore> entities;
  if (opt.entities.empty()) {
    entities = std::make_unique<EntityStore>();
    (void)entities->Finalize();
  } else {
    auto j = LoadJson(opt.entities);
    if (!j) return 1;
    entities = LoadEntities(*j, opt.entities);
    if (!entities) return 1;
  }
  policy::AuthorizeOptions options;
  options.cedar_semantics = opt.cedar_semantics;
  bool text = opt.format == "text";
  std::optional<audit::AuditSystem> audit_system;
  if (opt.audit) {
    Config config;
    if (!opt.config.empty()) {
      auto c = LoadConfig(opt.config);
      if (!c) {
        PrintError(c.error().message);
        return 1;
      }
      config = std::move(*c);
    }
    if (!opt.data_dir.empty()) config.data_dir = opt.data_dir;
    auto sys = audit::OpenAuditSystem(config);
    if (!sys) {
      PrintError("cannot open the audit log: " + sys.error().message);
      return 1;
    }
    audit_system = std::move(*sys);
  }
  int status = 0;
  std::size_t n = 0;
  auto decide = [&](const json::value& j, const std::string& where) {
    ++n;
    auto req = OwnedRequest::FromJson(j);
    if (!req) {
      PrintError(where + ": " + req.error().message);
      json::object err{
          {"error",
           json::object{{"code", req.error().code},
                        {"message", where + ": " + req.error().message}}}};
      std::cout << json::serialize(err) << "\n";
      status = 1;
      return;
    }
    policy::Response r =
        policy::Authorize(*set, (*req)->request(), *entities, options);
    if (audit_system) {
      const policy::Request& rq = (*req)->request();
      audit::Event e;
      e.type = "authz.decision";
      e.principal = policy::UidToString(*rq.principal);
      e.action = policy::UidToString(*rq.action);
      e.resource = policy::UidToString(*rq.resource);
      if (rq.principal->type == "Task")
        e.task_id = std::string(rq.principal->id);
      e.decision = std::string(policy::DecisionName(r.decision));
      for (const policy::Policy* p : r.determining) {
        e.determining_policies.push_back(p->id);
      }
      e.reasons = policy::Reasons(r);
      e.policy_set_sha256 = set->sha256();
      e.detail["source"] = "tether policy eval";
      if (auto seq = audit_system->log->Append(std::move(e)); !seq) {
        // No durable record, no decision: fail closed.
        PrintError(where + ": not recorded in the audit log (" +
                   seq.error().message + "); stopping");
        status = 1;
        return;
      }
    }
    if (!text) {
      std::cout << json::serialize(policy::ResponseToJson(r)) << "\n";
      return;
    }
    std::cout << "[" << n << "] " << DescribeRequest((*req)->request())
              << "\n    -> " << policy::DecisionName(r.decision);
    if (!r.determining.empty()) {
      std::cout << " (";
      for (std::size_t i = 0; i < r.determining.size(); ++i) {
        std::cout << (i ? ", " : "") << r.determining[i]->id;
      }
      std::cout << ")";
    }
    std::cout << "\n";
    for (const std::string& reason : policy::Reasons(r)) {
      std::cout << "       " << reason << "\n";
    }
    for (const policy::PolicyError& e : r.errors) {
      std::cout << "       error in `" << e.policy->id << "`: " << e.message
                << "\n";
    }
  };
  if (!opt.request.empty()) {
    auto j = LoadJson(opt.request);
    if (!j) return 1;
    decide(*j, opt.request);
  } else {
    auto content = ReadFile(opt.requests);
    if (!content) {
      PrintError(opt.requests + ": " + content.error().message);
      return 1;
    }
    for (const auto& [line_no, line] : SplitLines(*content)) {
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      std::string where = opt.requests + ":" + std::to_string(line_no);
      LineCol lc;
      auto j = ParseJson(line, {}, &lc);
      if (!j) {
        ++n;
        std::string msg =
            where + ":" + std::to_string(lc.column) + ": " + j.error().message;
        PrintError(msg);
        json::object err{{"error", json::object{{"code", "invalid_json"},
                                                {"message", msg}}}};
        std::cout << json::serialize(err) << "\n";
        status = 1;
        continue;
      }
      decide(*j, where);
    }
  }
  std::cout.flush();
  return status;
}

// Resolves `p` relative to the directory of the test file.
std::string Relative(const std::string& test_file, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (std::filesystem::path(test_file).parent_path() / path).string();
}

int RunTest(const std::string& file, bool cedar_semantics,
            bool require_coverage) {
  auto j = LoadJson(file);
  if (!j) return 1;
  if (!j->is_object()) {
    PrintError(file + ": a test file must be a json object with `cases`");
    return 1;
  }
  const json::object& o = j->get_object();
  std::vector<std::string> policy_paths;
  if (const json::value* p = o.if_contains("policies")) {
    if (p->is_string()) {
      policy_paths.push_back(Relative(file, std::string(p->get_string())));
    } else if (p->is_array()) {
      for (const json::value& item : p->get_array()) {
        if (!item.is_string()) {
          PrintError(file + ": `policies` must be a path or a list of paths");
          return 1;
        }
        policy_paths.push_back(Relative(file, std::string(item.get_string())));
      }
    }
  }
  if (policy_paths.empty()) {
    PrintError(file + ": `policies` (a path or a list of paths) is required");
    return 1;
  }
  auto set = LoadPolicies(policy_paths);
  if (!set) return 1;

  auto entities_from =
      [&](const json::value& v,
          const std::string& where) -> std::unique_ptr<EntityStore> {
    if (v.is_string()) {
      std::string path = Relative(file, std::string(v.get_string()));
      auto ej = LoadJson(path);
      if (!ej) return nullptr;
      return LoadEntities(*ej, path);
    }
    return LoadEntities(v, where);
  };
  std::unique_ptr<EntityStore> shared;
  if (const json::value* e = o.if_contains("entities")) {
    shared = entities_from(*e, file + ": entities");
    if (!shared) return 1;
  } else {
    shared = std::make_unique<EntityStore>();
    (void)shared->Finalize();
  }
  const json::value* cases = o.if_contains("cases");
  if (!cases || !cases->is_array() || cases->get_array().empty()) {
    PrintError(file + ": `cases` must be a non-empty list");
    return 1;
  }
  policy::AuthorizeOptions options;
  options.cedar_semantics = cedar_semantics;
  int passed = 0, failed = 0;
  std::size_t index = 0;
  std::set<std::string> determined;
  for (const json::value& c : cases->get_array()) {
    ++index;
    std::string name = "case #" + std::to_string(index);
    if (!c.is_object()) {
      PrintError(file + ": " + name + " is not an object");
      ++failed;
      continue;
    }
    const json::object& co = c.get_object();
    if (const json::value* n = co.if_contains("name"); n && n->is_string()) {
      name = std::string(n->get_string());
    }
    auto fail = [&](const std::string& why) {
      std::printf("FAIL  %s: %s\n", name.c_str(), why.c_str());
      ++failed;
    };
    const json::value* req_j = co.if_contains("request");
    const json::value* expected = co.if_contains("expected");
    if (!req_j || !expected || !expected->is_string()) {
      fail(
          "a case needs `request` and `expected` (allow, deny or "
          "approval_required)");
      continue;
    }
    std::string want(expected->get_string());
    if (want != "allow" && want != "deny" && want != "approval_required") {
      fail("`expected` must be allow, deny or approval_required, got `" + want +
           "`");
      continue;
    }
    std::unique_ptr<EntityStore> own;
    if (const json::value* e = co.if_contains("entities")) {
      own = entities_from(*e, file + ": " + name + ": entities");
      if (!own) {
        fail("invalid entities");
        continue;
      }
    }
    auto req = OwnedRequest::FromJson(*req_j);
    if (!req) {
      fail(req.error().message);
      continue;
    }
    const EntityStore& store = own ? *own : *shared;
    policy::Response r =
        policy::Authorize(*set, (*req)->request(), store, options);
    std::string got(policy::DecisionName(r.decision));
    std::string ids;
    for (const policy::Policy* p : r.determining) {
      ids += (ids.empty() ? "" : ", ") + p->id;
      determined.insert(p->id);
    }
    if (got != want) {
      std::string why = "expected " + want + ", got " + got;
      if (!ids.empty()) why += " (determining: " + ids + ")";
      for (const policy::PolicyError& e : r.errors) {
        why += "; error in `" + e.policy->id + "`: " + e.message;
      }
      fail(why);
      continue;
    }
    if (const json::value* d = co.if_contains("determining_policies")) {
      std::string want_ids;
      bool ok = d->is_array();
      if (ok) {
        for (const json::value& id : d->get_array()) {
          if (!id.is_string())
            ok = false;
          else
            want_ids +=
                (want_ids.empty() ? "" : ", ") + std::string(id.get_string());
        }
      }
      if (!ok || want_ids != ids) {
        fail("expected determining policies [" + want_ids + "], got [" + ids +
             "]");
        continue;
      }
    }
    std::printf("PASS  %s\n", name.c_str());
    ++passed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::vector<std::string> untested;
  for (const policy::Policy& p : set->policies()) {
    if (!determined.count(p.id)) untested.push_back(p.id);
  }
  if (!untested.empty()) {
    std::string list;
    for (const std::string& id : untested) {
      list += (list.empty() ? "" : ", ") + id;
    }
    std::printf("%s: %zu policies never determined a decision: %s\n",
                require_coverage ? "error" : "note", untested.size(),
                list.c_str());
    if (require_coverage) return 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, std::function<int()>& run) {
  CLI::App* policy =
      app.add_subcommand("policy", "check, evaluate and test cedar policies");
  policy->require_subcommand(1);

  auto check_files = std::make_shared<std::vector<std::string>>();
  CLI::App* check = policy->add_subcommand(
      "check", "validate policy files; errors as file:line:col");
  check->add_option("files", *check_files, "policy files or directories")
      ->required();
  check->callback([&run, check_files] {
    run = [check_files] { return RunCheck(*check_files); };
  });

  auto eval = std::make_shared<EvalOptions>();
  CLI::App* ev = policy->add_subcommand(
      "eval", "decide requests; one decision json object per request");
  ev->add_option("--policies", eval->policies,
                 "policy file or directory (repeatable)")
      ->required();
  ev->add_option("--entities", eval->entities, "cedar entities json file");
  auto* one = ev->add_option("--request", eval->request, "request json file");
  auto* many = ev->add_option("--requests", eval->requests,
                              "file with one request json per line");
  one->excludes(many);
  ev->add_flag("--cedar-semantics", eval->cedar_semantics,
               "cedar's exact semantics: erroring forbids are skipped and "
               "@approval is ignored");
  ev->add_option("--format", eval->format, "json (default) or text")
      ->check(CLI::IsMember({"json", "text"}));
  ev->add_flag("--audit", eval->audit,
               "record every decision in the audit log");
  ev->add_option("--config", eval->config, "tether.toml (with --audit)");
  ev->add_option("--data-dir", eval->data_dir,
                 "data directory (with --audit; default tether-data)");
  ev->callback([&run, eval, one, many] {
    if (one->count() + many->count() != 1) {
      throw CLI::ValidationError("one of --request or --requests is required");
    }
    run = [eval] { return RunEval(*eval); };
  });

  auto test_file = std::make_shared<std::string>();
  auto test_cedar = std::make_shared<bool>(false);
  auto test_coverage = std::make_shared<bool>(false);
  CLI::App* test = policy->add_subcommand(
      "test", "run a json file of named cases against their policies");
  test->add_option("file", *test_file, "test file")->required();
  test->add_flag("--cedar-semantics", *test_cedar, "cedar's exact semantics");
  test->add_flag("--require-coverage", *test_coverage,
                 "fail unless every policy determines at least one case");
  test->callback([&run, test_file, test_cedar, test_coverage] {
    run = [test_file, test_cedar, test_coverage] {
      return RunTest(*test_file, *test_cedar, *test_coverage);
    };
  });
}

}  // namespace tether::cli
