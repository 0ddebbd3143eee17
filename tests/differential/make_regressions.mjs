// Turns tests/differential/edge_cases.json (hand-written scenarios) into
// regression cases with the reference engine's answers, in the format of
// gen.mjs. Mismatches found by the differential test are appended to
// regressions.jsonl directly.
//   node make_regressions.mjs edge_cases.json >> regressions.jsonl
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../node/package.json'));
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const scenarios = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
for (const s of scenarios) {
  const text = s.policies.join('\n');
  const contexts = s.contexts || [{}];
  const requests = s.requests.flatMap((a) => contexts.map((context) => {
    const request = {
      principal: { type: 'User', id: 'alice' },
      action: { type: 'Action', id: a },
      resource: { type: 'Repo', id: 'r' },
      context,
    };
    const answer = cedar.isAuthorized({ ...request, policies: { staticPolicies: text },
      entities: s.entities });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer.errors));
    const r = answer.response;
    return { request, expected: {
      decision: r.decision, reason: r.diagnostics.reason.slice().sort(),
      errors: r.diagnostics.errors.map((e) => e.policyId).sort(),
      messages: r.diagnostics.errors.map((e) => e.policyId + ': ' + e.error.message) } };
  }));
  console.log(JSON.stringify({ kind: 'authz', name: s.name, policies: text,
    entities: s.entities, requests }));
}
