// End-to-end test of the operator console: a real tether server on
// 127.0.0.1:0 and Debian's Chromium, headless, driven by playwright-core.
// A second server signs approvers in through a local OIDC provider
// (oidc_provider.mjs beside this file).
//
//   node tests/browser/console_test.mjs --tether build/tether --source . \
//       [--screenshots DIR]
//
// playwright-core and oidc-provider come from tests/node (cd tests/node &&
// npm ci). Exits 0 when every scenario passes, 1 when one fails, 2 on a
// usage or setup error.

import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {existsSync, rmSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import http from 'node:http';
import {createRequire} from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';

import {startOidcProvider} from './oidc_provider.mjs';

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

// Sign-in through the OIDC provider. Its groups claim decides, as the
// token-holders' groups do above: alice (security) may approve kFlow's
// request, mallory (marketing) may not. The login is the account id.
const kOidc = {
  clientId: 'tether-console',
  clientSecret: randomBytes(24).toString('base64url'),
  scopes: 'openid email groups',
  accounts: {
    alice: {email: 'alice@example.com', groups: ['security']},
    mallory: {email: 'mallory@example.com', groups: ['marketing']},
    // Set her own address at the provider, unverified: it names nobody.
    eve: {email: 'alice@example.com', email_verified: false, groups: ['security']},
  },
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

function makeServer(label) {
  return {label, proc: null, dir: '', base: '', adminToken: '', output: ''};
}
// `server` is the one most scenarios use; `ssoServer` signs approvers in
// through the OIDC provider `idp`.
const server = makeServer('tether');
const ssoServer = makeServer('tether (OIDC)');
const servers = [server, ssoServer];
let idp = null;

function tomlString(s) {
  return JSON.stringify(s);  // a TOML basic string is a JSON string for paths
}

// Starts `server` with the common config and `extra` lines (TOML) in its
// [approvals] table; `prepare(dir)` runs first, to write files they name.
async function startServer(server, {extra = () => [], prepare = null} = {}) {
  server.dir = await mkdtemp(path.join(os.tmpdir(), 'tether-console-'));
  if (prepare) await prepare(server.dir);
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
    '[proxy]',
    'listen = "127.0.0.1:0"',
    `routes = [${tomlString(path.join(sourceDir, 'examples/routes'))}]`,
    '[approvals]',
    'ttl_seconds = 900',
    ...extra(server.dir),
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

async function stopServer(server) {
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

// One request to a server (`server` unless `to` says another); `headers` are
// sent exactly as given.
function call(method, urlPath, {token, body, headers = {}, to = server} = {}) {
  const url = new URL(urlPath, to.base);
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

async function startTask(intent, labels = ['ci'], to = server) {
  const body = expectStatus(await call('POST', '/v1/tasks',
    {token: to.adminToken, body: {repo: kFlow.repo, intent, labels}, to}), 201, 'start a task');
  assert.ok(body.task && body.task.id, 'the task has an id');
  assert.ok(body.token, 'the task has a token');
  return {id: body.task.id, token: body.token, task: body.task, server: to};
}

function authorize(task, extra = {}) {
  return call('POST', '/v1/authorize', {
    token: task.token,
    body: {action: kFlow.action, resource: kFlow.resource, context: kFlow.context, ...extra},
    to: task.server,
  });
}

// The pending approval of `taskId`, once the server has recorded it.
async function pendingApproval(taskId, to = server) {
  for (let i = 0; i < 100; i++) {
    const res = await call('GET', `/v1/approvals?state=pending&task=${encodeURIComponent(taskId)}&limit=10`,
      {token: to.adminToken, to});
    const body = expectStatus(res, 200, 'list pending approvals');
    if (body.approvals.length > 0) return body.approvals[0];
    await sleep(100);
  }
  throw new Error(`no pending approval appeared for task ${taskId}`);
}

async function getApproval(id, to = server) {
  return expectStatus(await call('GET', `/v1/approvals/${encodeURIComponent(id)}`,
    {token: to.adminToken, to}), 200, `get approval ${id}`);
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

// The whole page, unless it would be taller than a few screens (the live
// feed): then what the screen shows.
async function shoot(page, name) {
  if (!shotsDir) return;
  const size = page.viewportSize();
  for (const [viewport, suffix] of [[kDesktop, ''], [kMobile, '-mobile']]) {
    await page.setViewportSize(viewport);
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({path: path.join(shotsDir, `console-${name}${suffix}.png`),
                           fullPage: height <= viewport.height * 2.5});
  }
  await page.setViewportSize(size);
}

function approvalRow(page, taskId) {
  return page.locator(`[data-testid="approval-row"][data-task-id="${taskId}"]`);
}

// ------------------------------------------------------------------ OIDC

// The OIDC provider and the tether server that signs in through it, started
// on first use (so a failure there fails the OIDC scenarios, not the run).
// Tether picks its port, so the provider learns its redirect URI after.
let ssoSetup = null;
function ensureSso() {
  ssoSetup ||= (async () => {
    idp = await startOidcProvider({
      clientId: kOidc.clientId, clientSecret: kOidc.clientSecret, accounts: kOidc.accounts,
    });
    let secretFile = '';
    await startServer(ssoServer, {
      prepare: async (dir) => {
        secretFile = path.join(dir, 'oidc-client-secret');
        await writeFile(secretFile, `${kOidc.clientSecret}\n`, {mode: 0o600});
      },
      extra: () => [
        '[approvals.oidc]',
        `issuer = ${tomlString(idp.issuer)}`,
        `client_id = ${tomlString(kOidc.clientId)}`,
        `client_secret_file = ${tomlString(secretFile)}`,
        `scopes = ${tomlString(kOidc.scopes)}`,
        'name_claim = "email"',
        'groups_claim = "groups"',
        'role = "approver"',
      ],
    });
    idp.setRedirectUri(`${ssoServer.base}/ui/oidc/callback`);
    console.log(`# tether (OIDC) at ${ssoServer.base}, provider at ${idp.issuer}`);
  })();
  return ssoSetup;
}

function ssoCookie(cookies, name) {
  return cookies.find((c) => c.name === name && c.domain === '127.0.0.1');
}

// Clicks "Sign in with SSO" on the OIDC server's console, logs in at the
// provider as `login`, and waits until the console shows the operator.
async function ssoSignIn(login, {viewport = kDesktop} = {}) {
  const {context, page} = await openPage(`sso-${login}`, viewport);
  const callbackPrefix = `${ssoServer.base}/ui/oidc/callback?`;

  const config = expectStatus(await call('GET', '/ui/config', {to: ssoServer}), 200, 'GET /ui/config');
  assert.deepEqual(config, {oidc_login: true}, 'the console is told it may offer SSO');
  await page.goto(`${ssoServer.base}/ui/`);
  const link = page.getByTestId('signin-sso');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), '/ui/oidc/login');
  assert.equal((await link.textContent()).trim(), 'Sign in with SSO');

  // Tether sends the browser to the provider's authorization endpoint.
  const toProvider = page.waitForRequest((r) => r.url().startsWith(`${idp.issuer}/auth?`));
  const started = page.waitForResponse((r) => r.url() === `${ssoServer.base}/ui/oidc/login`);
  toProvider.catch(() => {});  // awaited below, unless an assertion fails first
  await link.click();
  const loginResponse = await started;
  assert.equal(loginResponse.status(), 302,
    `GET /ui/oidc/login: ${loginResponse.status()} ${await loginResponse.text().catch(() => '')}`);
  const auth = new URL((await toProvider).url());
  const q = Object.fromEntries(auth.searchParams);
  assert.equal(q.response_type, 'code');
  assert.equal(q.client_id, kOidc.clientId);
  assert.equal(q.redirect_uri, `${ssoServer.base}/ui/oidc/callback`);
  assert.equal(q.scope, kOidc.scopes);
  assert.equal(q.code_challenge_method, 'S256');
  assert.match(q.code_challenge || '', /^[A-Za-z0-9_-]{43}$/, 'an S256 code challenge');
  assert.ok(q.state && q.state.length >= 16, `a state (${q.state})`);
  assert.ok(q.nonce && q.nonce.length >= 16, `a nonce (${q.nonce})`);
  const stateCookie = ssoCookie(await context.cookies(), 'tether_oidc');
  assert.ok(stateCookie, 'the state is bound to this browser by a cookie');
  assert.equal(stateCookie.httpOnly, true, 'the state cookie is HttpOnly');
  assert.equal(stateCookie.sameSite, 'Lax', 'the state cookie comes back on the provider\'s redirect');

  // The provider's login form: the login is the account id.
  const form = page.locator('form');
  await form.locator('input[name="login"]').fill(login);
  await form.locator('input[name="password"]').fill('any password will do');
  const back = page.waitForResponse((r) => r.url().startsWith(callbackPrefix));
  await form.locator('button[type="submit"]').click();
  const callback = await back;
  const returned = new URL(callback.url());
  assert.equal(returned.searchParams.get('state'), q.state, 'the provider returns the state');
  assert.ok(returned.searchParams.get('code'), 'the provider returns a code');

  assert.equal(callback.status(), 302, `the callback answered ${callback.status()}: ${await callback.text().catch(() => '')}`);
  assert.equal(await callback.headerValue('location'), '/ui/#/approvals');
  await waitForText(page.getByTestId('operator-name'), kOidc.accounts[login].email);
  assert.ok(page.url().endsWith('/ui/#/approvals'), `after sign-in the console is at ${page.url()}`);
  const cookies = await context.cookies();
  const session = ssoCookie(cookies, 'tether_session');
  assert.ok(session, 'the callback set a tether_session cookie');
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  assert.equal(ssoCookie(cookies, 'tether_oidc'), undefined, 'the state cookie is cleared after use');
  return {context, page, auth: q, session};
}

// Starts a sign-in in `context` and logs in at the provider as `login`, one
// request at a time through the context's cookie jar (so tether's state
// cookie lands in the browser), and stops before the callback: returns the
// callback URL the provider sent the browser to, and the state. (Routing
// cannot hold the callback: it comes at the end of a redirect chain.)
async function ssoHeldCallback(context, login) {
  const req = context.request;
  const callbackPrefix = `${ssoServer.base}/ui/oidc/callback?`;
  let res = await req.get(`${ssoServer.base}/ui/oidc/login`, {maxRedirects: 0});
  assert.equal(res.status(), 302, `GET /ui/oidc/login: ${res.status()} ${await res.text()}`);
  let url = new URL(res.headers().location, ssoServer.base).href;
  const state = new URL(url).searchParams.get('state');
  assert.ok(state, `tether sent the browser to ${url}`);
  const follow = async () => {
    for (let hops = 0; res.status() >= 300 && res.status() < 400; hops++) {
      assert.ok(hops < 10, 'too many redirects at the provider');
      url = new URL(res.headers().location, url).href;
      if (url.startsWith(callbackPrefix)) return url;
      res = await req.get(url, {maxRedirects: 0});
    }
    return '';
  };
  res = await req.get(url, {maxRedirects: 0});
  assert.equal(await follow(), '', 'the provider asks for a login first');
  assert.equal(res.status(), 200, `the provider's login page: ${res.status()} ${await res.text()}`);
  const action = /<form[^>]*action="([^"]+)"/.exec(await res.text());
  assert.ok(action, 'the provider shows a login form');
  url = new URL(action[1], url).href;
  res = await req.post(url, {form: {login, password: 'any password will do'}, maxRedirects: 0});
  const callbackUrl = await follow();
  assert.ok(callbackUrl, `the provider ended at ${url} with ${res.status()} ${await res.text()}`);
  assert.equal(new URL(callbackUrl).searchParams.get('state'), state, 'the provider returns the state');
  assert.ok(ssoCookie(await context.cookies(), 'tether_oidc'), 'the browser holds the state cookie');
  return {callbackUrl, state};
}

// A GET of a callback URL in `context` that must be refused: an error
// status, no redirect into the console and no session.
async function expectCallbackRefused(context, url, what) {
  const page = await context.newPage();
  page.setDefaultTimeout(kUiTimeoutMs);
  const res = await page.goto(url);
  const status = res.status();
  assert.ok([400, 401, 403].includes(status), `${what}: expected 400, 401 or 403, got ${status} ${await res.text()}`);
  assert.equal(res.request().redirectedFrom(), null, `${what}: answered without a redirect`);
  assert.ok(page.url().startsWith(`${ssoServer.base}/ui/oidc/callback?`), `${what}: the browser stays at ${page.url()}`);
  assert.equal(ssoCookie(await context.cookies(), 'tether_session'), undefined, `${what}: no tether_session cookie`);
  await page.close();
  return status;
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
  await startServer(server);
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

  await scenario("an approver signs in through OIDC; the provider's groups let them approve", async (contexts) => {
    await ensureSso();
    const task = await startTask('Publish 1.4.1 after the SSO rollout', ['ci'], ssoServer);
    const waiting = authorize(task, {wait_seconds: 60});
    const ap = await pendingApproval(task.id, ssoServer);
    const {context, page, session} = await ssoSignIn('alice', {viewport: kMobile});
    contexts.push(context);
    await waitForText(page.getByTestId('operator-role'), 'approver');
    const me = expectStatus(await call('GET', '/ui/session',
      {headers: {Cookie: `tether_session=${session.value}`}, to: ssoServer}), 200, 'read the OIDC session');
    assert.deepEqual(me.operator, {name: 'alice@example.com', role: 'approver', groups: ['security']},
      'the operator is named and grouped by the ID token');
    await shoot(page, 'oidc-approvals');

    const row = approvalRow(page, task.id);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-approval-id'), ap.id);
    await row.getByTestId('reason-input').fill('approved after signing in with SSO');
    await row.getByTestId('approve-button').click();
    await waitForText(page.getByTestId('toast'), 'Approved');
    const answer = await waiting;
    assert.equal(answer.status, 200, `the waiting authorize answered ${answer.status} ${answer.text}`);
    assert.equal(answer.body.decision, 'allow', `the waiting authorize returned ${answer.text}`);
    const decided = await getApproval(ap.id, ssoServer);
    assert.equal(decided.state, 'approved');
    assert.equal(decided.approvals[0].name, 'alice@example.com');
    assert.equal(decided.approvals[0].reason, 'approved after signing in with SSO');
  });

  await scenario('an OIDC user outside the required group cannot approve', async (contexts) => {
    await ensureSso();
    const task = await startTask('Read the npm token', ['ci'], ssoServer);
    const pending = await authorize(task);
    assert.equal(pending.body && pending.body.decision, 'approval_required', pending.text);
    const id = pending.body.approval.id;
    const {context, page} = await ssoSignIn('mallory');
    contexts.push(context);
    await waitForText(page.getByTestId('operator-role'), 'approver');
    await page.goto(`${ssoServer.base}/ui/#/approvals/${id}`);
    const card = page.getByTestId('approval-detail');
    await card.waitFor();
    await card.getByTestId('reason-input').fill('marketing says yes');
    const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/approvals/${id}/approve`));
    await card.getByTestId('approve-button').click();
    assert.equal((await refused).status(), 403, 'tether refuses the approval');
    await waitForText(card.getByTestId('approval-error'), '(forbidden)');
    assert.equal((await getApproval(id, ssoServer)).state, 'pending', 'the approval is still pending');
  });

  await scenario('a forged OIDC callback is refused', async (contexts) => {
    await ensureSso();
    // A made-up code and state, in a browser that never started a sign-in.
    const fresh = await browser.newContext({viewport: kDesktop});
    contexts.push(fresh);
    await expectCallbackRefused(fresh, `${ssoServer.base}/ui/oidc/callback?code=x&state=forged`, 'a forged callback');

    // A real code and state, taken from another browser's sign-in: refused
    // there, for the state is bound to the browser that started it.
    const victim = await browser.newContext({viewport: kDesktop});
    contexts.push(victim);
    const {callbackUrl, state} = await ssoHeldCallback(victim, 'alice');
    const other = await browser.newContext({viewport: kDesktop});
    contexts.push(other);
    await expectCallbackRefused(other, callbackUrl, 'a callback from another browser');

    // The browser that started it completes the sign-in, once.
    const page = await victim.newPage();
    page.setDefaultTimeout(kUiTimeoutMs);
    await page.goto(callbackUrl);
    await waitForText(page.getByTestId('operator-name'), 'alice@example.com');
    assert.ok(ssoCookie(await victim.cookies(), 'tether_session'), 'signed in with the real callback');
    await page.close();
    // Replayed with its state cookie put back, the callback is refused: a
    // state is good for one callback.
    await victim.clearCookies();
    await victim.addCookies([{
      name: 'tether_oidc', value: state, domain: '127.0.0.1', path: '/ui/oidc/',
      httpOnly: true, sameSite: 'Lax',
    }]);
    await expectCallbackRefused(victim, callbackUrl, 'the same callback again');

    // A forged state in a browser that holds a real state cookie is no better.
    const started = await browser.newContext({viewport: kDesktop});
    contexts.push(started);
    await ssoHeldCallback(started, 'mallory');
    await expectCallbackRefused(started, `${ssoServer.base}/ui/oidc/callback?code=x&state=forged`,
      'a forged state beside a real state cookie');
  });

  await scenario('an OIDC account with an unverified email cannot pose as its owner', async (contexts) => {
    await ensureSso();
    const context = await browser.newContext({viewport: kDesktop});
    contexts.push(context);
    const {callbackUrl} = await ssoHeldCallback(context, 'eve');
    await expectCallbackRefused(context, callbackUrl, 'an unverified email address');
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
  for (const s of servers) await stopServer(s).catch(() => {});
  if (idp) await idp.close().catch(() => {});
  process.exit(130);
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
// A reader that goes away (`| head`) must not cut the cleanup short.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
// Last resort, whatever way the process ends: no server or temp dir outlives it.
process.on('exit', () => {
  for (const s of servers) {
    if (s.proc && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    if (s.dir) rmSync(s.dir, {recursive: true, force: true});
  }
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
  for (const s of servers) {
    if (status !== 0 && s.output) {
      console.error(`# ${s.label} output (last lines):`);
      console.error(s.output.split('\n').slice(-40).map((l) => `#   ${l}`).join('\n'));
    }
  }
  if (status !== 0 && idp && idp.log.length) {
    console.error('# OIDC provider errors:');
    console.error(idp.log.slice(-40).map((l) => `#   ${l}`).join('\n'));
  }
  for (const s of servers) await stopServer(s).catch((e) => console.error(`cleanup: ${e.message}`));
  if (idp) await idp.close().catch((e) => console.error(`cleanup: ${e.message}`));
}
process.exit(status);
