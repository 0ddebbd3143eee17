// End-to-end test of the operator console: a real tether server on
// 127.0.0.1:0 and Debian's Chromium, headless, driven by playwright-core.
//
//   node tests/browser/console_test.mjs --tether build/tether --source . \
//       [--screenshots DIR]
//
// playwright-core comes from tests/node (cd tests/node && npm ci). Exits 0
// when every scenario passes, 1 when one fails, 2 on a usage or setup error.

import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {existsSync, rmSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import http from 'node:http';
import {createRequire} from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';

const kChromium = '/usr/bin/chromium';
const kStartTimeoutMs = 20000;
const kUiTimeoutMs = 15000;
const kDesktop = {width: 1280, height: 800};
const kMobile = {width: 390, height: 844};

// The approval the scenarios ask for. `secret.read` of the npm-publish
// secret (which belongs to acme/api) needs one approver from `security`
// (`secret-read-needs-approval`). It is the example approval a REST caller
// can reach: `github.releases.create` and `registry.publish` are writes, and
// `writes-only-through-proxy` forbids a write that does not come through the
// proxy. So bob (security) is the approver who may decide, and alice
// (release-managers) the approver who may not.
const kFlow = {
  repo: 'acme/api',
  action: 'secret.read',
  resource: {type: 'Secret', id: 'npm-publish'},
  context: {purpose: 'publish 1.4.0 <img src=x onerror="window.__xss=1">'},
  policy: 'secret-read-needs-approval',
  approver: 'bob',
  outsider: 'alice',
};

// Chromium reports every non-2xx fetch as a console error. These are the
// refusals the scenarios provoke on purpose: the session probe before
// sign-in and the bad token (401), the wrong-group decision (403). Anything
// else in the console fails the run.
const kExpectedConsole = /^Failed to load resource: the server responded with a status of (401|403) /;

const {values: args} = parseArgs({
  options: {
    tether: {type: 'string'},
    source: {type: 'string'},
    screenshots: {type: 'string'},
  },
});
if (!args.tether || !args.source) {
  console.error('usage: node tests/browser/console_test.mjs --tether <tether binary> --source <repo root> [--screenshots <dir>]');
  process.exit(2);
}
const tetherBin = path.resolve(args.tether);
const sourceDir = path.resolve(args.source);
const shotsDir = args.screenshots ? path.resolve(args.screenshots) : '';

function loadPlaywright() {
  const require = createRequire(path.join(sourceDir, 'tests/node/package.json'));
  try {
    return require('playwright-core');
  } catch (e) {
    console.error(`cannot load playwright-core from ${path.join(sourceDir, 'tests/node')}: run \`npm ci\` there (${e.message})`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------ server

const server = {proc: null, dir: '', base: '', adminToken: '', output: ''};

function tomlString(s) {
  return JSON.stringify(s);  // a TOML basic string is a JSON string for paths
}

async function startServer() {
  server.dir = await mkdtemp(path.join(os.tmpdir(), 'tether-console-'));
  const config = path.join(server.dir, 'tether.toml');
  const tokenFile = path.join(server.dir, 'admin.token');
  await writeFile(config, [
    '[server]',
    'listen = "127.0.0.1:0"',
    `policies = ${tomlString(path.join(sourceDir, 'examples/policies'))}`,
    'worker_threads = 8',
    '[store]',
    `data_dir = ${tomlString(path.join(server.dir, 'data'))}`,
    '[actions]',
    `catalog = ${tomlString(path.join(sourceDir, 'examples/actions.json'))}`,
    '[resources]',
    `entities = ${tomlString(path.join(sourceDir, 'examples/resources.json'))}`,
    '[approvals]',
    'ttl_seconds = 900',
    '',
  ].join('\n'));

  const proc = spawn(tetherBin, ['server', '--config', config, '--admin-token-file', tokenFile],
    {cwd: server.dir, stdio: ['ignore', 'pipe', 'pipe']});
  server.proc = proc;
  const keep = (chunk) => {
    server.output = (server.output + chunk.toString()).slice(-65536);
  };
  proc.stderr.on('data', keep);

  server.base = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      reject(new Error(`tether did not print "listening on" within ${kStartTimeoutMs / 1000} s`));
    }, kStartTimeoutMs);
    // Keep draining stdout after the line, or the server blocks on a full pipe.
    proc.stdout.on('data', (chunk) => {
      keep(chunk);
      if (seen === null) return;
      seen += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (m) {
        seen = null;
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${tetherBin}: ${e.message}`));
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tether exited before listening (code ${code}, signal ${signal})`));
    });
  });

  for (let i = 0; i < 50 && !server.adminToken; i++) {
    if (existsSync(tokenFile)) {
      server.adminToken = (await readFile(tokenFile, 'utf8')).split('\n')[0].trim();
    }
    if (!server.adminToken) await sleep(100);
  }
  assert.match(server.adminToken, /^tto_/, `no operator token in ${tokenFile}`);
}

async function stopServer() {
  const proc = server.proc;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 12000);
    await exited;
    clearTimeout(timer);
  }
  if (server.dir) await rm(server.dir, {recursive: true, force: true});
  server.dir = '';
}

// ------------------------------------------------------------------ HTTP

const agent = new http.Agent({keepAlive: false});

// One request to the server; `headers` are sent exactly as given.
function call(method, urlPath, {token, body, headers = {}} = {}) {
  const url = new URL(urlPath, server.base);
  assert.equal(url.hostname, '127.0.0.1');
  const h = {Accept: 'application/json', ...headers};
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body));
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
    h['Content-Length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, {method, headers: h, agent}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        resolve({status: res.statusCode, headers: res.headers, body: json, text});
      });
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

function expectStatus(res, status, what) {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}, got ${res.status} ${res.text.slice(0, 500)}`);
  return res.body;
}

async function createOperator(name, role, groups) {
  const body = expectStatus(await call('POST', '/v1/admin/tokens',
    {token: server.adminToken, body: {name, role, groups}}), 201, `create operator ${name}`);
  assert.match(body.token, /^tto_/);
  return body.token;
}

async function startTask(intent, labels = ['ci']) {
  const body = expectStatus(await call('POST', '/v1/tasks',
    {token: server.adminToken, body: {repo: kFlow.repo, intent, labels}}), 201, 'start a task');
  assert.ok(body.task && body.task.id, 'the task has an id');
  assert.ok(body.token, 'the task has a token');
  return {id: body.task.id, token: body.token, task: body.task};
}

function authorize(task, extra = {}) {
  return call('POST', '/v1/authorize', {
    token: task.token,
    body: {action: kFlow.action, resource: kFlow.resource, context: kFlow.context, ...extra},
  });
}

// The pending approval of `taskId`, once the server has recorded it.
async function pendingApproval(taskId) {
  for (let i = 0; i < 100; i++) {
    const res = await call('GET', `/v1/approvals?state=pending&task=${encodeURIComponent(taskId)}&limit=10`,
      {token: server.adminToken});
    const body = expectStatus(res, 200, 'list pending approvals');
    if (body.approvals.length > 0) return body.approvals[0];
    await sleep(100);
  }
  throw new Error(`no pending approval appeared for task ${taskId}`);
}

async function getApproval(id) {
  return expectStatus(await call('GET', `/v1/approvals/${encodeURIComponent(id)}`,
    {token: server.adminToken}), 200, `get approval ${id}`);
}

// ------------------------------------------------------------------ browser

const consoleProblems = [];
const tokens = {};
let browser = null;

async function openPage(label, viewport = kDesktop) {
  const context = await browser.newContext({viewport});
  await context.addInitScript(() => {
    window.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(kUiTimeoutMs);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (kExpectedConsole.test(text)) return;
    const where = msg.location() && msg.location().url ? ` (${msg.location().url})` : '';
    consoleProblems.push(`[${label}] console error: ${text}${where}`);
  });
  page.on('pageerror', (e) => consoleProblems.push(`[${label}] uncaught: ${e.message}`));
  return {context, page};
}

// A browser context signed in as `name` through the sign-in page, opened
// at `route` (the console asks for sign-in first, then goes there).
async function signIn(name, viewport = kDesktop, route = '/signin') {
  const {context, page} = await openPage(name, viewport);
  await page.goto(`${server.base}/ui/#${route}`);
  await page.getByTestId('signin-token').fill(tokens[name]);
  await page.getByTestId('signin-submit').click();
  await waitForText(page.getByTestId('operator-name'), name);
  return {context, page};
}

async function waitForText(locator, expected, timeout = kUiTimeoutMs) {
  const deadline = Date.now() + timeout;
  let last = '';
  for (;;) {
    try {
      if (await locator.count() > 0) {
        last = (await locator.first().textContent()) || '';
        if (typeof expected === 'string' ? last.includes(expected) : expected.test(last)) return last;
      }
    } catch (e) {
      // The element was replaced while being read; try again.
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${locator} to show ${expected}; it shows ${JSON.stringify(last)}`);
    }
    await sleep(100);
  }
}

async function shoot(page, name) {
  if (!shotsDir) return;
  const size = page.viewportSize();
  await page.setViewportSize(kDesktop);
  await page.screenshot({path: path.join(shotsDir, `console-${name}.png`), fullPage: true});
  await page.setViewportSize(kMobile);
  await page.screenshot({path: path.join(shotsDir, `console-${name}-mobile.png`), fullPage: true});
  await page.setViewportSize(size);
}

function approvalRow(page, taskId) {
  return page.locator(`[data-testid="approval-row"][data-task-id="${taskId}"]`);
}

// ------------------------------------------------------------------ scenarios

const results = [];

async function scenario(name, fn) {
  const contexts = [];
  const started = Date.now();
  try {
    await fn(contexts);
    results.push({name, ok: true});
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({name, ok: false});
    console.log(`not ok - ${name}`);
    console.log(String(e && e.stack ? e.stack : e).split('\n').map((l) => `    ${l}`).join('\n'));
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
}

async function run() {
  await startServer();
  console.log(`# tether at ${server.base}`);
  tokens.admin = server.adminToken;
  tokens.alice = await createOperator('alice', 'approver', ['release-managers']);
  tokens.bob = await createOperator('bob', 'approver', ['security']);
  tokens.carol = await createOperator('carol', 'auditor', []);
  if (shotsDir) await mkdir(shotsDir, {recursive: true});

  const {chromium} = loadPlaywright();
  browser = await chromium.launch({executablePath: kChromium, headless: true, args: ['--no-sandbox']});

  await scenario('sign-in refuses a token tether does not know', async (contexts) => {
    const {context, page} = await openPage('signin');
    contexts.push(context);
    await page.goto(`${server.base}/ui/`);
    await page.getByTestId('signin-token').waitFor();
    await shoot(page, 'signin');
    await page.getByTestId('signin-token').fill('tto_nobody_0000');
    await page.getByTestId('signin-submit').click();
    await waitForText(page.getByTestId('signin-error'), 'not accepted');
    assert.equal(await page.getByTestId('operator').isVisible(), false, 'no operator is shown');
    assert.equal(await page.getByTestId('signin-sso').count(), 0, 'no SSO link without oidc_login');
  });

  // What agents send is shown as text: markup in it never becomes elements.
  const kIntent = 'Publish the npm package for 1.4.0 <img src=x onerror="window.__xss=1"><b>now</b>';

  await scenario("approver signs in, sees the pending approval, approves, and the agent's waiting request returns allow", async (contexts) => {
    const task = await startTask(kIntent);
    const waiting = authorize(task, {wait_seconds: 60});
    const ap = await pendingApproval(task.id);
    const {context, page} = await signIn(kFlow.approver, kMobile);
    contexts.push(context);

    await page.goto(`${server.base}/ui/#/approvals`);
    const row = approvalRow(page, task.id);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-approval-id'), ap.id);
    await waitForText(row.getByTestId('approval-action'), kFlow.action);
    await waitForText(row.getByTestId('approval-repo'), kFlow.repo);
    await waitForText(row.getByTestId('approval-resource'), kFlow.resource.id);
    assert.equal(await row.getByTestId('approval-intent').textContent(), kIntent, 'the intent is shown as text');
    await waitForText(row.getByTestId('approval-context'), '<img src=x');
    assert.equal(await page.locator('img, b').count(), 0, 'no element was made from agent data');
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'no agent script ran');
    await waitForText(row.getByTestId('approval-policy'), kFlow.policy);
    await waitForText(row.getByTestId('approval-digest'), ap.body_sha256 || ap.request_digest);
    await waitForText(row.getByTestId('approval-countdown'), /\d+m \d\ds left/);
    const text = await row.getByTestId('policy-text').textContent();
    assert.ok(ap.requirements[0].text, 'the approval carries its policy text');
    assert.equal(text.trim(), ap.requirements[0].text.trim(), 'the policy text is shown as tether sent it');
    assert.ok(text.includes(kFlow.action), 'the policy text names the action');

    // Usable on a phone: the decision buttons fit the screen and are big enough to tap.
    for (const id of ['approve-button', 'deny-button']) {
      const box = await row.getByTestId(id).boundingBox();
      assert.ok(box && box.height >= 44, `${id} is at least 44 px tall (${box && box.height})`);
      assert.ok(box.x >= 0 && box.x + box.width <= kMobile.width, `${id} fits a 390 px screen`);
    }
    await shoot(page, 'approvals');
    await page.goto(`${server.base}/ui/#/approvals/${ap.id}`);
    await waitForText(page.getByTestId('approval-detail').getByTestId('approval-id'), ap.id);
    await shoot(page, 'approval-detail');
    await page.goto(`${server.base}/ui/#/approvals`);

    await row.getByTestId('reason-input').fill('publishing 1.4.0 as planned in OPS-1');
    await row.getByTestId('uses-input').fill('1');
    await row.getByTestId('approve-button').click();
    await waitForText(page.getByTestId('toast'), 'Approved');

    const answer = await waiting;
    assert.equal(answer.status, 200, `the waiting authorize answered ${answer.status} ${answer.text}`);
    assert.equal(answer.body.decision, 'allow', `the waiting authorize returned ${answer.text}`);
    const decided = await getApproval(ap.id);
    assert.equal(decided.state, 'approved');
    assert.equal(decided.approvals[0].name, kFlow.approver);
    assert.equal(decided.approvals[0].reason, 'publishing 1.4.0 as planned in OPS-1');

    // Approved for one use, and that use is spent: the same request asks again.
    const again = await authorize(task);
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.body.decision, 'allow', 'a second identical request is not allowed');
    assert.equal(again.body.decision, 'approval_required', again.text);
    assert.ok(again.body.approval && again.body.approval.id, 'the second request has an approval');
    assert.notEqual(again.body.approval.id, ap.id, 'the second request waits on a new approval');

    // The decided approval is found by the decided list's filter and search.
    await page.getByTestId('state-filter').selectOption('approved');
    await page.getByTestId('search-input').fill(task.id);
    const found = page.locator(`[data-testid="decided-row"][data-approval-id="${ap.id}"]`);
    await found.waitFor();
    assert.equal(await page.getByTestId('decided-row').count(), 1, 'the search leaves only this approval');
    await page.getByTestId('state-filter').selectOption('denied');
    await found.waitFor({state: 'detached'});
  });

  await scenario('deny path: the approver denies with a reason and the waiting request returns deny', async (contexts) => {
    const task = await startTask('Read the npm token for a dry run');
    const waiting = authorize(task, {wait_seconds: 60});
    const ap = await pendingApproval(task.id);
    const {context, page} = await signIn(kFlow.approver);
    contexts.push(context);
    await page.goto(`${server.base}/ui/#/approvals`);
    const row = approvalRow(page, task.id);
    await row.waitFor();

    // A denial needs a reason; without one nothing is sent.
    await row.getByTestId('deny-button').click();
    await waitForText(row.getByTestId('approval-error'), 'reason is required');
    assert.equal((await getApproval(ap.id)).state, 'pending', 'a denial without a reason was not sent');

    await row.getByTestId('reason-input').fill('no release is planned today');
    await row.getByTestId('deny-button').click();
    await waitForText(page.getByTestId('toast'), 'Denied');
    const answer = await waiting;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.decision, 'deny', `the waiting authorize returned ${answer.text}`);
    const decided = await getApproval(ap.id);
    assert.equal(decided.state, 'denied');
    assert.equal(decided.denial.name, kFlow.approver);
    assert.equal(decided.denial.reason, 'no release is planned today');
    await row.waitFor({state: 'detached'});
  });

  await scenario('wrong group cannot approve: the console shows tether refusing', async (contexts) => {
    const task = await startTask('Read the npm token');
    const pending = await authorize(task);
    assert.equal(pending.body && pending.body.decision, 'approval_required', pending.text);
    const id = pending.body.approval.id;
    // Opened from the approval's console_url while signed out.
    assert.ok(pending.body.approval.id && (await getApproval(id)).console_url.endsWith(`/ui/#/approvals/${id}`),
      'the approval links to its console page');
    const {context, page} = await signIn(kFlow.outsider, kDesktop, `/approvals/${id}`);
    contexts.push(context);
    assert.ok(page.url().endsWith(`#/approvals/${id}`), `after sign-in the console is at ${page.url()}`);
    const card = page.getByTestId('approval-detail');
    await card.waitFor();
    await card.getByTestId('reason-input').fill('looks fine to me');
    const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/approvals/${id}/approve`));
    await card.getByTestId('approve-button').click();
    assert.equal((await refused).status(), 403, 'tether refuses the approval');
    await waitForText(card.getByTestId('approval-error'), '(forbidden)');
    assert.equal((await getApproval(id)).state, 'pending', 'the approval is still pending');
  });

  await scenario('admin revokes a task from its page', async (contexts) => {
    const task = await startTask('Tidy up stale branches');
    const before = await call('POST', '/v1/authorize', {
      token: task.token, body: {action: 'github.read', resource: {type: 'Repo', id: kFlow.repo}},
    });
    assert.equal(before.body && before.body.decision, 'allow', `before revoking: ${before.text}`);

    const {context, page} = await signIn('admin');
    contexts.push(context);
    await page.goto(`${server.base}/ui/#/tasks`);
    await page.locator(`[data-testid="task-row"][data-task-id="${task.id}"]`).waitFor();
    await shoot(page, 'tasks');
    await page.goto(`${server.base}/ui/#/tasks/${task.id}`);
    const detail = page.getByTestId('task-detail');
    await waitForText(detail.getByTestId('task-state'), 'active');
    await detail.getByTestId('revoke-button').click();
    await detail.getByTestId('revoke-reason').fill('the agent is looping');
    await detail.getByTestId('revoke-confirm').click();
    await waitForText(detail.getByTestId('task-state'), 'ended');

    const after = expectStatus(await call('GET', `/v1/tasks/${task.id}`, {token: server.adminToken}), 200, 'get task');
    assert.equal(after.task.state, 'ended');
    const denied = await call('POST', '/v1/authorize', {
      token: task.token, body: {action: 'github.read', resource: {type: 'Repo', id: kFlow.repo}},
    });
    assert.ok(!(denied.status === 200 && denied.body && denied.body.decision === 'allow'), 'a revoked task is not allowed');
    assert.equal(denied.status, 200, `authorize after revoking: ${denied.text}`);
    assert.equal(denied.body.decision, 'deny', denied.text);
  });

  await scenario('auditor sees the live feed and the timeline', async (contexts) => {
    const watched = await startTask('Check the release notes');
    const other = await startTask('Something else entirely');
    const {context, page} = await signIn('carol');
    contexts.push(context);
    assert.equal(await page.getByTestId('nav-audit').isVisible(), true, 'an auditor sees the audit link');

    await page.goto(`${server.base}/ui/#/audit`);
    await waitForText(page.getByTestId('feed-status'), 'live');
    const read = (task) => call('POST', '/v1/authorize', {
      token: task.token, body: {action: 'github.read', resource: {type: 'Repo', id: kFlow.repo}},
    });
    const first = await read(watched);
    assert.equal(first.body && first.body.decision, 'allow', first.text);
    const event = page.locator(`[data-testid="audit-event"][data-decision-id="${first.body.decision_id}"]`);
    await event.waitFor();
    assert.equal(await event.getAttribute('data-type'), 'authz.decision');
    assert.equal(await event.getAttribute('data-decision'), 'allow');
    assert.equal(await event.getAttribute('data-task-id'), watched.id);
    await shoot(page, 'audit');

    // A task filter re-opens the stream: the other task's later decision is
    // not shown, the watched task's next one is.
    await page.getByTestId('filter-task').fill(watched.id);
    await page.getByTestId('filter-task').press('Enter');
    await waitForText(page.getByTestId('feed-status'), 'live');
    await sleep(300);
    const hidden = await read(other);
    const shown = await read(watched);
    await page.locator(`[data-testid="audit-event"][data-decision-id="${shown.body.decision_id}"]`).waitFor();
    assert.equal(await page.locator(`[data-testid="audit-event"][data-decision-id="${hidden.body.decision_id}"]`).count(), 0,
      'the filtered feed leaves out other tasks');
    assert.equal(await page.locator(`[data-testid="audit-event"]:not([data-task-id="${watched.id}"])`).count(), 0,
      'every event shown is the watched task\'s');

    await page.goto(`${server.base}/ui/#/tasks/${watched.id}`);
    const timeline = page.getByTestId('timeline');
    await timeline.waitFor();
    const entries = timeline.getByTestId('timeline-entry');
    await waitForText(timeline, 'authz.decision');
    const shownEntries = await entries.evaluateAll((nodes) => nodes.map((n) => ({...n.dataset})));
    const types = shownEntries.map((e) => e.type);
    const seqs = shownEntries.map((e) => Number(e.seq));
    assert.ok(types.includes('task.start'), `the timeline shows the task starting: ${types}`);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'newest last');
    const mine = shownEntries.filter((e) => e.decisionId === first.body.decision_id || e.decisionId === shown.body.decision_id);
    assert.deepEqual(mine.map((e) => [e.type, e.decision]), [['authz.decision', 'allow'], ['authz.decision', 'allow']],
      'both of the task\'s decisions are on its timeline, marked allow');
    assert.equal(mine[1].decisionId, shown.body.decision_id, 'the later decision is below the earlier one');
    assert.equal(shownEntries.some((e) => e.decisionId === hidden.body.decision_id), false, 'no other task\'s decision');
    assert.equal(await page.getByTestId('revoke-button').count(), 0, 'an auditor cannot revoke');
    await shoot(page, 'task-timeline');
  });

  await scenario('CSRF: a state change with a valid session cookie but a foreign Origin and no CSRF token is refused', async (contexts) => {
    const task = await startTask('Read the npm token');
    const pending = await authorize(task);
    assert.equal(pending.body && pending.body.decision, 'approval_required', pending.text);
    const id = pending.body.approval.id;
    const {context, page} = await signIn(kFlow.approver);
    contexts.push(context);

    const cookie = (await context.cookies(server.base)).find((c) => c.name === 'tether_session');
    assert.ok(cookie, 'the console holds a tether_session cookie');
    assert.equal(cookie.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
    assert.equal(cookie.path, '/');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('tether_session'), 'scripts cannot read the cookie');

    const approve = (headers) => call('POST', `/v1/approvals/${id}/approve`, {
      body: {reason: 'csrf probe'},
      headers: {'Cookie': `tether_session=${cookie.value}`, 'Content-Type': 'application/json', ...headers},
    });
    const foreign = await approve({Origin: 'http://evil.example'});
    assert.equal(foreign.status, 403, `foreign Origin: ${foreign.status} ${foreign.text}`);
    assert.equal(foreign.body.error.code, 'csrf');
    assert.equal((await getApproval(id)).state, 'pending');

    const noToken = await approve({Origin: server.base});
    assert.equal(noToken.status, 403, `no CSRF header: ${noToken.status} ${noToken.text}`);
    assert.equal(noToken.body.error.code, 'csrf');
    assert.equal((await getApproval(id)).state, 'pending');

    // The same cookie with the session's CSRF token is accepted: the refusals
    // above were for the missing token, not for a bad cookie.
    const me = expectStatus(await call('GET', '/ui/session', {headers: {Cookie: `tether_session=${cookie.value}`}}),
      200, 'read the session');
    const ok = await approve({'Origin': server.base, 'X-Tether-CSRF': me.csrf_token});
    assert.equal(ok.status, 200, `with the CSRF token: ${ok.status} ${ok.text}`);
    assert.equal((await getApproval(id)).state, 'approved');
  });

  await scenario('signing out ends the session', async (contexts) => {
    const {context, page} = await signIn('carol');
    contexts.push(context);
    const cookie = (await context.cookies(server.base)).find((c) => c.name === 'tether_session');
    assert.ok(cookie, 'signed in with a session cookie');
    await page.getByTestId('signout-button').click();
    await page.getByTestId('signin-token').waitFor();
    assert.equal(await page.getByTestId('operator').isVisible(), false);
    const after = await call('GET', '/ui/session', {headers: {Cookie: `tether_session=${cookie.value}`}});
    assert.equal(after.status, 401, `the old session after signing out: ${after.status} ${after.text}`);
    const audit = await call('GET', '/v1/audit?limit=1', {headers: {Cookie: `tether_session=${cookie.value}`}});
    assert.equal(audit.status, 401, `the API with the old session: ${audit.status}`);
  });

  await scenario('CSP header present and no console errors', async () => {
    for (const p of ['/ui/', '/ui/index.html']) {
      const res = await call('GET', p, {headers: {Accept: 'text/html'}});
      assert.equal(res.status, 200, `GET ${p}`);
      const csp = res.headers['content-security-policy'] || '';
      assert.match(csp, /script-src 'self'(;|$)/, `${p} Content-Security-Policy: ${csp}`);
      assert.match(csp, /default-src 'none'/, `${p} Content-Security-Policy: ${csp}`);
      assert.match(res.headers['content-type'] || '', /^text\/html/);
      assert.ok(!/<script>|<style|style=/i.test(res.text), `${p} has no inline script or style`);
    }
    const js = await call('GET', '/ui/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'] || '', /javascript/);
    const css = await call('GET', '/ui/app.css');
    assert.equal(css.status, 200);
    assert.match(css.headers['content-type'] || '', /^text\/css/);
    assert.deepEqual(consoleProblems, [], 'no console errors or CSP violations during the run');
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let status = 0;
const onSignal = async (signal) => {
  console.error(`# ${signal}: cleaning up`);
  if (browser) await browser.close().catch(() => {});
  await stopServer().catch(() => {});
  process.exit(130);
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
// A reader that goes away (`| head`) must not cut the cleanup short.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
// Last resort, whatever way the process ends: no server or temp dir outlives it.
process.on('exit', () => {
  if (server.proc && server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
  if (server.dir) rmSync(server.dir, {recursive: true, force: true});
});

try {
  await run();
  const failed = results.filter((r) => !r.ok);
  console.log(`# ${results.length - failed.length} of ${results.length} scenarios passed`);
  if (failed.length) status = 1;
} catch (e) {
  console.error(`setup failed: ${e && e.stack ? e.stack : e}`);
  status = 2;
} finally {
  if (browser) await browser.close().catch(() => {});
  if (status !== 0 && server.output) {
    console.error('# tether output (last lines):');
    console.error(server.output.split('\n').slice(-40).map((l) => `#   ${l}`).join('\n'));
  }
  await stopServer().catch((e) => console.error(`cleanup: ${e.message}`));
}
process.exit(status);
