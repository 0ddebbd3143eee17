// Workload identity tokens for tether's JWT attack suite, made with jose (an
// independent JOSE implementation) and node:crypto, from real keys.
//
//   node jwt_cases.mjs make <out-dir> <issuer> <audience>
//     writes <out-dir>/jwks.json (the issuer's public keys: Ed25519, RSA
//     2048, P-256) and <out-dir>/cases.json: {name: {token, expect,
//     jose_accepts}}, where `expect` is what tether must do ("accept" or
//     "reject") and `jose_accepts` is jose's own verdict on the same token.
//   node jwt_cases.mjs verify <jwks.json> <token> <issuer> <audience> <typ>
//     exits 0 if jose verifies the token (used on tether's task tokens).
import * as jose from 'jose';
import crypto from 'node:crypto';
import fs from 'node:fs';

const b64 = (buf) => Buffer.from(buf).toString('base64url');
const enc = (obj) => b64(JSON.stringify(obj));

async function make(dir, issuer, audience) {
  const now = Math.floor(Date.now() / 1000);
  const ed = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const rsa = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const ec = await jose.generateKeyPair('ES256', { extractable: true });
  const attacker = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = async (k, kid, alg) => ({ ...(await jose.exportJWK(k)), kid, alg, use: 'sig' });
  const keys = [await jwk(ed.publicKey, 'ed-1', 'EdDSA'),
                await jwk(rsa.publicKey, 'rsa-1', 'RS256'),
                await jwk(ec.publicKey, 'ec-1', 'ES256')];
  fs.writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys }));
  const jwks = jose.createLocalJWKSet({ keys });

  const base = () => ({ iss: issuer, aud: audience, sub: 'repo:acme/api:ref:refs/heads/main',
                        repository: 'acme/api', ref: 'refs/heads/main',
                        iat: now, nbf: now, exp: now + 600, jti: crypto.randomUUID() });
  const sign = (claims, key, header) =>
    new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
  // Signs raw header and payload text with node:crypto's Ed25519, so that
  // malformed JSON (duplicate members) can be signed correctly.
  const edKeyObject = crypto.createPrivateKey({ key: await jose.exportPKCS8(ed.privateKey), format: 'pem' });
  const rawEd = (headerText, payloadText) => {
    const input = `${b64(headerText)}.${b64(payloadText)}`;
    return `${input}.${b64(crypto.sign(null, Buffer.from(input), edKeyObject))}`;
  };

  const cases = {};
  const add = (name, token, expect) => { cases[name] = { token, expect }; };
  const edHeader = { alg: 'EdDSA', kid: 'ed-1', typ: 'JWT' };

  add('ValidEdDSA', await sign(base(), ed.privateKey, edHeader), 'accept');
  add('ValidRS256', await sign(base(), rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }), 'accept');
  add('ValidES256', await sign(base(), ec.privateKey, { alg: 'ES256', kid: 'ec-1' }), 'accept');
  add('ValidArrayAudience', await sign({ ...base(), aud: ['other', audience] }, ed.privateKey, edHeader), 'accept');

  add('AlgNone', `${enc({ alg: 'none', kid: 'ed-1' })}.${enc(base())}.`, 'reject');
  add('AlgNoneUpperCase', `${enc({ alg: 'NONE', kid: 'ed-1' })}.${enc(base())}.`, 'reject');
  {
    // HS256 keyed with the RSA public key's PEM: the classic confusion.
    const pem = await jose.exportSPKI(rsa.publicKey);
    const input = `${enc({ alg: 'HS256', kid: 'rsa-1' })}.${enc(base())}`;
    const mac = crypto.createHmac('sha256', pem).update(input).digest();
    add('HS256WithPublicKeyAsSecret', `${input}.${b64(mac)}`, 'reject');
  }
  add('AlgKeyMismatch', await sign(base(), rsa.privateKey, { alg: 'RS256', kid: 'ed-1' }), 'reject');
  add('UnknownKid', await sign(base(), ed.privateKey, { ...edHeader, kid: 'nope' }), 'reject');
  add('MissingKid', await sign(base(), ed.privateKey, { alg: 'EdDSA' }), 'reject');
  add('JkuHeader', await sign(base(), ed.privateKey, { ...edHeader, jku: 'https://evil.example/jwks' }), 'reject');
  add('X5uHeader', await sign(base(), ed.privateKey, { ...edHeader, x5u: 'https://evil.example/cert' }), 'reject');
  {
    const embedded = await jose.exportJWK(attacker.publicKey);
    add('EmbeddedJwkHeader', await sign(base(), attacker.privateKey,
        { alg: 'EdDSA', kid: 'ed-1', jwk: embedded }), 'reject');
  }
  add('CritHeader', rawEd(JSON.stringify({ ...edHeader, crit: ['exp'] }), JSON.stringify(base())), 'reject');
  add('WrongKeySameKid', await sign(base(), attacker.privateKey, edHeader), 'reject');
  {
    const good = await sign(base(), ed.privateKey, edHeader);
    const [h, p, s] = good.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 1;
    add('BadSignature', `${h}.${p}.${b64(sig)}`, 'reject');
    // 64 bytes: the last base64url character carries 2 bits and 4 zero
    // bits; setting a zero bit keeps the bytes for a lenient decoder.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s[s.length - 1]);
    add('NonCanonicalBase64Bits', `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`, 'reject');
    add('Base64Padding', `${h}.${p}.${s}==`, 'reject');
    // A signature in the standard alphabet (+ and /) instead of base64url.
    let std;
    for (let i = 0; !std; ++i) {
      const t = await sign({ ...base(), jti: `std-${i}` }, ed.privateKey, edHeader);
      const [th, tp, ts] = t.split('.');
      if (/[-_]/.test(ts)) std = `${th}.${tp}.${Buffer.from(ts, 'base64url').toString('base64').replace(/=+$/, '')}`;
    }
    add('StandardBase64Alphabet', std, 'reject');
    add('TwoParts', `${h}.${p}`, 'reject');
    add('FourParts', `${h}.${p}.${s}.${s}`, 'reject');
  }
  add('DuplicateClaim', rawEd(JSON.stringify(edHeader),
      JSON.stringify(base()).replace(/^\{/, '{"sub":"repo:acme/infra:ref:refs/heads/main",')), 'reject');
  add('DuplicateHeaderMember', rawEd('{"alg":"EdDSA","kid":"ed-1","kid":"ed-1","typ":"JWT"}',
      JSON.stringify(base())), 'reject');
  add('Oversize', await sign({ ...base(), filler: 'x'.repeat(17 * 1024) }, ed.privateKey, edHeader), 'reject');
  add('Expired', await sign({ ...base(), iat: now - 7200, nbf: now - 7200, exp: now - 3600 }, ed.privateKey, edHeader), 'reject');
  add('MissingExp', await sign((({ exp, ...c }) => c)(base()), ed.privateKey, edHeader), 'reject');
  add('FractionalExp', rawEd(JSON.stringify(edHeader), JSON.stringify({ ...base(), exp: now + 600.5 })), 'reject');
  add('StringExp', rawEd(JSON.stringify(edHeader), JSON.stringify({ ...base(), exp: String(now + 600) })), 'reject');
  add('NotYetValid', await sign({ ...base(), nbf: now + 3600 }, ed.privateKey, edHeader), 'reject');
  add('IssuedInFuture', await sign({ ...base(), iat: now + 3600 }, ed.privateKey, edHeader), 'reject');
  add('WrongAudience', await sign({ ...base(), aud: 'someone-else' }, ed.privateKey, edHeader), 'reject');
  add('MissingAudience', await sign((({ aud, ...c }) => c)(base()), ed.privateKey, edHeader), 'reject');
  add('WrongIssuer', await sign({ ...base(), iss: 'https://evil.example' }, ed.privateKey, edHeader), 'reject');
  add('MissingSubject', await sign((({ sub, ...c }) => c)(base()), ed.privateKey, edHeader), 'reject');
  add('TaskTypePresentedAsIdentity', await sign(base(), ed.privateKey, { ...edHeader, typ: 'tether-task+jwt' }), 'reject');
  add('AccessTokenType', await sign(base(), ed.privateKey, { ...edHeader, typ: 'at+jwt' }), 'reject');

  for (const [name, c] of Object.entries(cases)) {
    try {
      await jose.jwtVerify(c.token, jwks, { issuer, audience, requiredClaims: ['exp', 'sub'] });
      c.jose_accepts = true;
    } catch {
      c.jose_accepts = false;
    }
  }
  fs.writeFileSync(`${dir}/cases.json`, JSON.stringify(cases, null, 1));
}

async function verify(jwksPath, token, issuer, audience, typ) {
  const jwks = jose.createLocalJWKSet(JSON.parse(fs.readFileSync(jwksPath, 'utf8')));
  try {
    const { protectedHeader } = await jose.jwtVerify(token, jwks, { issuer, audience, typ, requiredClaims: ['exp', 'jti', 'tid', 'sub'] });
    console.log(JSON.stringify(protectedHeader));
    process.exit(0);
  } catch (e) {
    console.error(`jose rejects: ${e.code || ''} ${e.message}`);
    process.exit(1);
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'make') await make(...args);
else if (mode === 'verify') await verify(...args);
else { console.error('usage: jwt_cases.mjs make|verify ...'); process.exit(2); }
