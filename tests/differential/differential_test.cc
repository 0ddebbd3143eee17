// Differential test against Cedar's reference engine.
//
// tests/differential/gen.mjs generates random policies, entities and requests
// and records cedar-wasm's answers; this test decides the same requests with
// tether's engine under --cedar-semantics and requires identical decisions,
// determining policies and erroring policies. It also requires the parser to
// accept exactly the texts Cedar accepts, and checks that the generated
// workload covers every construct of the language and every kind of outcome,
// so the comparison cannot pass by testing too little.
//
// Environment (each defaults to what the build configured):
//   TETHER_DIFF_CASES        generated cases
//   TETHER_DIFF_REGRESSIONS  checked-in regression cases (same format)
//   TETHER_DIFF_MIN_REQUESTS minimum number of requests
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/files.h"
#include "core/json.h"
#include "core/text.h"
#include "policy/authorizer.h"
#include "policy/entities.h"
#include "policy/parser.h"
#include "policy/policy_set.h"
#include "policy/request.h"

namespace tether::policy {
namespace {

namespace json = boost::json;

// The file named by environment variable `env`, else the build's default.
const char* PathFor(const char* env) {
  if (const char* path = std::getenv(env)) return path;
  if (std::string_view(env) == "TETHER_DIFF_CASES") return TETHER_DIFF_CASES;
  return TETHER_DIFF_REGRESSIONS;
}

std::vector<json::value> ReadLines(const char* env) {
  const char* path = PathFor(env);
  std::vector<json::value> out;
  auto text = ReadFile(path, std::size_t(1) << 31);
  if (!text) {
    ADD_FAILURE() << text.error().message;
    return out;
  }
  for (const auto& [number, line] : SplitLines(*text)) {
    if (line.empty()) continue;
    auto j = ParseJson(line);
    if (!j) {
      ADD_FAILURE() << path << ": " << j.error().message;
      continue;
    }
    out.push_back(std::move(*j));
  }
  return out;
}

std::vector<std::string> Strings(const json::value& v) {
  std::vector<std::string> out;
  for (const json::value& s : v.as_array()) {
    out.emplace_back(s.as_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ",") + s;
  return "[" + out + "]";
}

struct Tally {
  std::size_t requests = 0;
  std::size_t allow = 0, forbid_deny = 0, default_deny = 0, with_errors = 0;
  std::map<std::string, std::size_t> constructs;
  std::vector<std::string> mismatches;
};

// Decides every request of one scenario and compares with Cedar's answers.
void RunScenario(const json::object& scenario, Tally& tally,
                 std::ofstream* mismatch_log) {
  std::string text(scenario.at("policies").as_string());
  PolicySet::Builder builder;
  builder.AddSource("scenario", text);
  auto set = builder.Build();
  if (!set) {
    std::string diag;
    for (const auto& d : builder.diagnostics()) diag += FormatDiagnostic(d);
    tally.mismatches.push_back("policies cedar accepts were rejected: " + diag +
                               "\n" + text);
    return;
  }
  auto entities = EntityStore::FromJson(scenario.at("entities"));
  if (!entities) {
    tally.mismatches.push_back("entities cedar accepts were rejected: " +
                               entities.error().message);
    return;
  }
  std::vector<std::string> constructs;
  if (const json::value* c = scenario.if_contains("constructs")) {
    constructs = Strings(*c);
  }
  AuthorizeOptions options;
  options.cedar_semantics = true;
  for (const json::value& item : scenario.at("requests").as_array()) {
    const json::object& rq = item.as_object();
    const json::object& expected = rq.at("expected").as_object();
    ++tally.requests;
    for (const std::string& c : constructs) ++tally.constructs[c];
    std::string want_decision(expected.at("decision").as_string());
    std::vector<std::string> want_reason = Strings(expected.at("reason"));
    std::vector<std::string> want_errors = Strings(expected.at("errors"));
    if (want_decision == "allow") {
      ++tally.allow;
    } else if (!want_reason.empty()) {
      ++tally.forbid_deny;
    } else {
      ++tally.default_deny;
    }
    if (!want_errors.empty()) ++tally.with_errors;

    auto req = OwnedRequest::FromJson(rq.at("request"));
    if (!req) {
      tally.mismatches.push_back("request cedar accepts was rejected: " +
                                 req.error().message);
      continue;
    }
    Response r = Authorize(**set, (*req)->request(), **entities, options);
    std::string got_decision(DecisionName(r.decision));
    std::vector<std::string> got_reason, got_errors;
    for (const Policy* p : r.determining) got_reason.push_back(p->id);
    for (const PolicyError& e : r.errors) got_errors.push_back(e.policy->id);
    std::sort(got_reason.begin(), got_reason.end());
    std::sort(got_errors.begin(), got_errors.end());
    if (got_decision == want_decision && got_reason == want_reason &&
        got_errors == want_errors) {
      continue;
    }
    std::string ours;
    for (const PolicyError& e : r.errors) {
      ours += "\n    " + e.policy->id + ": " + e.message;
    }
    std::string theirs;
    if (const json::value* m = expected.if_contains("messages")) {
      for (const json::value& s : m->as_array()) {
        theirs += "\n    " + std::string(s.as_string());
      }
    }
    tally.mismatches.push_back(
        "request " + json::serialize(rq.at("request")) +
        "\n  cedar:  " + want_decision + " reason=" + Join(want_reason) +
        " errors=" + Join(want_errors) + theirs +
        "\n  tether: " + got_decision + " reason=" + Join(got_reason) +
        " errors=" + Join(got_errors) + ours + "\n  policies:\n" + text);
    if (mismatch_log) {
      json::object keep = scenario;
      keep["requests"] = json::array{item};
      *mismatch_log << json::serialize(keep) << "\n";
    }
  }
}

void ReportMismatches(const Tally& tally) {
  std::size_t shown = 0;
  for (const std::string& m : tally.mismatches) {
    if (++shown > 20) break;
    ADD_FAILURE() << "mismatch with cedar:\n" << m;
  }
  EXPECT_EQ(tally.mismatches.size(), 0u)
      << "decisions differ from cedar-wasm's";
}

TEST(Differential, AuthorizationMatchesCedar) {
  std::vector<json::value> lines = ReadLines("TETHER_DIFF_CASES");
  ASSERT_FALSE(lines.empty())
      << "TETHER_DIFF_CASES must name the cases generated by gen.mjs";
  std::string log_path =
      std::string(PathFor("TETHER_DIFF_CASES")) + ".mismatches.jsonl";
  std::ofstream log(log_path);
  Tally tally;
  for (const json::value& line : lines) {
    const json::object& o = line.as_object();
    if (o.at("kind").as_string() == "authz") RunScenario(o, tally, &log);
  }
  ReportMismatches(tally);
  if (!tally.mismatches.empty()) {
    ADD_FAILURE() << "mismatching scenarios written to " << log_path
                  << "; add them to tests/differential/regressions.jsonl";
  }

  std::size_t min_requests = TETHER_DIFF_MIN_REQUESTS;
  if (const char* m = std::getenv("TETHER_DIFF_MIN_REQUESTS")) {
    min_requests = std::strtoul(m, nullptr, 10);
  }
  EXPECT_GE(tally.requests, min_requests);

  // Every outcome must be well represented...
  double n = static_cast<double>(tally.requests);
  EXPECT_GE(tally.allow / n, 0.10) << "allow";
  EXPECT_GE(tally.forbid_deny / n, 0.10) << "deny by forbid";
  EXPECT_GE(tally.default_deny / n, 0.10) << "default deny";
  EXPECT_GE(tally.with_errors / n, 0.10) << "evaluation errors";

  // ...and every construct of the language must appear in at least 50 cases.
  static const char* kConstructs[] = {"annotation",
                                      "comment",
                                      "permit",
                                      "forbid",
                                      "when",
                                      "unless",
                                      "scope_eq",
                                      "scope_in",
                                      "scope_is",
                                      "scope_is_in",
                                      "action_eq",
                                      "action_in",
                                      "action_in_set",
                                      "bool",
                                      "long",
                                      "string",
                                      "string_escape",
                                      "entity",
                                      "namespace",
                                      "var",
                                      "set",
                                      "record",
                                      "attr",
                                      "index",
                                      "has",
                                      "has_path",
                                      "like",
                                      "like_escaped_star",
                                      "is",
                                      "is_in",
                                      "in",
                                      "eq",
                                      "ne",
                                      "lt",
                                      "le",
                                      "gt",
                                      "ge",
                                      "add",
                                      "sub",
                                      "mul",
                                      "neg",
                                      "not",
                                      "and",
                                      "or",
                                      "if",
                                      "contains",
                                      "containsAll",
                                      "containsAny",
                                      "isEmpty",
                                      "ip",
                                      "isIpv4",
                                      "isIpv6",
                                      "isLoopback",
                                      "isMulticast",
                                      "isInRange",
                                      "decimal",
                                      "lessThan",
                                      "lessThanOrEqual",
                                      "greaterThan",
                                      "greaterThanOrEqual"};
  for (const char* c : kConstructs) {
    EXPECT_GE(tally.constructs[c], 50u) << "construct `" << c << "`";
  }
  std::printf(
      "differential: %zu requests, %zu mismatches; allow %.1f%%, "
      "forbid %.1f%%, default deny %.1f%%, errors %.1f%%\n",
      tally.requests, tally.mismatches.size(), 100 * tally.allow / n,
      100 * tally.forbid_deny / n, 100 * tally.default_deny / n,
      100 * tally.with_errors / n);
}

// Parsing: tether accepts a text exactly when Cedar does.
TEST(Differential, ParserAcceptsExactlyWhatCedarAccepts) {
  std::vector<json::value> lines = ReadLines("TETHER_DIFF_CASES");
  ASSERT_FALSE(lines.empty());
  std::size_t cases = 0, corpus = 0, rejected = 0;
  for (const json::value& line : lines) {
    const json::object& o = line.as_object();
    if (o.at("kind").as_string() != "parse") continue;
    ++cases;
    std::string text(o.at("text").as_string());
    bool cedar_ok = o.at("cedar_ok").as_bool();
    bool from_corpus = o.at("origin").as_string() == "corpus";
    Arena arena;
    ParseOutput out = ParsePolicies(text, arena);
    if (!cedar_ok) ++rejected;
    if (from_corpus) {
      ++corpus;
      EXPECT_FALSE(cedar_ok) << "the invalid corpus holds a text cedar "
                                "accepts:\n"
                             << text;
    }
    if (out.ok() != cedar_ok) {
      ADD_FAILURE() << (cedar_ok ? "cedar accepts, tether rejects"
                                 : "cedar rejects, tether accepts")
                    << (out.ok() ? std::string()
                                 : ": " + out.errors.front().message)
                    << "\n"
                    << text;
    }
  }
  EXPECT_GE(cases, 1000u);
  EXPECT_GE(corpus, 50u) << "the curated invalid corpus is missing";
  EXPECT_GE(rejected, cases / 4) << "too few invalid texts to be meaningful";
}

// Mismatches found earlier, kept as regression cases (no node needed).
TEST(Differential, Regressions) {
  std::vector<json::value> lines = ReadLines("TETHER_DIFF_REGRESSIONS");
  ASSERT_FALSE(lines.empty()) << "no regression cases";
  Tally tally;
  for (const json::value& line : lines) {
    RunScenario(line.as_object(), tally, nullptr);
  }
  ReportMismatches(tally);
}

}  // namespace
}  // namespace tether::policy
