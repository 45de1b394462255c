import { ApiError } from './errors.js';
import { DEFAULT_HTTP_ADDR, HTTP_ADDR_ENV, HTTP_SSL_ENV } from './constants.js';

export type Env = Readonly<Record<string, string | undefined>>;

function firstEnv(env: Env, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/**
 * The agent's base URL (`http://host:port`, no trailing slash) from `-http-addr`, else
 * TRELLIS_HTTP_ADDR, else CONSUL_HTTP_ADDR, else 127.0.0.1:8500. Accepts `host:port`,
 * `http://host:port` and `https://host:port` like Consul's client; a scheme-less address
 * uses https when TRELLIS_HTTP_SSL / CONSUL_HTTP_SSL is true. Throws ERR_API_ADDRESS.
 */
export function resolveAgentUrl(flagValue: string | undefined, env: Env): string {
  const raw =
    (flagValue !== undefined && flagValue !== '' ? flagValue : undefined) ??
    firstEnv(env, HTTP_ADDR_ENV) ??
    DEFAULT_HTTP_ADDR;
  let scheme = ['1', 't', 'true'].includes((firstEnv(env, HTTP_SSL_ENV) ?? '').toLowerCase())
    ? 'https'
    : 'http';
  let rest = raw.trim();
  const sep = rest.indexOf('://');
  if (sep >= 0) {
    const given = rest.slice(0, sep);
    if (given === 'unix') {
      throw new ApiError('ERR_API_ADDRESS', `Unix sockets are not supported: ${raw}`);
    }
    if (given !== 'http' && given !== 'https') {
      throw new ApiError('ERR_API_ADDRESS', `Unknown protocol scheme: ${given}`);
    }
    scheme = given;
    rest = rest.slice(sep + 3);
  }
  rest = rest.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${scheme}://${rest}`);
  } catch {
    throw new ApiError('ERR_API_ADDRESS', `invalid HTTP address: ${raw}`);
  }
  if (rest === '' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ApiError('ERR_API_ADDRESS', `invalid HTTP address: ${raw}`);
  }
  return `${url.protocol}//${url.host}`;
}
