/** The agent's own node name (GET /v1/agent/self, Config.NodeName), as Consul's Agent.NodeName. */
import type { ApiClient } from '../../api/index.js';

/**
 * Asks the agent for its node name. Consul's event and maint commands make this call first,
 * so an unreachable agent is reported before anything is changed. Rejects with the client's
 * error, or an Error when the answer has no node name.
 */
export async function agentNodeName(client: ApiClient): Promise<string> {
  const { value } = await client.json<unknown>('GET', '/v1/agent/self');
  const config = (value as { Config?: unknown } | undefined)?.Config;
  const name = (config as { NodeName?: unknown } | undefined)?.NodeName;
  if (typeof name !== 'string') {
    throw new Error('unexpected response from /v1/agent/self: no Config.NodeName');
  }
  return name;
}
