// cedar-wasm's per-decision latency on the same data as policy_latency:
// policies pre-parsed (preparsePolicySet), decided with its stateful API
// (statefulIsAuthorized), each decision timed alone. Prints the same JSON.
//   node cedar_latency.mjs --data DIR [--rounds N]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/node/package.json'));
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf('--' + n); return i >= 0 ? args[i + 1] : d; };
const dir = opt('data');
const rounds = Number(opt('rounds', '3'));
const text = fs.readFileSync(path.join(dir, 'policies.cedar'), 'utf8');
const entities = JSON.parse(fs.readFileSync(path.join(dir, 'entities.json'), 'utf8'));
const parseUid = (s) => { const m = /^(.*)::"(.*)"$/.exec(s); return { type: m[1], id: m[2] }; };
const requests = fs.readFileSync(path.join(dir, 'requests.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l)).map((r) => ({ principal: parseUid(r.principal),
    action: parseUid(r.action), resource: parseUid(r.resource), context: r.context }));

const pre = cedar.preparsePolicySet('bench', { staticPolicies: text });
if (pre.type !== 'success') { console.error(JSON.stringify(pre.errors)); process.exit(1); }
const decide = (r) => cedar.statefulIsAuthorized({ ...r, preparsedPolicySetId: 'bench', entities });
let decisions = '';
const counts = { allow: 0, deny: 0 };
for (const r of requests) {
  const a = decide(r);
  if (a.type !== 'success') { console.error(JSON.stringify(a.errors)); process.exit(1); }
  decisions += a.response.decision + '\n';
  counts[a.response.decision]++;
}
const ns = [];
for (let round = 0; round < rounds; round++) {
  for (const r of requests) {
    const t0 = process.hrtime.bigint();
    decide(r);
    ns.push(Number(process.hrtime.bigint() - t0));
  }
}
ns.sort((a, b) => a - b);
const pct = (p) => ns[Math.floor(p * (ns.length - 1))];
let digest = 1469598103934665603n;
for (const c of Buffer.from(decisions)) digest = ((digest ^ BigInt(c)) * 1099511628211n) & 0xffffffffffffffffn;
console.log(JSON.stringify({ engine: 'cedar-wasm ' + cedar.getCedarVersion(),
  policies: (text.match(/@id\(/g) || []).length, decisions: ns.length, allow: counts.allow,
  deny: counts.deny, approval_required: 0, p50_ns: pct(0.5), p90_ns: pct(0.9), p99_ns: pct(0.99),
  max_ns: ns[ns.length - 1], digest: digest.toString(16).padStart(16, '0') }));
