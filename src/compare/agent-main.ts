/**
 * A lane agent as a process: requests as JSON lines on stdin, events as JSON lines on stdout
 * (protocol.ts). It exits when stdin ends, closing every socket it opened.
 */
import { createInterface } from 'node:readline';
import { AgentCore } from './agent.js';
import { decodeLine, encodeLine, type AgentRequest } from './protocol.js';

const core = new AgentCore((event) => process.stdout.write(encodeLine(event)));
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let request: AgentRequest;
  try {
    request = decodeLine<AgentRequest>(line);
  } catch {
    process.stdout.write(encodeLine({ ev: 'error', message: 'a request that is not JSON' }));
    return;
  }
  core.handle(request);
});
lines.on('close', () => {
  core.close();
  process.stdout.end();
});
