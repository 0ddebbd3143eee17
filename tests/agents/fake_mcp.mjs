#!/usr/bin/env node
// A minimal MCP server over stdio (newline-delimited JSON-RPC 2.0), Node
// built-ins only, so tests can make an agent call an mcp__ tool. It offers
// one tool, "echo" ({"text": string}), which answers "echo: TEXT". Each
// tools/call is appended as a JSON line to FAKE_MCP_LOG when that is set.
//
// Claude Code:  --mcp-config '{"mcpServers":{"fake":{"command":"node","args":["/abs/fake_mcp.mjs"]}}}'
//               (the tool is then mcp__fake__echo)
// Codex:        [mcp_servers.fake] command = "node", args = ["/abs/fake_mcp.mjs"]
import fs from 'node:fs';
import readline from 'node:readline';

const logPath = process.env.FAKE_MCP_LOG || '';
const tools = [{
  name: 'echo',
  description: 'Echoes the given text back.',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
}];

function send(msg) {
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...msg }) + '\n');
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  const { id, method, params } = msg;
  if (id === undefined) return; // a notification
  switch (method) {
    case 'initialize':
      send({ id, result: {
        protocolVersion: params?.protocolVersion || '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'fake-mcp', version: '1.0.0' },
      } });
      break;
    case 'ping':
      send({ id, result: {} });
      break;
    case 'tools/list':
      send({ id, result: { tools } });
      break;
    case 'tools/call': {
      if (logPath) fs.appendFileSync(logPath, JSON.stringify({ ts: new Date().toISOString(), params }) + '\n');
      if (params?.name !== 'echo') {
        send({ id, error: { code: -32602, message: `unknown tool ${params?.name}` } });
        break;
      }
      send({ id, result: { content: [{ type: 'text', text: `echo: ${params.arguments?.text ?? ''}` }] } });
      break;
    }
    case 'resources/list':
      send({ id, result: { resources: [] } });
      break;
    case 'prompts/list':
      send({ id, result: { prompts: [] } });
      break;
    default:
      send({ id, error: { code: -32601, message: `method not found: ${method}` } });
  }
});
rl.on('close', () => process.exit(0));
