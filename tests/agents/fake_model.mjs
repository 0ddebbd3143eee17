#!/usr/bin/env node
// A scripted stand-in for the model APIs that Claude Code and Codex call, so
// the real agents can be driven end to end with no network: the Anthropic
// Messages API (POST /v1/messages, streaming SSE or JSON) and the OpenAI
// Responses API (POST /v1/responses, SSE). Node built-ins only.
//
//   node fake_model.mjs [script.json]      (or FAKE_MODEL_SCRIPT=script.json)
//   FAKE_MODEL_LOG=requests.jsonl          every request, one JSON line each
//   FAKE_MODEL_PORT=0                      listen port (default 0: any free)
//   FAKE_MODEL_TLS_CERT / FAKE_MODEL_TLS_KEY  PEM files: serve HTTPS instead
//
// Prints "fake-model listening on http://127.0.0.1:PORT" (https:// with TLS)
// once listening.
//
// The script is re-read on every request, so a test may rewrite it between
// agent runs without restarting the server. Its form:
//
//   {
//     "steps": [
//       {"command": "echo hello > marker"},
//       {"tool": "Write", "input": {"file_path": "/abs/x", "content": "y"}},
//       {"agent": "codex", "tool": "apply_patch", "input": "*** Begin Patch\n..."}
//     ],
//     "final": "Done."
//   }
//
// Each step is one tool call, made in order:
//   {"command": CMD}          a shell command: Claude's Bash {"command": CMD};
//                             for Codex whichever shell tool the request offers
//                             (exec_command {"cmd"}, shell_command {"command"},
//                             shell {"command": ["bash","-lc",CMD]}, local_shell)
//   {"tool": NAME, "input": X} that tool with that input as is: a Claude
//                             tool_use; a Codex function_call (X as JSON
//                             arguments) or, when the request declares NAME as
//                             a custom (freeform) tool such as apply_patch, a
//                             custom_tool_call with X as its raw string input;
//                             "mcp__SERVER__TOOL" for Codex becomes a call in
//                             the request's "mcp__SERVER" tool namespace
//   "agent": "claude"|"codex" optional: the step is only for that agent
//   "description": TEXT       optional: Bash's description (Claude)
// After the last step the model answers with the "final" text (default
// "Done.") and stops.
//
// Which step comes next is worked out from the request itself, so the server
// keeps no conversation state and a retried request gets the same answer: the
// number of tool calls already in the conversation (Claude: tool_use blocks
// in assistant messages; Codex: function_call / custom_tool_call /
// local_shell_call input items) is the index of the next step. So the agent
// advances only once it sends back the result (tool_result /
// function_call_output) of the previous call.
//
// A request is the main agent conversation when it offers tools (Claude: any
// tool; Codex: a shell tool). Anything else (titles, command-prefix or safety
// checks, summaries, quota probes, compaction) is a side request and gets a
// short plain text answer (FAKE_MODEL_SIDE_TEXT, default "OK").
//
// Each log line: {"ts", "api": "anthropic"|"openai", "method", "path",
// "kind": "main"|"side"|"count_tokens"|"models"|"root"|"unknown"|"proxy"|
// "error", "step" (main requests), "reply" ({"tool_use"}, {"item"} or
// {"text"}), "headers", "body"}. Also answered: POST /v1/messages/count_tokens,
// GET /v1/models, HEAD or GET /, POST /v1/responses/compact (JSON); anything
// else is logged as "unknown" and gets a 404.
//
// Set as the agent's HTTPS_PROXY / HTTP_PROXY (with NO_PROXY=127.0.0.1), the
// server also logs every attempt to reach another host ("kind": "proxy") and
// refuses it, so a test can assert that the agent talked to nothing else.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const scriptPath = process.argv[2] || process.env.FAKE_MODEL_SCRIPT || '';
const logPath = process.env.FAKE_MODEL_LOG || '';
const sideText = process.env.FAKE_MODEL_SIDE_TEXT || 'OK';
let seq = 0;

function loadScript() {
  if (!scriptPath) return { steps: [], final: 'Done.' };
  const script = JSON.parse(fs.readFileSync(scriptPath, 'utf8'));
  const steps = Array.isArray(script) ? script : script.steps || [];
  const final = (!Array.isArray(script) && script.final) || 'Done.';
  return { steps, final };
}

function log(entry) {
  if (!logPath) return;
  fs.appendFileSync(logPath, JSON.stringify({ ts: new Date().toISOString(), ...entry }) + '\n');
}

function stepsFor(agent) {
  const { steps, final } = loadScript();
  return { steps: steps.filter((s) => !s.agent || s.agent === agent), final };
}

function sendJson(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendSse(res, events, headers = {}) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...headers,
  });
  for (const ev of events) res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
  res.end();
}

// ---------------------------------------------------------------- Anthropic

function anthropicDecide(body) {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (tools.length === 0) return { kind: 'side', text: sideText };
  const { steps, final } = stepsFor('claude');
  let done = 0;
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    for (const block of m.content) if (block.type === 'tool_use') done++;
  }
  if (done < steps.length) {
    const step = steps[done];
    let name;
    let input;
    if (step.command !== undefined) {
      name = 'Bash';
      input = { command: step.command, description: step.description || 'Run a command' };
    } else {
      name = step.tool;
      input = step.input ?? {};
    }
    return { kind: 'main', step: done, toolUse: { id: `toolu_fake_${done}`, name, input } };
  }
  return { kind: 'main', step: done, text: final };
}

function anthropicContent(decision) {
  const content = [];
  if (decision.text !== undefined) content.push({ type: 'text', text: decision.text });
  if (decision.toolUse) content.push({ type: 'tool_use', ...decision.toolUse });
  return content;
}

function anthropicMessages(req, res, body) {
  const decision = anthropicDecide(body);
  const id = `msg_fake_${++seq}`;
  const model = body.model || 'claude-fake';
  const stopReason = decision.toolUse ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  log({ api: 'anthropic', method: req.method, path: req.url, kind: decision.kind, step: decision.step,
        reply: decision.toolUse ? { tool_use: decision.toolUse } : { text: decision.text },
        headers: req.headers, body });
  const content = anthropicContent(decision);
  if (!body.stream) {
    sendJson(res, 200, { id, type: 'message', role: 'assistant', model, content,
                         stop_reason: stopReason, stop_sequence: null, usage },
             { 'request-id': `req_fake_${seq}` });
    return;
  }
  const events = [{
    type: 'message_start',
    message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null,
               stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  }];
  content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
    } else {
      events.push({ type: 'content_block_start', index,
                    content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      events.push({ type: 'content_block_delta', index,
                    delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null },
                usage: { output_tokens: usage.output_tokens } });
  events.push({ type: 'message_stop' });
  sendSse(res, events, { 'request-id': `req_fake_${seq}` });
}

// ------------------------------------------------------------------ OpenAI

const SHELL_TOOLS = ['exec_command', 'shell_command', 'shell', 'local_shell'];

function toolNames(tools) {
  return tools.map((t) => t.name || t.type).filter(Boolean);
}

function codexShellCall(tools, command, callId) {
  const names = toolNames(tools);
  if (names.includes('exec_command')) {
    return { type: 'function_call', name: 'exec_command', arguments: JSON.stringify({ cmd: command }), call_id: callId };
  }
  if (names.includes('shell_command')) {
    return { type: 'function_call', name: 'shell_command', arguments: JSON.stringify({ command }), call_id: callId };
  }
  if (names.includes('shell')) {
    return { type: 'function_call', name: 'shell',
             arguments: JSON.stringify({ command: ['bash', '-lc', command] }), call_id: callId };
  }
  if (names.includes('local_shell')) {
    return { type: 'local_shell_call', call_id: callId, status: 'completed',
             action: { type: 'exec', command: ['bash', '-lc', command] } };
  }
  return null;
}

// Codex offers MCP tools grouped as {"type":"namespace","name":"mcp__SERVER",
// "tools":[{"name":"TOOL"}]} and expects the call back as a function_call with
// "namespace": "mcp__SERVER", "name": "TOOL". A step may name such a tool
// either as "mcp__SERVER__TOOL" or as {"namespace": "mcp__SERVER", "tool": "TOOL"}.
function namespaced(tools, fullName) {
  for (const t of tools) {
    if (t.type !== 'namespace' || !Array.isArray(t.tools)) continue;
    const prefix = t.name.endsWith('__') ? t.name : `${t.name}__`;
    if (!fullName.startsWith(prefix)) continue;
    const rest = fullName.slice(prefix.length);
    if (t.tools.some((inner) => inner.name === rest)) return { name: t.name, tool: rest };
  }
  return null;
}

function openaiDecide(body) {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const input = Array.isArray(body.input) ? body.input : [];
  if (!toolNames(tools).some((n) => SHELL_TOOLS.includes(n))) return { kind: 'side', text: sideText };
  const { steps, final } = stepsFor('codex');
  const done = input.filter((item) =>
    ['function_call', 'custom_tool_call', 'local_shell_call'].includes(item.type)).length;
  if (done < steps.length) {
    const step = steps[done];
    const callId = `call_fake_${done}`;
    let item;
    if (step.command !== undefined) {
      item = codexShellCall(tools, step.command, callId);
    } else {
      const decl = tools.find((t) => t.name === step.tool);
      const ns = step.namespace ? { name: step.namespace, tool: step.tool } : namespaced(tools, step.tool);
      if (ns) {
        item = { type: 'function_call', namespace: ns.name, name: ns.tool, call_id: callId,
                 arguments: typeof step.input === 'string' ? step.input : JSON.stringify(step.input ?? {}) };
      } else if (decl && decl.type === 'custom') {
        item = { type: 'custom_tool_call', name: step.tool, call_id: callId,
                 input: typeof step.input === 'string' ? step.input : JSON.stringify(step.input) };
      } else {
        item = { type: 'function_call', name: step.tool, call_id: callId,
                 arguments: typeof step.input === 'string' ? step.input : JSON.stringify(step.input ?? {}) };
      }
    }
    if (item) return { kind: 'main', step: done, item: { id: `fc_fake_${done}`, status: 'completed', ...item } };
  }
  return { kind: 'main', step: done, text: final };
}

function openaiResponses(req, res, body) {
  const decision = openaiDecide(body);
  const id = `resp_fake_${++seq}`;
  const model = body.model || 'gpt-fake';
  log({ api: 'openai', method: req.method, path: req.url, kind: decision.kind, step: decision.step,
        reply: decision.item ? { item: decision.item } : { text: decision.text },
        headers: req.headers, body });
  const item = decision.item || {
    type: 'message', id: `msg_fake_${seq}`, role: 'assistant', status: 'completed',
    content: [{ type: 'output_text', text: decision.text, annotations: [] }],
  };
  const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5,
                  output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
  const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model,
                     status: 'completed', output: [item], usage };
  if (body.stream !== true) { // also /v1/responses/compact, which answers in JSON
    sendJson(res, 200, response);
    return;
  }
  const events = [
    { type: 'response.created', response: { ...response, status: 'in_progress', output: [] } },
  ];
  if (item.type === 'message') {
    events.push({ type: 'response.output_item.added', output_index: 0,
                  item: { ...item, status: 'in_progress', content: [] } });
    events.push({ type: 'response.output_text.delta', item_id: item.id, output_index: 0,
                  content_index: 0, delta: decision.text });
  } else {
    events.push({ type: 'response.output_item.added', output_index: 0, item });
  }
  events.push({ type: 'response.output_item.done', output_index: 0, item });
  events.push({ type: 'response.completed', response });
  sendSse(res, events);
}

// ------------------------------------------------------------------ server

function countTokens(body) {
  return Math.max(1, Math.ceil(JSON.stringify(body).length / 4));
}

const tlsCert = process.env.FAKE_MODEL_TLS_CERT;
const tlsKey = process.env.FAKE_MODEL_TLS_KEY;
const scheme = tlsCert && tlsKey ? 'https' : 'http';
const handler = (req, res) => {
  req.on('error', () => {});
  res.on('error', () => {});
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    let body = null;
    if (raw.length) {
      try { body = JSON.parse(raw); } catch { body = raw; }
    }
    const path = req.url.split('?')[0];
    try {
      if (/^[a-z]+:\/\//i.test(req.url)) {
        log({ method: req.method, path: req.url, kind: 'proxy', headers: req.headers, body });
        process.stderr.write(`fake-model: refused proxy request ${req.method} ${req.url}\n`);
        sendJson(res, 403, { error: 'fake-model: no network' });
      } else if (req.method === 'POST' && path === '/v1/messages' && body && typeof body === 'object') {
        anthropicMessages(req, res, body);
      } else if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        log({ api: 'anthropic', method: req.method, path: req.url, kind: 'count_tokens', headers: req.headers, body });
        sendJson(res, 200, { input_tokens: countTokens(body) });
      } else if (req.method === 'POST' && /^\/v1\/responses(\/compact)?$/.test(path) && body && typeof body === 'object') {
        openaiResponses(req, res, body);
      } else if (req.method === 'GET' && path === '/v1/models') {
        log({ api: 'openai', method: req.method, path: req.url, kind: 'models', headers: req.headers, body });
        sendJson(res, 200, { object: 'list', data: [], models: [] });
      } else if ((req.method === 'HEAD' || req.method === 'GET') && path === '/') {
        log({ method: req.method, path: req.url, kind: 'root', headers: req.headers });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(req.method === 'HEAD' ? undefined : 'fake-model\n');
      } else {
        log({ method: req.method, path: req.url, kind: 'unknown', headers: req.headers, body });
        process.stderr.write(`fake-model: unknown request ${req.method} ${req.url}\n`);
        sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `fake-model: no ${req.method} ${path}` } });
      }
    } catch (err) {
      log({ method: req.method, path: req.url, kind: 'error', error: String(err && err.stack || err), body });
      process.stderr.write(`fake-model: ${err && err.stack || err}\n`);
      if (!res.headersSent) sendJson(res, 500, { type: 'error', error: { type: 'api_error', message: String(err) } });
      else res.end();
    }
  });
};
const server = scheme === 'https'
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, handler)
  : http.createServer(handler);

server.listen(Number(process.env.FAKE_MODEL_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`fake-model listening on ${scheme}://127.0.0.1:${server.address().port}\n`);
});
// Pointed at as HTTPS_PROXY / HTTP_PROXY (with NO_PROXY=127.0.0.1,localhost),
// the server also records every attempt to reach anything else and refuses it.
server.on('connect', (req, socket) => {
  socket.on('error', () => {});
  log({ method: 'CONNECT', path: req.url, kind: 'proxy', headers: req.headers });
  process.stderr.write(`fake-model: refused proxy CONNECT ${req.url}\n`);
  socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
});
server.on('clientError', (err, socket) => socket.destroy());
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
