// Differential test generator: random Cedar policies, entities and requests,
// decided by the reference engine (@cedar-policy/cedar-wasm, pinned in
// tests/node/package-lock.json). Writes one JSON object per line:
//
//   {"kind":"authz","seed":S,"policies":TEXT,"entities":[...],
//    "constructs":[...],"requests":[{"request":{...},
//      "expected":{"decision":"allow"|"deny","reason":[ids],"errors":[ids]}}]}
//   {"kind":"parse","text":TEXT,"cedar_ok":true|false,"origin":"..."}
//
// tether's differential test (tests/differential/differential_test.cc) reads
// the file and compares its own answers with the expected ones.
//
// usage: node gen.mjs --out FILE [--seed N] [--requests N] [--parse N]
//                     [--invalid FILE]

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../node/package.json'));
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

// ---------------------------------------------------------------- options
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : def;
}
const outFile = opt('out');
const seed = Number(opt('seed', '1'));
const totalRequests = Number(opt('requests', '10000'));
const parseCases = Number(opt('parse', '3000'));
const invalidFile = opt('invalid');
if (!outFile) {
  console.error('usage: node gen.mjs --out FILE [--seed N] [--requests N]');
  process.exit(2);
}

// ---------------------------------------------------------------- random
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let rnd = mulberry32(seed);
const chance = (p) => rnd() < p;
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];

// ---------------------------------------------------------------- model
const USERS = ['alice', 'bob', 'carol', 'dave', 'eve'];
const GROUPS = ['admins', 'devs', 'ops', 'all'];
const REPOS = ['org/api', 'org/web', 'org/infra', 'x/y'];
const ACTIONS = ['read', 'write', 'push', 'delete', 'merge'];
const ACTION_GROUPS = ['readOnly', 'mutating', 'any'];
const IPS = ['10.0.0.1', '10.0.0.0/8', '10.1.2.0/24', '192.168.1.7',
  '127.0.0.1', '127.0.0.0/8', '127.0.0.1/7', '224.0.0.1', '224.0.0.0/4',
  '::1', '::1/127', 'fe80::1', 'ff02::1', '2001:db8::/32', '2001:db8::1',
  '0.0.0.0/0', '::/0', '10.0.0.1/32',
  // invalid in Cedar: evaluation errors
  '1.2.3', '010.0.0.1', '10.0.0.1/33', '10.0.0.1/08', '::ffff:1.2.3.4',
  'fe80::1%eth0', 'not-an-ip', ''];
const DECIMALS = ['0.0', '1.0', '1.00', '-0.5', '3.1415', '-12.25',
  '922337203685477.5807', '-922337203685477.5808', '0.0001', '100.5',
  // invalid: evaluation errors
  '1', '.5', '1.23456', '922337203685477.5808', '+1.0', '1e3', ''];
const STRINGS = ['', 'main', 'refs/heads/main', 'refs/heads/agent/t1/fix',
  'refs/tags/v1.0', 'a*b', 'hello world', 'héllo', 'tab\there', 'line\nbreak',
  'quote"inside', 'back\\slash', '✓ done', 'ALICE', 'alice'];
const PATTERNS = [
  ['refs/heads/', '*'], ['*'], [], ['*', 'main'], ['refs/', '*', '/', '*'],
  ['a', '\\*', 'b'], ['*', '\\*', '*'], ['h', '*', 'o', '*'], ['*', 'é', '*'],
  ['main'], ['*', '*'], ['tab\t', '*'], ['*', '\n', '*'],
];

const uid = (type, id) => ({ type, id });
const userUid = (u) => uid('User', u);

function cedarString(s) {
  // Cedar string literal with a random choice of escapes.
  if (used && /["\\\n\t]|[^\x00-\x7f]/.test(s)) used.add('string_escape');
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += chance(0.5) ? '\\n' : '\\u{a}';
    else if (ch === '\t') out += chance(0.5) ? '\\t' : '\\x09';
    else if (cp > 127 && chance(0.4)) out += `\\u{${cp.toString(16)}}`;
    else if (cp < 127 && /[a-z]/.test(ch) && chance(0.03)) out += `\\x${cp.toString(16)}`;
    else out += ch;
  }
  return out + '"';
}

function patternText(parts) {
  let out = '"';
  for (const p of parts) {
    if (p === '*') out += '*';
    else if (p === '\\*') out += '\\*';
    else out += cedarString(p).slice(1, -1);
  }
  return out + '"';
}

function uidText(u) {
  const sep = chance(0.05) ? ' :: ' : '::';
  return u.type.split('::').join(sep) + sep + cedarString(u.id);
}

// ---------------------------------------------------------------- expressions
// Each node: {t: text, p: precedence}; precedence: 0 if, 1 ||, 2 &&,
// 3 relation, 4 additive, 5 multiplicative, 6 unary, 7 member, 8 primary.
let used;  // constructs used by the current policy
const mark = (c) => used.add(c);
const node = (t, p) => ({ t, p });
const prim = (t) => node(t, 8);
function wrap(n, min) {
  if (n.p >= min && !chance(0.04)) return n.t;
  return '(' + n.t + ')';
}
const ws = () => (chance(0.9) ? ' ' : pick(['  ', '\n  ', '\t', ' \u00a0', ' // c\n ']));

function attrAccess(recv, name) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || chance(0.25)) {
    mark('index');
    return node(wrap(recv, 7) + '[' + cedarString(name) + ']', 7);
  }
  mark('attr');
  return node(wrap(recv, 7) + '.' + name, 7);
}

function genLong(d) {
  const r = rnd();
  if (d <= 0 || r < 0.25) {
    mark('long');
    const v = chance(0.1) ? pick(['9223372036854775807', '-9223372036854775808',
      '4611686018427387904', '-1']) : String(int(-5, 50));
    return v.startsWith('-') ? node(v, 6) : prim(v);
  }
  if (r < 0.35) return attrAccess(prim('context'), 'n');
  if (r < 0.45) return attrAccess(genEntity(d - 1, 'User'), 'age');
  if (r < 0.5) {
    const rec = attrAccess(prim('context'), 'rec');
    return attrAccess(rec, 'level');
  }
  if (r < 0.75) {
    const op = pick(['+', '-', '*']);
    mark(op === '+' ? 'add' : op === '-' ? 'sub' : 'mul');
    const min = op === '*' ? 5 : 4;
    return node(wrap(genLong(d - 1), min) + ws() + op + ws() + wrap(genLong(d - 1), min + 1), min);
  }
  if (r < 0.83) {
    mark('neg');
    const k = chance(0.8) ? 1 : int(2, 4);
    return node('-'.repeat(k) + wrap(genLong(d - 1), 7), 6);
  }
  if (r < 0.9) return genIf(d, genLong);
  if (r < 0.95) return attrAccess(genEntity(d - 1), 'stars');
  return genAny(d - 1);  // probably not a long: type errors
}

function genString(d) {
  const r = rnd();
  if (d <= 0 || r < 0.4) { mark('string'); return prim(cedarString(pick(STRINGS))); }
  if (r < 0.6) return attrAccess(prim('context'), 's');
  if (r < 0.75) return attrAccess(genEntity(d - 1, 'User'), 'name');
  if (r < 0.85) return genIf(d, genString);
  if (r < 0.95) return attrAccess(attrAccess(genEntity(d - 1, 'User'), 'info'), 'x y');
  return genAny(d - 1);
}

function randomUid() {
  const r = rnd();
  if (r < 0.4) return userUid(chance(0.9) ? pick(USERS) : 'ghost');
  if (r < 0.6) return uid('Group', pick(GROUPS));
  if (r < 0.85) return uid('Git::Repo', pick(REPOS));
  if (r < 0.95) return uid('Action', pick(ACTIONS.concat(ACTION_GROUPS)));
  return uid('Other::Thing', 'x');
}

function genEntity(d, hint) {
  const r = rnd();
  if (d <= 0 || r < 0.3) {
    if (r < 0.15) {
      mark('var');
      return prim(hint === 'User' ? 'principal' : pick(['principal', 'resource', 'action']));
    }
    mark('entity');
    const u = hint === 'User' ? userUid(pick(USERS)) : randomUid();
    if (u.type.includes('::')) mark('namespace');
    return prim(uidText(u));
  }
  if (r < 0.55) { mark('var'); return prim(hint === 'User' ? 'principal' : pick(['principal', 'resource'])); }
  if (r < 0.7) return attrAccess(genEntity(d - 1, 'User'), 'manager');
  if (r < 0.8) return attrAccess(prim('context'), 'ref');
  if (r < 0.88) return attrAccess(prim('resource'), 'owner');
  if (r < 0.95) return genIf(d, (dd) => genEntity(dd, hint));
  return genAny(d - 1);
}

function genSetOf(d, elem) {
  mark('set');
  const n = int(0, 3);
  const items = [];
  for (let i = 0; i < n; i++) items.push(elem(d - 1).t);
  const trailing = n > 0 && chance(0.1) ? ',' : '';
  return prim('[' + items.join(',' + ws()) + trailing + ']');
}

function genSet(d) {
  const r = rnd();
  if (d <= 0 || r < 0.35) {
    return genSetOf(d, pick([genLong, genString, (dd) => genEntity(dd)]));
  }
  if (r < 0.5) return attrAccess(prim('context'), 'list');
  if (r < 0.6) return attrAccess(prim('context'), 'tags');
  if (r < 0.75) return attrAccess(genEntity(d - 1, 'User'), 'tags');
  if (r < 0.85) return attrAccess(prim('resource'), 'topics');
  if (r < 0.92) return genIf(d, genSet);
  return genAny(d - 1);
}

function genRecord(d) {
  const r = rnd();
  if (d <= 0 || r < 0.35) {
    mark('record');
    const keys = ['level', 'flag', '"x y"', 'principal', '"if"', 'when'];
    const n = int(0, 3);
    const chosen = [];
    for (let i = 0; i < n; i++) {
      const k = pick(keys);
      const norm = k.replace(/"/g, '');
      if (!chosen.some((c) => c.norm === norm)) {
        chosen.push({ k, norm, v: pick([genLong, genString, genBool])(d - 1).t });
      }
    }
    return prim('{' + chosen.map((c) => c.k + ':' + ws() + c.v).join(', ') + '}');
  }
  if (r < 0.6) return attrAccess(prim('context'), 'rec');
  if (r < 0.8) return attrAccess(genEntity(d - 1, 'User'), 'info');
  return genIf(d, genRecord);
}

function genIp(d) {
  const r = rnd();
  if (d <= 0 || r < 0.6) { mark('ip'); return prim('ip(' + cedarString(pick(IPS)) + ')'); }
  if (r < 0.8) return attrAccess(prim('context'), 'ip');
  if (r < 0.9) return attrAccess(genEntity(d - 1, 'User'), 'ip');
  mark('ip');
  return prim('ip(' + genString(d - 1).t + ')');
}

function genDecimal(d) {
  const r = rnd();
  if (d <= 0 || r < 0.6) { mark('decimal'); return prim('decimal(' + cedarString(pick(DECIMALS)) + ')'); }
  if (r < 0.8) return attrAccess(prim('context'), 'd');
  if (r < 0.9) return attrAccess(genEntity(d - 1, 'User'), 'score');
  mark('decimal');
  return prim('decimal(' + genString(d - 1).t + ')');
}

function genIf(d, gen) {
  mark('if');
  return node('if ' + genBool(d - 1).t + ' then ' + gen(d - 1).t + ' else ' + gen(d - 1).t, 0);
}

function genAny(d) {
  return pick([genLong, genString, genBool, genSet, genRecord, genIp, genDecimal,
    (dd) => genEntity(dd)])(Math.max(d, 0));
}

function method(recv, name, argsText) {
  return node(wrap(recv, 7) + '.' + name + '(' + argsText + ')', 7);
}

function genBool(d) {
  const r = rnd();
  if (d <= 0 || r < 0.06) { mark('bool'); return prim(chance(0.5) ? 'true' : 'false'); }
  if (r < 0.1) return attrAccess(prim('context'), 'flag');
  if (r < 0.13) return attrAccess(genEntity(d - 1, 'User'), 'active');
  if (r < 0.2) {
    mark('has');
    const target = pick([prim('context'), genEntity(d - 1, 'User'), prim('resource')]);
    const attr = pick(['age', 'name', 'active', 'rec', 'rec.level', 'info.flag',
      'flag', 'n', 'missing', 'manager', '"x y"', 'tags', 'owner']);
    if (attr.includes('.')) mark('has_path');
    return node(wrap(target, 4) + ' has ' + attr, 3);
  }
  if (r < 0.3) {
    const op = pick(['<', '<=', '>', '>=']);
    mark({ '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' }[op]);
    return node(wrap(genLong(d - 1), 4) + ws() + op + ws() + wrap(genLong(d - 1), 4), 3);
  }
  if (r < 0.38) {
    const op = chance(0.6) ? '==' : '!=';
    mark(op === '==' ? 'eq' : 'ne');
    const g = pick([genLong, genString, (dd) => genEntity(dd), genSet, genRecord, genIp,
      genDecimal, genBool]);
    const g2 = chance(0.85) ? g : pick([genLong, genString, genBool]);
    return node(wrap(g(d - 1), 4) + ws() + op + ws() + wrap(g2(d - 1), 4), 3);
  }
  if (r < 0.46) {
    mark('in');
    const lhs = chance(0.93) ? genEntity(d - 1) : genLong(d - 1);
    let rhs;
    if (chance(0.3)) {
      mark('set');
      const n = int(0, 3);
      const items = [];
      for (let i = 0; i < n; i++) items.push(chance(0.95) ? genEntity(d - 2).t : genLong(0).t);
      rhs = prim('[' + items.join(', ') + ']');
    } else {
      rhs = chance(0.5) ? prim(uidText(pick([uid('Group', pick(GROUPS)),
        uid('Action', pick(ACTION_GROUPS)), userUid(pick(USERS))]))) : genEntity(d - 1);
    }
    return node(wrap(lhs, 4) + ' in ' + wrap(rhs, 4), 3);
  }
  if (r < 0.52) {
    mark('like');
    const p = pick(PATTERNS);
    if (p.includes('\\*')) mark('like_escaped_star');
    return node(wrap(genString(d - 1), 4) + ' like ' + patternText(p), 3);
  }
  if (r < 0.58) {
    mark('is');
    const type = pick(['User', 'Group', 'Git::Repo', 'Action', 'Other::Thing']);
    let t = wrap(chance(0.95) ? genEntity(d - 1) : genLong(0), 4) + ' is ' + type;
    if (chance(0.3)) {
      mark('is_in');
      t += ' in ' + wrap(chance(0.8) ? prim(uidText(uid('Group', pick(GROUPS)))) : genEntity(d - 1), 4);
    }
    return node(t, 3);
  }
  if (r < 0.63) {
    mark('contains');
    return method(genSet(d - 1), 'contains', pick([genLong, genString, (dd) => genEntity(dd)])(d - 1).t);
  }
  if (r < 0.67) {
    const m = chance(0.5) ? 'containsAll' : 'containsAny';
    mark(m);
    return method(genSet(d - 1), m, genSet(d - 1).t);
  }
  if (r < 0.7) { mark('isEmpty'); return method(genSet(d - 1), 'isEmpty', ''); }
  if (r < 0.76) {
    const m = pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast', 'isInRange']);
    mark(m);
    return method(genIp(d - 1), m, m === 'isInRange' ? genIp(d - 1).t : '');
  }
  if (r < 0.81) {
    const m = pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual']);
    mark(m);
    return method(genDecimal(d - 1), m, genDecimal(d - 1).t);
  }
  if (r < 0.87) {
    mark('and');
    return node(wrap(genBool(d - 1), 2) + ws() + '&&' + ws() + wrap(genBool(d - 1), 3), 2);
  }
  if (r < 0.93) {
    mark('or');
    return node(wrap(genBool(d - 1), 1) + ws() + '||' + ws() + wrap(genBool(d - 1), 2), 1);
  }
  if (r < 0.96) {
    mark('not');
    const k = chance(0.85) ? 1 : int(2, 4);
    return node('!'.repeat(k) + wrap(genBool(d - 1), 7), 6);
  }
  if (r < 0.985) return genIf(d, genBool);
  return genAny(d - 1);  // a non-bool condition: type error
}

// ---------------------------------------------------------------- policies
function scopeEntityConstraint(v, types, groupsOf) {
  const r = rnd();
  if (r < 0.55) return v;
  if (r < 0.67) { mark('scope_eq'); return v + ' == ' + uidText(pick(types)()); }
  if (r < 0.82) { mark('scope_in'); return v + ' in ' + uidText(groupsOf()); }
  if (r < 0.94) { mark('scope_is'); return v + ' is ' + pick(types)().type; }
  mark('scope_is_in');
  return v + ' is ' + pick(types)().type + ' in ' + uidText(groupsOf());
}

function genPolicy() {
  used = new Set();
  let text = '';
  if (chance(0.3)) {
    mark('annotation');
    text += '@' + pick(['advice', 'note', 'owner', 'if']) +
      (chance(0.8) ? '(' + cedarString(pick(STRINGS)) + ')' : '') + '\n';
  }
  if (chance(0.2)) { mark('comment'); text += '// ' + pick(STRINGS).replace(/\n/g, ' ') + '\n'; }
  const effect = chance(0.62) ? 'permit' : 'forbid';
  mark(effect);
  const principal = scopeEntityConstraint('principal',
    [() => userUid(pick(USERS)), () => uid('Group', pick(GROUPS))],
    () => (chance(0.85) ? uid('Group', pick(GROUPS)) : userUid(pick(USERS))));
  let action;
  const ar = rnd();
  if (ar < 0.45) action = 'action';
  else if (ar < 0.65) { mark('action_eq'); action = 'action == ' + uidText(uid('Action', pick(ACTIONS))); }
  else if (ar < 0.8) { mark('action_in'); action = 'action in ' + uidText(uid('Action', pick(ACTION_GROUPS))); }
  else {
    mark('action_in_set');
    const n = int(1, 3);
    const xs = [];
    for (let i = 0; i < n; i++) xs.push(uidText(uid('Action', pick(ACTIONS.concat(ACTION_GROUPS)))));
    action = 'action in [' + xs.join(', ') + ']';
  }
  const resource = scopeEntityConstraint('resource',
    [() => uid('Git::Repo', pick(REPOS)), () => userUid(pick(USERS))],
    () => uid('Git::Repo', pick(REPOS)));
  text += effect + '(' + ws() + principal + ',' + ws() + action + ',' + ws() + resource +
    (chance(0.05) ? ',' : '') + ')';
  const nconds = pick([0, 0, 1, 1, 1, 2, 3]);
  for (let i = 0; i < nconds; i++) {
    const kw = chance(0.75) ? 'when' : 'unless';
    mark(kw);
    text += '\n' + kw + ' {' + ws() + genBool(int(1, 4)).t + ws() + '}';
  }
  text += ';\n';
  return { text, constructs: used };
}

// ---------------------------------------------------------------- entities
function maybe(obj, key, value, p = 0.85) { if (chance(p)) obj[key] = value; }
const ipJson = () => ({ __extn: { fn: 'ip', arg: pick(IPS.slice(0, 18)) } });
const decJson = () => ({ __extn: { fn: 'decimal', arg: pick(DECIMALS.slice(0, 10)) } });
const smallLong = () => (chance(0.05) ? pick([9007199254740991, -9007199254740991]) : int(-5, 50));

function genEntities() {
  const ents = [];
  const groupParents = {};
  GROUPS.forEach((g, i) => {
    // parents only among earlier groups: no cycles
    const parents = [];
    for (let j = 0; j < i; j++) if (chance(0.3)) parents.push(uid('Group', GROUPS[j]));
    groupParents[g] = parents;
    const attrs = {};
    maybe(attrs, 'name', g);
    maybe(attrs, 'level', int(0, 5));
    ents.push({ uid: uid('Group', g), attrs, parents });
  });
  for (const u of USERS) {
    const attrs = {};
    maybe(attrs, 'age', smallLong());
    maybe(attrs, 'name', pick(STRINGS));
    maybe(attrs, 'active', chance(0.5));
    maybe(attrs, 'tags', Array.from({ length: int(0, 3) }, () => pick(STRINGS)));
    maybe(attrs, 'manager', { __entity: userUid(pick(USERS.concat(['ghost']))) });
    const info = {};
    maybe(info, 'level', int(0, 5));
    maybe(info, 'flag', chance(0.5));
    maybe(info, 'x y', pick(STRINGS));
    maybe(attrs, 'info', info);
    maybe(attrs, 'ip', ipJson());
    maybe(attrs, 'score', decJson());
    const parents = [];
    for (const g of GROUPS) if (chance(0.3)) parents.push(uid('Group', g));
    if (chance(0.05)) parents.push(uid('Group', 'nonexistent'));
    ents.push({ uid: userUid(u), attrs, parents });
  }
  for (const r of REPOS) {
    const attrs = {};
    maybe(attrs, 'owner', { __entity: userUid(pick(USERS)) });
    maybe(attrs, 'private', chance(0.5));
    maybe(attrs, 'topics', Array.from({ length: int(0, 3) }, () => pick(STRINGS)));
    maybe(attrs, 'stars', smallLong());
    ents.push({ uid: uid('Git::Repo', r), attrs, parents: [] });
  }
  // Action hierarchy: readOnly ⊂ any, mutating ⊂ any.
  ents.push({ uid: uid('Action', 'any'), attrs: {}, parents: [] });
  ents.push({ uid: uid('Action', 'readOnly'), attrs: {}, parents: [uid('Action', 'any')] });
  ents.push({ uid: uid('Action', 'mutating'), attrs: {}, parents: [uid('Action', 'any')] });
  for (const a of ACTIONS) {
    const parents = [];
    if (a === 'read') parents.push(uid('Action', 'readOnly'));
    else if (chance(0.8)) parents.push(uid('Action', 'mutating'));
    if (chance(0.5)) ents.push({ uid: uid('Action', a), attrs: {}, parents });
  }
  return ents;
}

function genContext() {
  const c = {};
  maybe(c, 'n', smallLong());
  maybe(c, 's', pick(STRINGS));
  maybe(c, 'flag', chance(0.5));
  maybe(c, 'ref', { __entity: randomUid() });
  maybe(c, 'list', Array.from({ length: int(0, 3) }, () => int(0, 5)));
  maybe(c, 'tags', Array.from({ length: int(0, 3) }, () => pick(STRINGS)));
  const rec = {};
  maybe(rec, 'level', int(0, 5));
  maybe(rec, 'flag', chance(0.5));
  maybe(c, 'rec', rec);
  maybe(c, 'ip', ipJson());
  maybe(c, 'd', decJson());
  return c;
}

function genRequest() {
  const principal = chance(0.85) ? userUid(pick(USERS.concat(chance(0.1) ? ['ghost'] : [])))
    : uid('Group', pick(GROUPS));
  const action = uid('Action', pick(ACTIONS.concat(chance(0.1) ? ACTION_GROUPS : [])));
  const resource = chance(0.85) ? uid('Git::Repo', pick(REPOS)) : randomUid();
  return { principal, action, resource, context: genContext() };
}

// ---------------------------------------------------------------- main
const out = fs.openSync(outFile, 'w');
const write = (obj) => fs.writeSync(out, JSON.stringify(obj) + '\n');

let requests = 0;
let scenario = 0;
const validTexts = [];
while (requests < totalRequests) {
  const policies = [];
  const constructs = new Set();
  const n = int(2, 8);
  for (let i = 0; i < n; i++) {
    const p = genPolicy();
    policies.push(p.text);
    p.constructs.forEach((c) => constructs.add(c));
  }
  const text = policies.join(chance(0.2) ? '\n// next\n' : '\n');
  const entities = genEntities();
  const psetId = 'p' + scenario;
  const parsed = cedar.preparsePolicySet(psetId, { staticPolicies: text });
  if (parsed.type !== 'success') {
    console.error('generator produced a policy set cedar rejects:\n' + text + '\n' +
      JSON.stringify(parsed.errors));
    process.exit(1);
  }
  validTexts.push(...policies);
  const reqs = [];
  const count = Math.min(20, totalRequests - requests);
  for (let i = 0; i < count; i++) {
    const request = genRequest();
    const answer = cedar.statefulIsAuthorized({
      principal: request.principal, action: request.action, resource: request.resource,
      context: request.context, preparsedPolicySetId: psetId, entities,
    });
    if (answer.type !== 'success') {
      console.error('cedar failed on a generated request: ' + JSON.stringify(answer.errors));
      process.exit(1);
    }
    const r = answer.response;
    reqs.push({
      request,
      expected: {
        decision: r.decision,
        reason: r.diagnostics.reason.slice().sort(),
        errors: r.diagnostics.errors.map((e) => e.policyId).sort(),
        messages: r.diagnostics.errors.map((e) => e.policyId + ': ' + e.error.message),
      },
    });
  }
  requests += count;
  write({ kind: 'authz', scenario, seed, policies: text, entities,
    constructs: [...constructs].sort(), requests: reqs });
  scenario++;
}

// Parser differential: mutations of valid policy texts, judged by cedar.
function tokens(text) {
  return text.match(/"(?:\\.|[^"\\])*"|[A-Za-z_][A-Za-z0-9_]*|\d+|::|==|!=|<=|>=|&&|\|\||\/\/[^\n]*|\s+|./gsu) || [];
}
const FRAGMENTS = ['(', ')', '[', ']', '{', '}', ',', ';', '.', '::', '==', '=', '!', '-',
  '+', '*', '/', '%', '<', '>=', '&&', '||', '&', '|', 'if', 'then', 'else', 'in', 'is',
  'has', 'like', 'true', 'when', 'unless', 'permit', 'forbid', '"x"', '"\\q"', '"\\*"',
  '"\\u{110000}"', '"\\x7f"', '"\\x80"', '"\\u{d800}"', '@', '@id', 'principal', 'action',
  'resource', 'context', '9223372036854775808', '-----1', '!!!!!x', 'Action::"a"',
  'User::"u"', '__cedar', '__cedar::X::"a"', 'ip', 'decimal', 'contains', 'isEmpty',
  '\u00a0', '\ufeff', '\u200b', 'é', '#', '$', '`', "'", '?principal', '\r'];
function mutate(text) {
  const toks = tokens(text);
  const k = int(1, 3);
  for (let i = 0; i < k && toks.length > 0; i++) {
    const at = int(0, toks.length - 1);
    const m = rnd();
    if (m < 0.35) toks.splice(at, 1);
    else if (m < 0.7) toks.splice(at, 0, pick(FRAGMENTS));
    else if (m < 0.85) toks.splice(at, 0, toks[int(0, toks.length - 1)]);
    else toks[at] = pick(FRAGMENTS);
  }
  return toks.join('');
}
for (let i = 0; i < parseCases && validTexts.length > 0; i++) {
  const text = mutate(pick(validTexts));
  const answer = cedar.checkParsePolicySet({ staticPolicies: text });
  write({ kind: 'parse', text, cedar_ok: answer.type === 'success', origin: 'mutation' });
}

// The curated corpus of invalid policy texts: cedar must reject every one.
if (invalidFile) {
  const corpus = JSON.parse(fs.readFileSync(invalidFile, 'utf8'));
  for (const text of corpus) {
    const answer = cedar.checkParsePolicySet({ staticPolicies: text });
    write({ kind: 'parse', text, cedar_ok: answer.type === 'success', origin: 'corpus' });
  }
}
fs.closeSync(out);
console.error(`gen: ${scenario} scenarios, ${requests} requests, ${parseCases} parse cases, seed ${seed}`);
