// tether operator console.
//
// Everything shown here comes from agents and is untrusted: the DOM is built
// with createElement and textContent only, never from HTML strings. The page
// runs under a strict Content-Security-Policy (no inline script or style), so
// styling is by class and visibility by the `hidden` attribute.
//
// The console signs in with an operator token (POST /ui/session), which sets
// an HttpOnly session cookie; every state-changing request then carries the
// session's CSRF token in X-Tether-CSRF. The server enforces roles; the
// console only hides what a role cannot use.

'use strict';

(() => {
  const kPollMs = 5000;
  const kFeedCap = 500;
  const kListLimit = 200;
  const kAuditPage = 1000;
  const kAuditMax = 5000;
  const kEventTypes = [
    'authz.decision', 'approval.request', 'approval.decision', 'approval.use',
    'approval.expire', 'task.start', 'task.end', 'revocation',
  ];
  const kDecisions = ['allow', 'deny', 'approval_required'];

  const session = {operator: null, csrf: null};
  let config = {oidc_login: false};
  let afterSignin = '';

  // ---------------------------------------------------------------- DOM

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) {
        append(node, child);
      } else if (child instanceof Node) {
        node.appendChild(child);
      } else {
        node.appendChild(document.createTextNode(String(child)));
      }
    }
    return node;
  }

  // el('button', {class: 'x', testid: 'y', onclick: fn}, 'text', child...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') {
        node.className = value;
      } else if (key === 'testid') {
        node.dataset.testid = value;
      } else if (key === 'data') {
        for (const [k, v] of Object.entries(value)) {
          if (v !== undefined && v !== null) node.dataset[k] = String(v);
        }
      } else if (key.startsWith('on')) {
        node.addEventListener(key.slice(2), value);
      } else if (['hidden', 'disabled', 'required', 'open', 'checked', 'selected'].includes(key)) {
        node[key] = Boolean(value);
      } else if (key === 'value') {
        node.value = String(value);
      } else if (key === 'style') {
        throw new Error('inline styles are not allowed');
      } else {
        node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    return append(node, children);
  }

  function $(testid, root) {
    return (root || document).querySelector(`[data-testid="${testid}"]`);
  }

  function fields(rows) {
    const dl = el('dl', {class: 'fields'});
    for (const row of rows) {
      if (!row) continue;
      const [label, value, testid] = row;
      dl.append(el('dt', null, label), el('dd', {testid}, value));
    }
    return dl;
  }

  function badge(text, kind, testid) {
    return el('span', {class: `badge ${kind || text}`, testid}, text);
  }

  function errorBox(testid) {
    return el('p', {class: 'error', role: 'alert', testid, hidden: true});
  }

  function showError(box, err) {
    box.textContent = describeError(err);
    box.hidden = false;
  }

  let toastTimer = 0;
  function toast(message, bad) {
    const box = $('toast');
    box.textContent = message;
    box.classList.toggle('bad', Boolean(bad));
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function banner(message) {
    const box = $('banner');
    box.textContent = message || '';
    box.hidden = !message;
  }

  // ---------------------------------------------------------------- formats

  function entity(value) {
    if (value === null || value === undefined) return '';
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && 'type' in value && 'id' in value) {
      return `${value.type}::${JSON.stringify(String(value.id))}`;
    }
    return JSON.stringify(value);
  }

  function toDate(value) {
    if (value === null || value === undefined || value === '') return null;
    const d = typeof value === 'number' ? new Date(value) : new Date(String(value));
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function when(value) {
    const d = toDate(value);
    if (!d) return value ? String(value) : '—';
    return d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
  }

  function clock(value) {
    const d = toDate(value);
    if (!d) return '';
    return d.toLocaleTimeString(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
  }

  function span(ms) {
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
    return `${m}m ${String(sec).padStart(2, '0')}s`;
  }

  // A live "time left" for `expires`; tick() keeps every one current.
  function countdown(expires, testid) {
    const node = el('span', {class: 'countdown', testid, data: {expires: expires || ''}});
    if (expires) {
      const d = toDate(expires);
      if (d) node.title = d.toISOString();
    }
    updateCountdown(node, Date.now());
    return node;
  }

  function updateCountdown(node, now) {
    const d = toDate(node.dataset.expires);
    if (!d) { node.textContent = '—'; return; }
    const left = d.getTime() - now;
    node.classList.toggle('over', left <= 0);
    node.classList.toggle('urgent', left > 0 && left < 120000);
    node.textContent = left <= 0 ? 'expired' : `${span(left)} left`;
  }

  function tick() {
    const now = Date.now();
    for (const node of document.querySelectorAll('.countdown[data-expires]')) {
      updateCountdown(node, now);
    }
  }

  function ticket(t) {
    if (!t) return el('span', {class: 'muted'}, 'none');
    const parts = [];
    if (t.state) parts.push(String(t.state));
    if (t.provider) parts.push(String(t.provider));
    return el('span', null,
      String(t.id ?? ''),
      parts.length ? ` (${parts.join(', ')}) ` : ' ',
      t.verified ? badge('verified', 'allow') : badge('unverified', 'pending'));
  }

  function labels(list) {
    if (!Array.isArray(list) || list.length === 0) return el('span', {class: 'muted'}, 'none');
    return el('span', null, list.map((l) => el('span', {class: 'chip'}, String(l))));
  }

  function taskLink(id, testid) {
    if (!id) return el('span', {class: 'muted'}, '—');
    return el('a', {href: `#/tasks/${encodeURIComponent(id)}`, class: 'mono', testid}, String(id));
  }

  function approvalHref(id) {
    return `#/approvals/${encodeURIComponent(id)}`;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function describeError(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.status === 403 && err.code === 'forbidden') {
      return `tether refused: ${err.message} (forbidden)`;
    }
    if (err.status === 409) {
      return `${err.message} (conflict: it is no longer pending)`;
    }
    return err.code ? `${err.message} (${err.code})` : err.message;
  }

  async function api(method, path, body) {
    const headers = {Accept: 'application/json'};
    const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD' && session.csrf) {
      headers['X-Tether-CSRF'] = session.csrf;
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'unreachable', `tether is unreachable: ${e.message}`);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const error = (data && typeof data.error === 'object' && data.error) || {};
      const err = new ApiError(res.status, String(error.code || `http_${res.status}`),
        String(error.message || res.statusText || 'request failed'));
      if (res.status === 401 && path.startsWith('/v1/') && session.operator) {
        signedOut('Your session has ended. Sign in again.');
      }
      throw err;
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  // ---------------------------------------------------------------- session

  const role = () => (session.operator ? session.operator.role : '');
  const can = {
    decide: () => role() === 'approver' || role() === 'admin',
    readAudit: () => role() === 'auditor' || role() === 'admin',
    revoke: () => role() === 'admin',
  };

  function setSession(body) {
    session.operator = body.operator;
    session.csrf = body.csrf_token;
    $('operator-name').textContent = String(session.operator.name || '');
    $('operator-role').textContent = String(session.operator.role || '');
    $('operator').hidden = false;
    $('nav').hidden = false;
    $('nav-audit').hidden = !can.readAudit();
  }

  function clearSession() {
    session.operator = null;
    session.csrf = null;
    $('operator').hidden = true;
    $('nav').hidden = true;
  }

  function signedOut(message) {
    clearSession();
    if (parseRoute().name !== 'signin') afterSignin = location.hash;
    banner(message);
    go('#/signin');
  }

  async function signOut() {
    try {
      await api('DELETE', '/ui/session');
    } catch (e) {
      if (e.status !== 401) { toast(describeError(e), true); return; }
    }
    afterSignin = '';
    clearSession();
    go('#/signin');
  }

  // ---------------------------------------------------------------- routing

  // Each render gets a view: alive() turns false once the route changes, and
  // onLeave() callbacks (timers, streams) run then.
  let current = null;

  function newView() {
    if (current) {
      current.dead = true;
      for (const fn of current.leave) {
        try { fn(); } catch (e) { /* leaving anyway */ }
      }
    }
    const view = {dead: false, leave: []};
    view.alive = () => !view.dead;
    view.onLeave = (fn) => view.leave.push(fn);
    view.every = (ms, fn) => {
      const id = setInterval(() => { if (view.alive()) fn(); }, ms);
      view.onLeave(() => clearInterval(id));
    };
    current = view;
    return view;
  }

  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, '');
    const parts = raw.split('/').filter(Boolean).map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    return {name: parts[0] || '', id: parts[1] || ''};
  }

  function go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  function mount(node) {
    document.getElementById('main').replaceChildren(node);
  }

  function markNav(name) {
    for (const a of document.querySelectorAll('.nav a')) {
      a.classList.toggle('active', a.dataset.route === name);
      if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function render() {
    const view = newView();
    const route = parseRoute();
    markNav(route.name);
    if (!session.operator) {
      if (route.name !== 'signin') {
        afterSignin = location.hash;
        location.replace('#/signin');
        return;
      }
      renderSignin(view);
      return;
    }
    switch (route.name) {
      case 'signin':
        location.replace(afterSignin || '#/approvals');
        return;
      case 'approvals':
        if (route.id) renderApproval(view, route.id);
        else renderApprovals(view);
        return;
      case 'tasks':
        if (route.id) renderTask(view, route.id);
        else renderTasks(view);
        return;
      case 'audit':
        renderAudit(view);
        return;
      default:
        location.replace('#/approvals');
    }
  }

  function page(...children) {
    return el('div', {class: 'page'}, children);
  }

  function loading() {
    return el('p', {class: 'muted', testid: 'loading'}, 'Loading…');
  }

  // ---------------------------------------------------------------- sign-in

  function renderSignin(view) {
    document.title = 'Sign in · tether';
    const token = el('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'off',
      autocapitalize: 'off', spellcheck: 'false', required: true,
      placeholder: 'tto_…', testid: 'signin-token',
    });
    const submit = el('button', {type: 'submit', class: 'primary', testid: 'signin-submit'}, 'Sign in');
    const error = errorBox('signin-error');
    const form = el('form', {class: 'card', testid: 'signin-form', novalidate: true},
      el('h1', null, 'Sign in'),
      el('p', {class: 'muted'}, 'Operators sign in with the token an admin issued them.'),
      el('label', {for: 'token'}, 'Operator token'),
      token, submit, error);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const value = token.value.trim();
      if (!value) {
        showError(error, 'Enter your operator token.');
        token.focus();
        return;
      }
      submit.disabled = true;
      try {
        const body = await api('POST', '/ui/session', {token: value});
        token.value = '';
        if (!view.alive()) return;
        banner('');
        setSession(body);
        const next = afterSignin && !afterSignin.startsWith('#/signin') ? afterSignin : '#/approvals';
        afterSignin = '';
        go(next);
      } catch (e) {
        if (!view.alive()) return;
        showError(error, e.status === 401 ? 'That token was not accepted.' : e);
        token.select();
      } finally {
        submit.disabled = false;
      }
    });
    const sso = config.oidc_login
      ? [el('p', {class: 'or'}, 'or'),
        el('a', {class: 'button', href: '/ui/oidc/login', testid: 'signin-sso'}, 'Sign in with SSO')]
      : null;
    mount(el('div', {class: 'signin', testid: 'signin-page'}, form, sso));
    token.focus();
  }

  // ---------------------------------------------------------------- approvals

  function digestRow(a) {
    if (a.body_sha256) return ['Body SHA-256', el('code', null, String(a.body_sha256)), 'approval-digest'];
    return ['Request digest', el('code', null, String(a.request_digest || '—')), 'approval-digest'];
  }

  function approvedBy(a) {
    const names = (Array.isArray(a.approvals) ? a.approvals : []).map((x) => String(x.name || x.by || '?'));
    return names.length ? names.join(', ') : el('span', {class: 'muted'}, 'nobody yet');
  }

  function requirementBlock(r) {
    const groups = Array.isArray(r.groups) ? r.groups.map(String) : [];
    const n = Number(r.approvers) || 1;
    const done = Array.isArray(r.approved_by) ? r.approved_by.map(String) : [];
    return el('div', {class: 'requirement', testid: 'approval-requirement', data: {policy: r.policy}},
      el('div', null, 'Policy ', el('code', {testid: 'approval-policy'}, String(r.policy || '?')),
        ` needs ${n} approver${n === 1 ? '' : 's'} from `,
        groups.length ? groups.map((g) => el('span', {class: 'chip'}, g)) : el('span', {class: 'muted'}, 'any group'),
        done.length ? el('span', {class: 'muted'}, ` · approved by ${done.join(', ')}`) : null),
      r.text ? el('pre', {testid: 'policy-text'}, String(r.text)) : null);
  }

  // The form to approve or deny; `done(updated)` runs after tether accepts.
  function decideForm(a, done) {
    const id = a.id;
    const reason = el('input', {
      type: 'text', name: 'reason', maxlength: '1000', autocomplete: 'off',
      placeholder: 'Why (required to deny)', testid: 'reason-input', id: `reason-${id}`,
    });
    const uses = el('input', {
      type: 'number', name: 'uses', min: '1', max: '1000', step: '1', inputmode: 'numeric',
      placeholder: '1', testid: 'uses-input', id: `uses-${id}`,
    });
    const approve = el('button', {type: 'button', class: 'approve', testid: 'approve-button'}, 'Approve');
    const deny = el('button', {type: 'button', class: 'deny', testid: 'deny-button'}, 'Deny');
    const error = errorBox('approval-error');
    const mine = session.operator && Array.isArray(session.operator.groups) ? session.operator.groups : [];
    const needed = (a.requirements || []).flatMap((r) => (Array.isArray(r.groups) ? r.groups : []));
    const hint = needed.length && !needed.some((g) => mine.includes(g))
      ? el('p', {class: 'warn', testid: 'group-hint'},
        `You are not in a group this needs (${[...new Set(needed)].join(', ')}); tether will refuse your decision.`)
      : null;

    async function submit(kind) {
      error.hidden = true;
      const why = reason.value.trim();
      if (kind === 'deny' && !why) {
        showError(error, 'A reason is required to deny.');
        reason.focus();
        return;
      }
      const body = {};
      if (why) body.reason = why;
      if (kind === 'approve' && uses.value.trim() !== '') {
        const n = Number(uses.value);
        if (!Number.isInteger(n) || n < 1 || n > 1000) {
          showError(error, 'Uses must be a whole number from 1 to 1000.');
          uses.focus();
          return;
        }
        body.uses = n;
      }
      approve.disabled = true;
      deny.disabled = true;
      try {
        const updated = await api('POST', `/v1/approvals/${encodeURIComponent(id)}/${kind}`, body);
        toast(kind === 'approve'
          ? `Approved ${a.action} on ${entity(a.resource)}`
          : `Denied ${a.action} on ${entity(a.resource)}`);
        done(updated);
      } catch (e) {
        showError(error, e);
        approve.disabled = false;
        deny.disabled = false;
      }
    }
    approve.addEventListener('click', () => submit('approve'));
    deny.addEventListener('click', () => submit('deny'));

    // Enter in a field decides nothing: only the buttons do.
    return el('form', {class: 'decide', testid: 'decide-form', onsubmit: (ev) => ev.preventDefault()},
      hint,
      el('div', {class: 'decide-grid'},
        el('div', null, el('label', {for: `reason-${id}`}, 'Reason'), reason),
        el('div', null, el('label', {for: `uses-${id}`}, 'Uses'), uses)),
      el('div', {class: 'buttons'}, approve, deny),
      error);
  }

  function approvalCard(a, opts) {
    const task = a.task || {};
    const ctx = a.context && typeof a.context === 'object' ? a.context : {};
    const state = String(a.state || '');
    const pending = state === 'pending';
    const rows = [
      ['Agent', String(task.agent || '—'), 'approval-agent'],
      ['Task intent', task.intent ? String(task.intent) : el('span', {class: 'muted'}, 'none given'), 'approval-intent'],
      ['Task', taskLink(task.id, 'approval-task-link'), null],
      ['Ticket', ticket(task.ticket), 'approval-ticket'],
      ['Repository', String(task.repo || '—'), 'approval-repo'],
      task.environment ? ['Environment', String(task.environment), 'approval-environment'] : null,
      typeof ctx.ref === 'string' ? ['Branch / ref', el('code', null, ctx.ref), 'approval-ref'] : null,
      ['Action', el('code', null, String(a.action || '')), 'approval-action'],
      ['Resource', el('code', null, entity(a.resource)), 'approval-resource'],
      a.edge ? ['Via', String(a.edge), 'approval-edge'] : null,
      digestRow(a),
      ['Approved by', approvedBy(a), 'approval-approved-by'],
      pending ? null : ['Decided', when(a.decided_at), 'approval-decided-at'],
      state === 'approved' ? ['Uses', `${Number(a.uses) || 0} of ${Number(a.uses_allowed) || 0}`, 'approval-uses'] : null,
    ];
    if (opts.detail) {
      rows.push(['Approval', el('code', null, String(a.id)), 'approval-id']);
      rows.push(['Requested', when(a.created_at), null]);
      rows.push(['Expires', when(a.expires_at), null]);
      rows.push(['Requester', el('code', null, entity(a.requester)), null]);
      if (a.body_sha256) rows.push(['Request digest', el('code', null, String(a.request_digest || '')), null]);
    }
    const history = (Array.isArray(a.approvals) ? a.approvals : []).map((x) =>
      el('li', {testid: 'approval-history'},
        `Approved by ${x.name || entity(x.by)} at ${when(x.at)}`,
        x.uses ? ` for ${x.uses} use${Number(x.uses) === 1 ? '' : 's'}` : '',
        x.reason ? `: ${x.reason}` : ''));
    const denial = a.denial
      ? el('p', {class: 'error', testid: 'approval-denial'},
        `Denied by ${a.denial.name || entity(a.denial.by)} at ${when(a.denial.at)}`,
        a.denial.reason ? `: ${a.denial.reason}` : '')
      : null;
    const card = el('article', {
      class: `card approval ${state}`,
      testid: opts.detail ? 'approval-detail' : 'approval-row',
      data: {approvalId: a.id, taskId: task.id, state},
    },
    el('div', {class: 'card-head'},
      badge(state || 'unknown', state, 'approval-state'),
      el('h3', null, String(a.action || '')),
      el('span', {class: 'muted'}, `on ${entity(a.resource)}`),
      pending ? countdown(a.expires_at, 'approval-countdown') : null),
    fields(rows),
    (Array.isArray(a.requirements) ? a.requirements : []).map(requirementBlock),
    history.length ? el('ul', {class: 'reasons'}, history) : null,
    denial,
    el('details', {open: opts.detail},
      el('summary', null, 'Request context'),
      el('pre', {testid: 'approval-context'}, JSON.stringify(ctx, null, 2))),
    pending && can.decide() ? decideForm(a, opts.onDecided) : null,
    opts.detail ? null : el('div', {class: 'card-links'},
      el('a', {href: approvalHref(a.id), testid: 'approval-link'}, 'Open this approval')));
    return card;
  }

  function approvalSignature(a) {
    return JSON.stringify([a.state, a.expires_at, a.approvals && a.approvals.length, a.uses]);
  }

  function byExpiry(x, y) {
    return String(x.expires_at || '').localeCompare(String(y.expires_at || ''));
  }

  function byDecidedDesc(x, y) {
    return String(y.decided_at || y.created_at || '').localeCompare(String(x.decided_at || x.created_at || ''));
  }

  function searchText(a) {
    const t = a.task || {};
    return [a.id, t.id, t.intent, t.agent, t.repo, t.owner, a.action, entity(a.resource), a.state,
      ...(a.approvals || []).map((x) => x.name), a.denial && a.denial.name]
      .filter(Boolean).join(' ').toLowerCase();
  }

  function renderApprovals(view) {
    document.title = 'Approvals · tether';
    const pendingList = el('div', {testid: 'pending-list'});
    const pendingEmpty = el('p', {class: 'empty', testid: 'pending-empty', hidden: true},
      'Nothing is waiting for a decision.');
    const pendingCount = el('span', {class: 'badge pending', testid: 'pending-count'}, '…');
    const pendingError = errorBox('pending-error');
    const refresh = el('button', {type: 'button', class: 'small', testid: 'refresh-button'}, 'Refresh');

    const stateFilter = el('select', {id: 'state-filter', testid: 'state-filter'},
      ['all decided', 'approved', 'denied', 'expired'].map((s) =>
        el('option', {value: s === 'all decided' ? '' : s}, s)));
    const search = el('input', {
      id: 'approval-search', type: 'search', placeholder: 'task, action, resource, agent…',
      autocomplete: 'off', testid: 'search-input',
    });
    const decidedList = el('div', {testid: 'decided-list'});
    const decidedEmpty = el('p', {class: 'empty', testid: 'decided-empty', hidden: true}, 'No decided approvals match.');
    const decidedError = errorBox('decided-error');

    mount(page(
      el('section', {testid: 'approvals-page'},
        el('div', {class: 'section-head'}, el('h2', null, 'Waiting for a decision'), pendingCount, refresh),
        pendingError, pendingList, pendingEmpty),
      el('section', null,
        el('div', {class: 'section-head'}, el('h2', null, 'Decided')),
        el('div', {class: 'filters two'},
          el('div', null, el('label', {for: 'state-filter'}, 'State'), stateFilter),
          el('div', null, el('label', {for: 'approval-search'}, 'Search'), search)),
        decidedError, decidedList, decidedEmpty)));

    // Pending cards are reconciled by id, so a card being filled in is never
    // rebuilt under the operator unless its approval changed.
    const cards = new Map();
    function showPending(list) {
      list.sort(byExpiry);
      const seen = new Set();
      list.forEach((a, i) => {
        seen.add(a.id);
        const sig = approvalSignature(a);
        let entry = cards.get(a.id);
        if (!entry || entry.sig !== sig) {
          const node = approvalCard(a, {onDecided: afterDecision});
          if (entry) {
            for (const name of ['reason', 'uses']) {
              const old = entry.node.querySelector(`input[name="${name}"]`);
              const fresh = node.querySelector(`input[name="${name}"]`);
              if (old && fresh) fresh.value = old.value;
            }
            entry.node.replaceWith(node);
          }
          entry = {node, sig};
          cards.set(a.id, entry);
        }
        const at = pendingList.children[i];
        if (at !== entry.node) pendingList.insertBefore(entry.node, at || null);
      });
      for (const [id, entry] of cards) {
        if (!seen.has(id)) { entry.node.remove(); cards.delete(id); }
      }
      pendingCount.textContent = String(list.length);
      pendingEmpty.hidden = list.length > 0;
    }

    async function loadPending() {
      try {
        const body = await api('GET', `/v1/approvals${query({state: 'pending', limit: kListLimit})}`);
        if (!view.alive()) return;
        pendingError.hidden = true;
        showPending(Array.isArray(body.approvals) ? body.approvals : []);
      } catch (e) {
        if (view.alive()) showError(pendingError, e);
      }
    }

    let decided = [];
    function showDecided() {
      const needle = search.value.trim().toLowerCase();
      const shown = needle ? decided.filter((a) => searchText(a).includes(needle)) : decided;
      decidedList.replaceChildren(...shown.map((a) => decidedRow(a)));
      decidedEmpty.hidden = shown.length > 0;
    }

    let decidedSeq = 0;
    async function loadDecided() {
      const seq = ++decidedSeq;
      const states = stateFilter.value ? [stateFilter.value] : ['approved', 'denied', 'expired'];
      try {
        const bodies = await Promise.all(states.map((s) =>
          api('GET', `/v1/approvals${query({state: s, limit: kListLimit})}`)));
        if (!view.alive() || seq !== decidedSeq) return;
        decidedError.hidden = true;
        decided = bodies.flatMap((b) => (Array.isArray(b.approvals) ? b.approvals : [])).sort(byDecidedDesc);
        showDecided();
      } catch (e) {
        if (view.alive()) showError(decidedError, e);
      }
    }

    function afterDecision(updated) {
      if (updated && updated.id && updated.state !== 'pending') {
        const entry = cards.get(updated.id);
        if (entry) { entry.node.remove(); cards.delete(updated.id); }
      }
      loadPending();
      loadDecided();
    }

    refresh.addEventListener('click', () => { loadPending(); loadDecided(); });
    stateFilter.addEventListener('change', loadDecided);
    search.addEventListener('input', showDecided);
    view.every(kPollMs, loadPending);
    loadPending();
    loadDecided();
  }

  function decidedRow(a) {
    const t = a.task || {};
    const who = a.state === 'denied' && a.denial
      ? `denied by ${a.denial.name || entity(a.denial.by)}`
      : a.state === 'approved' ? `approved by ${(a.approvals || []).map((x) => x.name).join(', ') || '—'}` : String(a.state || '');
    return el('article', {class: `card ${a.state}`, testid: 'decided-row', data: {approvalId: a.id, taskId: t.id, state: a.state}},
      el('div', {class: 'card-head'},
        badge(String(a.state || ''), a.state),
        el('h3', null, String(a.action || '')),
        el('span', {class: 'muted'}, `on ${entity(a.resource)}`)),
      el('div', null, String(t.intent || ''), ' ', el('span', {class: 'muted'}, `· ${t.agent || ''} · ${t.repo || ''}`)),
      el('div', {class: 'muted'}, `${who} · ${when(a.decided_at || a.expires_at)}`),
      el('div', {class: 'card-links'},
        el('a', {href: approvalHref(a.id), testid: 'approval-link'}, 'Open'),
        t.id ? taskLink(t.id) : null));
  }

  function renderApproval(view, id) {
    document.title = 'Approval · tether';
    const holder = el('div', null, loading());
    const error = errorBox('approval-load-error');
    mount(page(
      el('div', {class: 'card-links'}, el('a', {href: '#/approvals', testid: 'back-approvals'}, '← All approvals')),
      error, holder));

    let sig = '';
    async function load() {
      try {
        const a = await api('GET', `/v1/approvals/${encodeURIComponent(id)}`);
        if (!view.alive()) return;
        error.hidden = true;
        const next = approvalSignature(a);
        if (next === sig) return;
        // Keep what the operator typed if the approval changed underneath.
        const typed = {};
        for (const name of ['reason', 'uses']) {
          const input = holder.querySelector(`input[name="${name}"]`);
          if (input) typed[name] = input.value;
        }
        sig = next;
        const card = approvalCard(a, {detail: true, onDecided: () => { sig = ''; load(); }});
        for (const [name, value] of Object.entries(typed)) {
          const input = card.querySelector(`input[name="${name}"]`);
          if (input) input.value = value;
        }
        holder.replaceChildren(card);
      } catch (e) {
        if (!view.alive()) return;
        holder.replaceChildren();
        showError(error, e.status === 404 ? 'No such approval.' : e);
      }
    }
    view.every(kPollMs, load);
    load();
  }

  // ---------------------------------------------------------------- tasks

  // Revoke: a button that opens a small form asking for a reason.
  function revokeControl(task, done) {
    const open = el('button', {type: 'button', class: 'danger', testid: 'revoke-button'}, 'Revoke');
    const reason = el('input', {
      type: 'text', name: 'revoke-reason', maxlength: '1000', autocomplete: 'off',
      placeholder: 'Why this task must stop', testid: 'revoke-reason', id: `revoke-${task.id}`,
    });
    const confirm = el('button', {type: 'submit', class: 'danger', testid: 'revoke-confirm'}, 'Revoke task');
    const cancel = el('button', {type: 'button', testid: 'revoke-cancel'}, 'Cancel');
    const error = errorBox('revoke-error');
    const form = el('form', {class: 'revoke-form', testid: 'revoke-form', hidden: true},
      el('p', null, 'Revoking ends ', el('code', null, String(task.id)),
        ' now: its token stops working on its next request.'),
      el('label', {for: `revoke-${task.id}`}, 'Reason'),
      reason,
      el('div', {class: 'buttons'}, confirm, cancel),
      error);
    open.addEventListener('click', () => {
      open.hidden = true;
      form.hidden = false;
      reason.focus();
    });
    cancel.addEventListener('click', () => {
      form.hidden = true;
      open.hidden = false;
      error.hidden = true;
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const why = reason.value.trim();
      if (!why) {
        showError(error, 'A reason is required to revoke.');
        reason.focus();
        return;
      }
      confirm.disabled = true;
      try {
        await api('POST', '/v1/revocations', {task: task.id, reason: why});
        toast(`Revoked task ${task.id}`);
        done();
      } catch (e) {
        showError(error, e);
        confirm.disabled = false;
      }
    });
    return el('div', {class: 'revoke'}, open, form);
  }

  // The list shows what tells tasks apart; the task page shows everything.
  function taskFields(t, detail) {
    return fields([
      detail ? ['Task', el('code', {testid: 'task-id'}, String(t.id)), null] : null,
      ['Agent', String(t.agent || '—'), 'task-agent'],
      detail ? ['Owner', String(t.owner || '—'), 'task-owner'] : null,
      detail ? ['Repository', String(t.repo || '—'), 'task-repo'] : null,
      detail ? ['Environment', String(t.environment || '—'), 'task-environment'] : null,
      ['Ticket', ticket(t.ticket), 'task-ticket'],
      ['Labels', labels(t.labels), 'task-labels'],
      detail ? ['Subject', String(t.subject || '—'), null] : null,
      detail ? ['Issuer', String(t.issuer || '—'), null] : null,
      detail ? ['Started', when(t.created_at), null] : null,
      t.state === 'active'
        ? ['Expires', el('span', null, countdown(t.expires_at, 'task-countdown'),
          detail ? el('span', {class: 'muted'}, ` · ${when(t.expires_at)}`) : null), null]
        : ['Ended', when(t.ended_at), 'task-ended-at'],
      t.end_reason ? ['End reason', String(t.end_reason), 'task-end-reason'] : null,
    ]);
  }

  function renderTasks(view) {
    document.title = 'Tasks · tether';
    const list = el('div', {testid: 'task-list'}, loading());
    const count = el('span', {class: 'badge active', testid: 'task-count'}, '…');
    const refresh = el('button', {type: 'button', class: 'small', testid: 'refresh-button'}, 'Refresh');
    const error = errorBox('tasks-error');
    mount(page( el('section', {testid: 'tasks-page'},
      el('div', {class: 'section-head'}, el('h2', null, 'Active tasks'), count, refresh),
      error, list)));

    async function load() {
      try {
        const body = await api('GET', `/v1/tasks${query({active: 'true', limit: kListLimit})}`);
        if (!view.alive()) return;
        error.hidden = true;
        const tasks = Array.isArray(body.tasks) ? body.tasks : [];
        tasks.sort((x, y) => String(y.created_at || '').localeCompare(String(x.created_at || '')));
        count.textContent = body.next ? `${tasks.length}+` : String(tasks.length);
        if (!tasks.length) {
          list.replaceChildren(el('p', {class: 'empty', testid: 'tasks-empty'}, 'No active tasks.'));
          return;
        }
        list.replaceChildren(...tasks.map((t) => el('article', {class: 'card', testid: 'task-row', data: {taskId: t.id}},
          el('div', {class: 'card-head'},
            badge(String(t.state || ''), t.state),
            el('h3', null, String(t.repo || '')),
            el('span', {class: 'muted'}, String(t.environment || ''))),
          t.intent ? el('p', {testid: 'task-intent'}, String(t.intent)) : null,
          taskFields(t, false),
          el('div', {class: 'card-links'},
            el('a', {href: `#/tasks/${encodeURIComponent(t.id)}`, testid: 'task-link'}, `Open ${t.id}`)),
          can.revoke() && t.state === 'active' ? revokeControl(t, load) : null)));
      } catch (e) {
        if (!view.alive()) return;
        list.replaceChildren();
        showError(error, e);
      }
    }
    refresh.addEventListener('click', load);
    load();
  }

  function decisionOf(ev) {
    return kDecisions.includes(ev.decision) ? ev.decision : '';
  }

  // One audit event, for the task timeline and the live feed.
  function eventItem(ev, testid) {
    const decision = decisionOf(ev);
    const reasons = Array.isArray(ev.reasons) ? ev.reasons : [];
    const policies = Array.isArray(ev.determining_policies) ? ev.determining_policies : [];
    const what = [];
    if (ev.action) what.push(el('code', null, String(ev.action)));
    if (ev.resource) what.push(' on ', el('code', null, entity(ev.resource)));
    return el('li', {
      class: decision,
      testid,
      data: {seq: ev.seq, type: ev.type, decision: decision || null, taskId: ev.task_id, decisionId: ev.decision_id},
    },
    el('div', {class: 'event-head'},
      el('span', {class: 'event-time'}, ev.time_ms ? clock(ev.time_ms) : ''),
      el('span', {class: 'event-type'}, String(ev.type || '')),
      decision ? badge(decision, decision, 'event-decision') : null,
      ev.edge ? el('span', {class: 'muted'}, `via ${ev.edge}`) : null),
    what.length ? el('div', {class: 'event-body'}, what) : null,
    ev.principal ? el('div', {class: 'muted'}, entity(ev.principal)) : null,
    policies.length ? el('div', null, 'Policies: ', policies.map((p) => el('span', {class: 'chip'}, String(p)))) : null,
    reasons.length ? el('ul', {class: 'reasons'}, reasons.map((r) => el('li', null, String(r)))) : null,
    ev.approval_id || (testid === 'audit-event' && ev.task_id)
      ? el('div', {class: 'card-links'},
        ev.approval_id ? el('a', {href: approvalHref(ev.approval_id)}, `Approval ${ev.approval_id}`) : null,
        testid === 'audit-event' && ev.task_id ? taskLink(ev.task_id) : null)
      : null);
  }

  async function fetchTrail(id, view) {
    const events = [];
    let after = '';
    while (events.length < kAuditMax) {
      const body = await api('GET', `/v1/audit${query({task: id, limit: kAuditPage, after})}`);
      if (!view.alive()) return events;
      const batch = Array.isArray(body.events) ? body.events : [];
      events.push(...batch);
      if (batch.length < kAuditPage || body.next === undefined || body.next === null) break;
      after = String(body.next);
    }
    return events.sort((x, y) => (Number(x.seq) || 0) - (Number(y.seq) || 0));
  }

  function renderTask(view, id) {
    document.title = `Task ${id} · tether`;
    const holder = el('div', null, loading());
    const error = errorBox('task-error');
    const pending = el('div', {testid: 'task-approvals'});
    const trail = el('section', null);
    mount(page(
      el('div', {class: 'card-links'}, el('a', {href: '#/tasks', testid: 'back-tasks'}, '← Active tasks')),
      error, holder, pending, trail));

    async function loadTask() {
      try {
        const body = await api('GET', `/v1/tasks/${encodeURIComponent(id)}`);
        if (!view.alive()) return;
        error.hidden = true;
        const t = body.task || {};
        holder.replaceChildren(el('article', {class: 'card', testid: 'task-detail', data: {taskId: t.id, state: t.state}},
          el('div', {class: 'card-head'},
            badge(String(t.state || ''), t.state, 'task-state'),
            el('h3', null, String(t.repo || ''))),
          el('p', {testid: 'task-intent'}, t.intent ? String(t.intent) : el('span', {class: 'muted'}, 'no intent given')),
          taskFields(t, true),
          can.revoke() && t.state === 'active' ? revokeControl(t, () => { loadTask(); loadTrail(); }) : null));
      } catch (e) {
        if (!view.alive()) return;
        holder.replaceChildren();
        showError(error, e.status === 404 ? 'No such task.' : e);
      }
    }

    async function loadPending() {
      try {
        const body = await api('GET', `/v1/approvals${query({task: id, state: 'pending', limit: kListLimit})}`);
        if (!view.alive()) return;
        const list = Array.isArray(body.approvals) ? body.approvals : [];
        pending.replaceChildren(...(list.length
          ? [el('section', null, el('h2', null, 'Waiting for a decision'), list.sort(byExpiry).map((a) =>
            el('article', {class: 'card pending', testid: 'task-approval', data: {approvalId: a.id}},
              el('div', {class: 'card-head'}, badge('pending'), el('h3', null, String(a.action || '')),
                el('span', {class: 'muted'}, `on ${entity(a.resource)}`)),
              el('div', null, countdown(a.expires_at)),
              el('div', {class: 'card-links'}, el('a', {href: approvalHref(a.id), testid: 'approval-link'}, 'Open to decide')))))]
          : []));
      } catch (e) {
        if (view.alive()) pending.replaceChildren();
      }
    }

    async function loadTrail() {
      if (!can.readAudit()) {
        trail.replaceChildren(el('h2', null, 'Audit trail'),
          el('p', {class: 'muted', testid: 'timeline-unavailable'}, 'The audit trail is for auditors and admins.'));
        return;
      }
      const trailError = errorBox('timeline-error');
      try {
        const events = await fetchTrail(id, view);
        if (!view.alive()) return;
        trail.replaceChildren(el('h2', null, 'Audit trail'), trailError,
          events.length
            ? el('ol', {class: 'timeline', testid: 'timeline'}, events.map((ev) => eventItem(ev, 'timeline-entry')))
            : el('p', {class: 'empty', testid: 'timeline-empty'}, 'No events recorded for this task.'));
      } catch (e) {
        if (!view.alive()) return;
        trail.replaceChildren(el('h2', null, 'Audit trail'), trailError);
        showError(trailError, e);
      }
    }

    loadTask();
    loadPending();
    loadTrail();
  }

  // ---------------------------------------------------------------- live audit

  function renderAudit(view) {
    document.title = 'Live audit · tether';
    if (!can.readAudit()) {
      mount(page( el('p', {class: 'empty', testid: 'audit-unavailable'},
        'The live audit feed is for auditors and admins.')));
      return;
    }
    const task = el('input', {
      id: 'filter-task', type: 'search', placeholder: 'task id', autocomplete: 'off',
      spellcheck: 'false', testid: 'filter-task',
    });
    const type = el('select', {id: 'filter-type', testid: 'filter-type'},
      el('option', {value: ''}, 'any type'), kEventTypes.map((t) => el('option', {value: t}, t)));
    const decision = el('select', {id: 'filter-decision', testid: 'filter-decision'},
      el('option', {value: ''}, 'any decision'), kDecisions.map((d) => el('option', {value: d}, d)));
    const status = el('span', {class: 'status connecting', testid: 'feed-status'}, 'connecting');
    const clear = el('button', {type: 'button', class: 'small', testid: 'feed-clear'}, 'Clear');
    const feed = el('ol', {class: 'feed', testid: 'audit-feed'});
    const empty = el('p', {class: 'empty', testid: 'feed-empty'}, 'Waiting for events…');

    mount(page( el('section', {testid: 'audit-page'},
      el('div', {class: 'section-head'}, el('h2', null, 'Live audit'), status, clear),
      el('form', {class: 'filters', testid: 'feed-filters', onsubmit: (ev) => { ev.preventDefault(); open(); }},
        el('div', null, el('label', {for: 'filter-task'}, 'Task'), task),
        el('div', null, el('label', {for: 'filter-type'}, 'Type'), type),
        el('div', null, el('label', {for: 'filter-decision'}, 'Decision'), decision)),
      feed, empty)));

    let source = null;
    let filterKey = '';

    function setStatus(text, kind) {
      status.textContent = text;
      status.className = `status ${kind}`;
      status.dataset.state = kind;
    }

    function onEvent(message) {
      let ev;
      try { ev = JSON.parse(message.data); } catch (e) { return; }
      if (!ev || typeof ev !== 'object') return;
      feed.insertBefore(eventItem(ev, 'audit-event'), feed.firstChild);
      while (feed.childElementCount > kFeedCap) feed.lastElementChild.remove();
      empty.hidden = true;
    }

    function close() {
      if (source) { source.close(); source = null; }
    }

    function open() {
      const params = {task: task.value.trim(), type: type.value, decision: decision.value};
      const key = JSON.stringify(params);
      if (source && key === filterKey) return;
      close();
      if (key !== filterKey) {
        feed.replaceChildren();
        empty.hidden = false;
      }
      filterKey = key;
      setStatus('connecting', 'connecting');
      const es = new EventSource(`/v1/audit/stream${query(params)}`);
      source = es;
      es.addEventListener('open', () => { if (source === es) setStatus('live', 'live'); });
      es.addEventListener('audit', onEvent);
      es.addEventListener('message', onEvent);
      es.addEventListener('error', async () => {
        if (source !== es) return;
        if (es.readyState !== EventSource.CLOSED) {
          setStatus('reconnecting', 'reconnecting');
          return;
        }
        setStatus('disconnected', 'closed');
        // A closed stream is a refused one: find out whether the session ended.
        try {
          await api('GET', '/ui/session');
        } catch (e) {
          if (e.status === 401 && view.alive()) signedOut('Your session has ended. Sign in again.');
        }
      });
    }

    let typing = 0;
    task.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(open, 600);
    });
    task.addEventListener('change', open);
    type.addEventListener('change', open);
    decision.addEventListener('change', open);
    clear.addEventListener('click', () => {
      feed.replaceChildren();
      empty.hidden = false;
    });
    status.addEventListener('click', () => { if (!source) open(); });
    view.onLeave(() => { clearTimeout(typing); close(); });
    open();
  }

  // ---------------------------------------------------------------- start

  async function boot() {
    $('signout-button').addEventListener('click', signOut);
    try {
      const body = await api('GET', '/ui/config');
      if (body && typeof body === 'object') config = body;
    } catch (e) {
      // Without the config the console still signs in by token.
    }
    try {
      setSession(await api('GET', '/ui/session'));
    } catch (e) {
      if (e.status !== 401) banner(`Could not reach tether: ${describeError(e)}`);
    }
    window.addEventListener('hashchange', render);
    setInterval(tick, 1000);
    if (!location.hash || location.hash === '#' || location.hash === '#/') {
      location.replace(session.operator ? '#/approvals' : '#/signin');  // hashchange renders
      return;
    }
    render();
  }

  boot();
})();
