// A local OpenID Connect provider for tether's console tests, built on the
// npm package oidc-provider (tests/node/package.json pins it: 8.8.1, the
// last line that supports the Node.js 20 the machines have; 9.x asks for 22).
//
//   const idp = await startOidcProvider({
//     clientId: 'tether-console', clientSecret, redirectUri,   // or later:
//     accounts: {alice: {email: 'alice@example.com', groups: ['security']}},
//   });
//   idp.setRedirectUri(`${tetherBase}/ui/oidc/callback`);
//   ... idp.issuer ... await idp.close();
//
// What it serves, on 127.0.0.1 with a port of its own (issuer
// http://127.0.0.1:<port>):
// - discovery at /.well-known/openid-configuration, the authorization
//   endpoint (/auth), the token endpoint (/token), the JWKS (/jwks) and
//   userinfo (/me), as oidc-provider lays them out;
// - one confidential client: `clientId` with `clientSecret`,
//   token_endpoint_auth_method client_secret_basic, grant_types
//   authorization_code, response_types code, redirect_uris [redirectUri];
//   PKCE is required and S256 is the only method;
// - ID tokens signed RS256 with a key made at start (kid in the JWKS), which
//   carry `email`, `email_verified` (true unless the account says otherwise)
//   and `groups` themselves (conformIdTokenClaims: false), for
//   the scopes `openid email groups`.
//
// Sign-in is this file's own interaction pages, not oidc-provider's dev
// interactions: /interaction/<uid> renders a plain form, inputs named `login`
// and `password` and one submit button. The login is the account id (a key
// of `accounts`); any non-empty password is taken. An unknown login shows
// the form again with an error (`.error`). Consent is granted without a page:
// when the provider asks for it, the page grants every scope and claim the
// client asked for and sends the browser on. So a browser sees exactly one
// page at the provider.
//
// The redirect URI can be given at start or set later with setRedirectUri()
// (tether picks its port when it starts, after the issuer has to be in its
// config). The client is read through the storage adapter on each use, so a
// new redirect URI takes effect at once. Until one is set, the client does
// not exist (invalid_client).
//
// The returned `log` holds the provider's error events (and `server_error`s),
// for a test to print when something fails.

import {generateKeyPairSync, randomBytes} from 'node:crypto';
import http from 'node:http';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const kHere = path.dirname(fileURLToPath(import.meta.url));

// oidc-provider is installed in tests/node, not beside this file.
async function loadProvider(nodeDir) {
  const require = createRequire(path.join(nodeDir, 'package.json'));
  const entry = require.resolve('oidc-provider');
  const mod = await import(entry);
  return mod.Provider || mod.default;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}

function readBody(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function loginPage(uid, clientId, error) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sign in · test identity provider</title></head>
<body>
<h1>Sign in</h1>
<p>to continue to ${escapeHtml(clientId)}</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label>Login <input type="text" name="login" required autofocus></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button>
</form>
</body></html>
`;
}

export async function startOidcProvider({
  clientId,
  clientSecret,
  redirectUri = '',
  accounts = {},
  nodeDir = path.resolve(kHere, '../node'),
} = {}) {
  if (!clientId || !clientSecret) throw new Error('startOidcProvider needs clientId and clientSecret');
  const Provider = await loadProvider(nodeDir);
  const log = [];
  let currentRedirectUri = redirectUri;

  // One in-memory store per provider; the Client model comes from the
  // options above, so that the redirect URI can change after start.
  const store = new Map();
  const grantKeys = new Map();  // grantId -> keys of what it issued
  const now = () => Math.floor(Date.now() / 1000);
  class Adapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      store.set(key, {payload: structuredClone(payload), exp: expiresIn ? now() + expiresIn : 0});
      if (payload.grantId) {
        if (!grantKeys.has(payload.grantId)) grantKeys.set(payload.grantId, new Set());
        grantKeys.get(payload.grantId).add(key);
      }
      if (payload.uid) store.set(`uid:${this.name}:${payload.uid}`, {payload: id, exp: 0});
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, {payload: id, exp: 0});
    }

    async find(id) {
      if (this.name === 'Client') {
        if (id !== clientId || !currentRedirectUri) return undefined;
        return {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [currentRedirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        };
      }
      const entry = store.get(this.key(id));
      if (!entry) return undefined;
      if (entry.exp && entry.exp < now()) {
        store.delete(this.key(id));
        return undefined;
      }
      return structuredClone(entry.payload);
    }

    async findByUid(uid) {
      const entry = store.get(`uid:${this.name}:${uid}`);
      return entry ? this.find(entry.payload) : undefined;
    }

    async findByUserCode(userCode) {
      const entry = store.get(`userCode:${userCode}`);
      return entry ? this.find(entry.payload) : undefined;
    }

    async consume(id) {
      const entry = store.get(this.key(id));
      if (entry) entry.payload.consumed = now();
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const key of grantKeys.get(grantId) || []) store.delete(key);
      grantKeys.delete(grantId);
    }
  }

  const {privateKey} = generateKeyPairSync('rsa', {modulusLength: 2048});
  const signingKey = {...privateKey.export({format: 'jwk'}), kid: `test-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig'};

  // Listen first: the issuer names the port.
  let handler = (req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const httpServer = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${httpServer.address().port}`;

  const provider = new Provider(issuer, {
    adapter: Adapter,
    jwks: {keys: [signingKey]},
    cookies: {keys: [randomBytes(32).toString('hex')]},
    claims: {openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups']},
    scopes: ['openid', 'email', 'groups'],
    conformIdTokenClaims: false,
    ttl: {AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600},
    pkce: {required: () => true},
    features: {devInteractions: {enabled: false}},
    interactions: {url: (ctx, interaction) => `/interaction/${interaction.uid}`},
    async findAccount(ctx, id) {
      if (!Object.hasOwn(accounts, id)) return undefined;
      const account = accounts[id];
      return {
        accountId: id,
        async claims() {
          return {sub: id, email: account.email, email_verified: account.email_verified ?? true,
                  groups: [...(account.groups || [])]};
        },
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Error</title></head><body><h1>Error</h1><pre class="error">${
        escapeHtml(JSON.stringify(out))}</pre></body></html>`;
    },
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'jwks.error',
    'discovery.error', 'end_session.error', 'introspection.error', 'revocation.error']) {
    provider.on(event, (ctx, err) => {
      const e = err || ctx;
      log.push(`${event}: ${e && e.message ? e.message : e}${e && e.error_description ? ` (${e.error_description})` : ''}`);
    });
  }
  const providerCallback = provider.callback();

  async function interaction(req, res, url) {
    const m = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
    if (!m) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const details = await provider.interactionDetails(req, res);
    const {uid, prompt, params} = details;
    if (uid !== m[1]) throw new Error('interaction uid does not match the cookie');

    if (m[2]) {  // POST /interaction/<uid>/login
      if (req.method !== 'POST') {
        res.statusCode = 405;
        res.end();
        return;
      }
      const form = new URLSearchParams(await readBody(req));
      const login = form.get('login') || '';
      const password = form.get('password') || '';
      if (prompt.name !== 'login') throw new Error(`login posted during ${prompt.name}`);
      if (!Object.hasOwn(accounts, login) || !password) {
        res.statusCode = 200;
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(loginPage(uid, params.client_id, 'Unknown login or empty password.'));
        return;
      }
      await provider.interactionFinished(req, res, {login: {accountId: login}}, {mergeWithLastSubmission: false});
      return;
    }

    if (req.method !== 'GET') {
      res.statusCode = 405;
      res.end();
      return;
    }
    if (prompt.name === 'login') {
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(loginPage(uid, params.client_id, ''));
      return;
    }
    if (prompt.name === 'consent') {
      // Grant what the client asked for, without asking.
      const {grantId, session} = details;
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({accountId: session.accountId, clientId: params.client_id});
      const missing = prompt.details || {};
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const saved = await grant.save();
      const result = grantId ? {consent: {}} : {consent: {grantId: saved}};
      await provider.interactionFinished(req, res, result, {mergeWithLastSubmission: true});
      return;
    }
    throw new Error(`unexpected prompt ${prompt.name}`);
  }

  // oidc-provider builds the URLs it hands out (discovery's endpoints and
  // jwks_uri, redirects) from the request's Host, so a client that sends
  // Host without the port (RFC 9110 7.2 says it must send it) is pointed
  // at port 80. Recorded here, since that failure shows up far away.
  const issuerHost = new URL(issuer).host;
  const badHosts = new Set();
  handler = (req, res) => {
    if (req.headers.host !== issuerHost && !badHosts.has(req.headers.host)) {
      badHosts.add(req.headers.host);
      log.push(`a request came with Host ${JSON.stringify(req.headers.host)}, not ${JSON.stringify(issuerHost)} ` +
        `(${req.headers['user-agent'] || 'no user-agent'}): URLs made from it are wrong`);
    }
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(req, res, url).catch((e) => {
        log.push(`interaction: ${e.message}`);
        if (!res.headersSent) {
          res.statusCode = 400;
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        }
        res.end(`interaction failed: ${e.message}\n`);
      });
      return;
    }
    providerCallback(req, res);
  };

  return {
    issuer,
    log,
    setRedirectUri(uri) {
      currentRedirectUri = uri;
    },
    close() {
      return new Promise((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}
