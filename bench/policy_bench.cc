// Micro-benchmarks of the policy engine's stages on the example policy set
// (or the data directory in $TETHER_BENCH_DATA, as written by
// gen_agent_policies.mjs): building a policy set, loading entities, and
// authorizing. Per-decision percentiles are policy_latency's job.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/json.h"
#include "core/text.h"
#include "policy/authorizer.h"

namespace {

using namespace tether;
using namespace tether::policy;

struct Data {
  std::string policies, entities;
  std::vector<std::string> requests;
};

const Data& Load() {
  static const Data data = [] {
    Data d;
    const char* dir = std::getenv("TETHER_BENCH_DATA");
    if (dir) {
      d.policies = *ReadFile(std::string(dir) + "/policies.cedar");
      d.entities = *ReadFile(std::string(dir) + "/entities.json");
      std::string reqs = *ReadFile(std::string(dir) + "/requests.jsonl");
      for (const auto& line : SplitLines(reqs)) {
        if (!line.text.empty()) d.requests.emplace_back(line.text);
      }
      return d;
    }
    std::string root = TETHER_SOURCE_DIR "/examples/";
    for (auto& s : *ReadSources(root + "policies", ".cedar"))
      d.policies += s.text;
    d.entities = *ReadFile(root + "entities.json");
    std::string reqs = *ReadFile(root + "requests.jsonl");
    for (const auto& line : SplitLines(reqs)) {
      if (!line.text.empty()) d.requests.emplace_back(line.text);
    }
    return d;
  }();
  return data;
}

void BM_BuildPolicySet(benchmark::State& state) {
  const Data& d = Load();
  for (auto _ : state) {
    PolicySet::Builder b;
    b.AddSource("bench.cedar", d.policies);
    auto set = b.Build();
    benchmark::DoNotOptimize(set);
  }
  state.SetBytesProcessed(state.iterations() * d.policies.size());
}
BENCHMARK(BM_BuildPolicySet);

void BM_LoadEntities(benchmark::State& state) {
  const Data& d = Load();
  for (auto _ : state) {
    auto store = EntityStore::FromJsonText(d.entities);
    benchmark::DoNotOptimize(store);
  }
}
BENCHMARK(BM_LoadEntities);

void BM_Authorize(benchmark::State& state) {
  const Data& d = Load();
  PolicySet::Builder b;
  b.AddSource("bench.cedar", d.policies);
  auto set = *b.Build();
  auto store = std::move(*EntityStore::FromJsonText(d.entities));
  std::vector<std::unique_ptr<OwnedRequest>> reqs;
  for (const std::string& r : d.requests) {
    reqs.push_back(std::move(*OwnedRequest::FromJson(*ParseJson(r))));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    Response resp = Authorize(*set, reqs[i]->request(), *store);
    benchmark::DoNotOptimize(resp);
    if (++i == reqs.size()) i = 0;
  }
}
BENCHMARK(BM_Authorize);

}  // namespace

BENCHMARK_MAIN();
