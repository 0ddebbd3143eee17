// Per-decision latency of the authorizer over prebuilt entities: loads a
// policy set, an entity file and requests (one JSON per line), decides every
// request `--rounds` times timing each decision alone, and prints one JSON
// object: decision counts, p50/p90/p99/max in nanoseconds and the decision
// list's digest (to check that a peer decided the same).
//   policy_latency --data DIR [--rounds N] [--tether-semantics]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/json.h"
#include "core/text.h"
#include "policy/authorizer.h"

using namespace tether;
using namespace tether::policy;

int main(int argc, char** argv) {
  std::string dir;
  int rounds = 20;
  bool cedar = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--data") && i + 1 < argc)
      dir = argv[++i];
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tether-semantics"))
      cedar = false;
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: policy_latency --data DIR [--rounds N]\n");
    return 2;
  }
  auto text = ReadFile(dir + "/policies.cedar");
  auto ents = ReadFile(dir + "/entities.json");
  auto reqs = ReadFile(dir + "/requests.jsonl");
  if (!text || !ents || !reqs) {
    std::fprintf(stderr, "cannot read the data in %s\n", dir.c_str());
    return 1;
  }
  PolicySet::Builder builder;
  builder.AddSource("policies.cedar", *text);
  auto set = builder.Build();
  if (!set) {
    std::fprintf(stderr, "%s\n", set.error().message.c_str());
    return 1;
  }
  auto store = EntityStore::FromJsonText(*ents);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  std::vector<std::unique_ptr<OwnedRequest>> requests;
  for (const auto& [number, line] : SplitLines(*reqs)) {
    if (line.empty()) continue;
    auto j = ParseJson(line);
    auto r = j ? OwnedRequest::FromJson(*j)
               : Result<std::unique_ptr<OwnedRequest>>(j.error());
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    requests.push_back(std::move(*r));
  }
  AuthorizeOptions options;
  options.cedar_semantics = cedar;
  std::string decisions;
  std::size_t allow = 0, deny = 0, approval = 0;
  for (const auto& r : requests) {  // warm-up, and the decisions to compare
    Response resp = Authorize(**set, r->request(), **store, options);
    decisions += DecisionName(resp.decision);
    decisions += '\n';
    if (resp.decision == Decision::kAllow)
      ++allow;
    else if (resp.decision == Decision::kDeny)
      ++deny;
    else
      ++approval;
  }
  std::size_t candidates = 0;
  std::vector<std::uint32_t> buf;
  for (const auto& r : requests) {
    Arena arena;
    (*set)->Candidates((*set)->Canonicalize(r->request(), arena), **store, buf);
    candidates += buf.size();
  }
  std::vector<std::int64_t> ns;
  ns.reserve(requests.size() * rounds);
  for (int round = 0; round < rounds; ++round) {
    for (const auto& r : requests) {
      auto t0 = std::chrono::steady_clock::now();
      Response resp = Authorize(**set, r->request(), **store, options);
      auto t1 = std::chrono::steady_clock::now();
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                       .count());
      if (resp.determining.size() > 1000000) std::puts("");  // keep the call
    }
  }
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) {
    return ns[static_cast<std::size_t>(p * (ns.size() - 1))];
  };
  std::uint64_t digest = 1469598103934665603ULL;
  for (char c : decisions)
    digest = (digest ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  std::printf(
      "{\"engine\":\"tether\",\"policies\":%zu,\"decisions\":%zu,\"allow\":%zu,"
      "\"deny\":%zu,\"approval_required\":%zu,\"avg_candidates\":%.1f,"
      "\"p50_ns\":%lld,\"p90_ns\":%lld,"
      "\"p99_ns\":%lld,\"max_ns\":%lld,\"digest\":\"%016llx\"}\n",
      (*set)->size(), ns.size(), allow, deny, approval,
      static_cast<double>(candidates) / requests.size(), (long long)pct(0.5),
      (long long)pct(0.9), (long long)pct(0.99), (long long)ns.back(),
      (unsigned long long)digest);
  return 0;
}
