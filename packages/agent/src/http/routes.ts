/**
 * Every endpoint the HTTP API serves besides /v1/kv, gathered from the modules that
 * implement them. An endpoint whose `prefix` is true serves every path under `path` (which
 * then ends in "/"; the handler reads the rest from `ctx.path`), as Go's mux does for a
 * pattern ending in a slash.
 */
import { ENDPOINTS, type Endpoint } from './endpoints.js';

export const ROUTES: readonly Endpoint[] = [...ENDPOINTS];
