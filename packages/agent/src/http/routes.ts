/**
 * Every endpoint the HTTP API serves besides /v1/kv, gathered from the modules that
 * implement them. An endpoint whose `prefix` is true serves every path under `path` (which
 * then ends in "/"; the handler reads the rest from `ctx.path`), as Go's mux does for a
 * pattern ending in a slash.
 */
import { AGENT_ENDPOINTS } from './agent.js';
import { AGENT_CONNECT_ENDPOINTS } from './agent-connect.js';
import { CONFIG_ENDPOINTS } from './config.js';
import { CONNECT_CA_ENDPOINTS } from './connect-ca.js';
import { INTENTION_ENDPOINTS } from './intentions.js';
import { CATALOG_ENDPOINTS } from './catalog.js';
import { ENDPOINTS, type Endpoint } from './endpoints.js';
import { EVENT_ENDPOINTS } from './event.js';
import { HEALTH_ENDPOINTS } from './health.js';
import { SESSION_ENDPOINTS } from './session.js';
import { TXN_ENDPOINTS } from './txn.js';

export const ROUTES: readonly Endpoint[] = [
  ...ENDPOINTS,
  ...AGENT_ENDPOINTS,
  ...SESSION_ENDPOINTS,
  ...TXN_ENDPOINTS,
  ...EVENT_ENDPOINTS,
  ...CATALOG_ENDPOINTS,
  ...HEALTH_ENDPOINTS,
  ...CONNECT_CA_ENDPOINTS,
  ...CONFIG_ENDPOINTS,
  ...INTENTION_ENDPOINTS,
  ...AGENT_CONNECT_ENDPOINTS,
];
