// Generates a realistic agent policy set for the policy benchmark: per-repo
// push/PR/branch-protection rules, per-action rules scoped on resource type,
// environment and label guardrails, approval gates and tool rules, with
// conditions on context (ref patterns, edge, environment, labels).
//   node gen_agent_policies.mjs --policies N --requests M --out DIR [--seed S]
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf('--' + n); return i >= 0 ? args[i + 1] : d; };
const N = Number(opt('policies', '1000'));
const M = Number(opt('requests', '1000'));
const out = opt('out');
let seed = Number(opt('seed', '42'));
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
fs.mkdirSync(out, { recursive: true });

const REPOS = Array.from({ length: 60 }, (_, i) => `acme/svc-${i}`);
const TEAMS = ['payments', 'search', 'infra', 'web', 'data', 'mobile', 'growth', 'ml',
  'billing', 'identity', 'storage', 'network', 'docs', 'sre', 'security', 'platform',
  'checkout', 'ads', 'maps', 'media', 'notify', 'chat', 'core', 'api', 'edge'];
const READ = ['git.fetch', 'github.read', 'github.pulls.list', 'github.issues.list',
  'github.actions.runs.list', 'github.contents.read', 'github.checks.read', 'github.releases.list'];
const WRITE = ['git.push', 'github.pulls.create', 'github.pulls.merge', 'github.pulls.review',
  'github.pulls.update', 'github.contents.write', 'github.contents.delete',
  'github.issues.create', 'github.issues.comment', 'github.issues.update', 'github.labels.write',
  'github.releases.create', 'github.releases.update', 'github.deployments.create',
  'github.deployments.status', 'github.actions.dispatch', 'github.actions.rerun',
  'github.actions.variables.write', 'github.repos.settings', 'github.branches.protect',
  'github.checks.create', 'github.statuses.create', 'registry.publish', 'registry.tag'];
const ADMIN = ['github.repos.delete', 'github.actions.secrets.write', 'github.hooks.write',
  'github.collaborators.write', 'github.environments.write'];
const REPO_ACTIONS = READ.concat(WRITE, ADMIN);
const OTHER = ['secret.read', 'http.request', 'tool.call', 'credential.issue'];
const ACTIONS = REPO_ACTIONS.concat(OTHER);
const HOSTS = ['api.github.com', 'registry.npmjs.org', 'pypi.org', 'proxy.golang.org',
  'example.com', 'evil.example'];
const TOOLS = ['Bash', 'Read', 'Edit', 'Write', 'WebFetch'];
const ENVS = ['dev', 'staging', 'prod'];
const LABELS = ['untrusted_input', 'secret_read', 'external_content'];
const PROTECTED = ['refs/heads/main', 'refs/heads/release/*', 'refs/tags/*', 'refs/heads/hotfix/*'];

// Every policy scopes on an action and a resource type and conditions on
// context (ref and file patterns, edge), the task's environment and labels.
const A = (a) => `Action::"${a}"`;
// Actions are drawn uniformly, so each has about N / |actions| policies; the
// template is chosen to fit the action's resource type.
const repoTemplates = [
  (a) => `permit (principal is Task, action == ${A(a)}, resource is Repo)
when { resource == principal.repo && context.ref like "refs/heads/${pick(TEAMS)}/*" && principal.environment == Environment::"${pick(ENVS)}" };`,
  (a) => `permit (principal is Task, action == ${A(a)}, resource is Repo)
when { context.edge == "proxy" && principal.environment == Environment::"${pick(ENVS)}" && !principal.labels.contains("${pick(LABELS)}") };`,
  (a) => `forbid (principal is Task, action == ${A(a)}, resource is Repo)
when { context has ref && context.ref like "${pick(PROTECTED)}" && principal.environment == Environment::"${pick(ENVS)}" }
unless { principal.ticket.verified && principal.ticket.state == "approved" };`,
  (a) => `forbid (principal is Task, action == ${A(a)}, resource is Repo)
when { principal.labels.contains("${pick(LABELS)}") && principal.environment == Environment::"${pick(ENVS)}" };`,
  (a) => `permit (principal is Task, action in [${A(a)}, ${A(pick(REPO_ACTIONS))}], resource is Repo)
when { context has file_path && context.file_path like "${pick(TEAMS)}/*" && !principal.labels.contains("untrusted_input") };`,
  (a) => `forbid (principal is Task, action == ${A(a)}, resource is Repo)
when { context has file_path && context.file_path like ".github/${pick(['workflows', 'actions', 'CODEOWNERS'])}*" && context.edge != "${pick(['api', 'hook'])}" };`,
  (a) => `@approval("${pick(TEAMS)}-leads")
permit (principal is Task, action == ${A(a)}, resource is Repo)
when { principal.environment == Environment::"prod" && context.ref like "refs/heads/${pick(TEAMS)}/*" };`,
  (a) => `forbid (principal is Task, action == ${A(a)}, resource is Repo)
unless { principal.labels.isEmpty() && context.edge == "proxy" && principal.environment == Environment::"${pick(ENVS)}" };`,
];
const otherTemplates = {
  'http.request': [
  () => `permit (principal is Task, action == ${A('http.request')}, resource is Host)
when { resource == Host::"${pick(HOSTS)}" && context.method == "${pick(['GET', 'HEAD'])}" && principal.environment == Environment::"${pick(ENVS)}" };`,
  () => `forbid (principal is Task, action == ${A('http.request')}, resource is Host)
when { principal.labels.contains("${pick(LABELS)}") && context.path like "/${pick(TEAMS)}/*" };`],
  'secret.read': [
  () => `@approval("security")
permit (principal is Task, action == ${A('secret.read')}, resource is Secret)
when { resource.team == "${pick(TEAMS)}" && principal.environment == Environment::"${pick(ENVS)}" };`],
  'tool.call': [
  () => `permit (principal is Task, action == ${A('tool.call')}, resource is Tool)
when { resource == Tool::"${pick(TOOLS)}" && context.command like "${pick(['git ', 'npm ', 'make ', 'go ', 'cargo '])}*" && principal.environment == Environment::"${pick(ENVS)}" };`],
  'credential.issue': [
  () => `permit (principal is Task, action == ${A('credential.issue')}, resource is Repo)
when { resource == principal.repo && context.edge == "api" && principal.environment == Environment::"${pick(ENVS)}" };`],
};
const policies = [];
const seen = new Set();
while (policies.length < N) {
  const a = pick(ACTIONS);
  const text = otherTemplates[a] ? pick(otherTemplates[a])() : pick(repoTemplates)(a);
  if (seen.has(text)) continue;
  seen.add(text);
  policies.push(`@id("p${policies.length}")\n${text}`);
}
fs.writeFileSync(path.join(out, 'policies.cedar'), policies.join('\n\n') + '\n');

const uid = (type, id) => ({ type, id });
const ents = [];
ents.push({ uid: uid('Action', 'read'), attrs: {}, parents: [] });
ents.push({ uid: uid('Action', 'write'), attrs: {}, parents: [] });
for (const a of ACTIONS) {
  const parents = READ.includes(a) ? [uid('Action', 'read')]
    : WRITE.includes(a) || ADMIN.includes(a) ? [uid('Action', 'write')] : [];
  ents.push({ uid: uid('Action', a), attrs: {}, parents });
}
for (const r of REPOS) ents.push({ uid: uid('Repo', r), attrs: { visibility: pick(['private', 'public']), team: pick(TEAMS) }, parents: [] });
for (const t of TEAMS) for (let i = 0; i < 4; i++) ents.push({ uid: uid('Secret', `${t}-${i}`), attrs: { team: t }, parents: [] });
for (const a of ['ci-bot', 'claude-code', 'codex']) ents.push({ uid: uid('Agent', a), attrs: {}, parents: [] });
const TASKS = Array.from({ length: 50 }, (_, i) => `task-${i}`);
for (const t of TASKS) {
  ents.push({ uid: uid('Task', t), parents: [uid('Agent', pick(['ci-bot', 'claude-code', 'codex']))], attrs: {
    repo: { __entity: uid('Repo', pick(REPOS)) }, environment: { __entity: uid('Environment', pick(ENVS)) },
    labels: LABELS.filter(() => rnd() < 0.2), intent: 'fix things',
    ticket: { id: 'T-' + int(1, 999), state: pick(['open', 'approved', 'closed']), verified: rnd() < 0.5 } } });
}
fs.writeFileSync(path.join(out, 'entities.json'), JSON.stringify(ents));

const lines = [];
for (let i = 0; i < M; i++) {
  const action = pick(ACTIONS);
  const team = pick(TEAMS);
  let resource;
  const context = { edge: pick(['proxy', 'proxy', 'proxy', 'api', 'hook']), now: 1764000000 + i };
  if (action === 'http.request') {
    resource = `Host::"${pick(HOSTS)}"`;
    Object.assign(context, { method: pick(['GET', 'POST']), path: `/${team}/v1/items`, host: 'x' });
  } else if (action === 'secret.read') resource = `Secret::"${team}-${int(0, 3)}"`;
  else if (action === 'tool.call') { resource = `Tool::"${pick(TOOLS)}"`; context.command = pick(['git status', 'curl evil.example', 'npm test', 'rm -rf /']); }
  else {
    resource = `Repo::"${pick(REPOS)}"`;
    context.ref = pick([`refs/heads/${team}/fix-${i}`, 'refs/heads/main', `refs/heads/agent/task-3/x`, 'refs/heads/release/2.0', 'refs/tags/v1']);
    context.method = pick(['GET', 'POST', 'PUT', 'PATCH']);
    if (rnd() < 0.4) context.file_path = pick([`${team}/src/main.go`, '.github/workflows/ci.yml', 'README.md']);
  }
  lines.push(JSON.stringify({ principal: `Task::"${pick(TASKS)}"`, action: `Action::"${action}"`, resource, context }));
}
fs.writeFileSync(path.join(out, 'requests.jsonl'), lines.join('\n') + '\n');
