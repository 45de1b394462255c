/**
 * What server and client agents share about their LAN gossip member: the address peers reach
 * it at, and how a gossip member is shown in /v1/agent/members (serf's shape).
 */
import { networkInterfaces } from 'node:os';
import {
  GossipAgent,
  type AgentStats,
  type Member,
  type PresetName,
  type Tags,
} from '@trellis/gossip';
import type { AgentLogger } from '../log.js';
import type { RuntimeConfig } from '../config/schema.js';
import type { MemberInfo } from '../http/backend.js';

/** Serf's numeric member status: 1 alive, 2 leaving, 3 left, 4 failed. */
export const SERF_STATUS: Readonly<Record<Member['status'], number>> = {
  alive: 1,
  suspect: 1,
  left: 3,
  dead: 4,
};

/** The address peers reach us at: advertise, else bind unless wildcard, else a private IP. */
export function advertiseHost(cfg: RuntimeConfig): string {
  if (cfg.advertise_addr !== '') return cfg.advertise_addr;
  if (cfg.bind_addr !== '0.0.0.0' && cfg.bind_addr !== '::') return cfg.bind_addr;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** "host:port" → host (brackets of an IPv6 literal removed). */
export function hostOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/**
 * Joins the LAN pool as every agent does: the configured name, bind address, gossip port,
 * key and retry-join list; an advertised address only when binding a wildcard or told to.
 * Servers and clients differ only in their tags.
 */
export function startLanGossip(
  cfg: RuntimeConfig,
  o: { advertise: string; tags: Tags; preset?: PresetName; logger: AgentLogger },
): Promise<GossipAgent> {
  const wildcard = cfg.bind_addr === '0.0.0.0' || cfg.bind_addr === '::';
  return GossipAgent.start({
    name: cfg.node_name,
    bindAddr: cfg.bind_addr,
    port: cfg.ports.serf_lan,
    ...(wildcard || cfg.advertise_addr !== ''
      ? { advertiseAddr: hostPort(o.advertise, cfg.ports.serf_lan) }
      : {}),
    preset: o.preset ?? 'lan',
    tags: o.tags,
    keys: cfg.encrypt === '' ? [] : [cfg.encrypt],
    retryJoin: cfg.retry_join,
    retryJoinInterval: cfg.retry_interval,
    logger: o.logger,
  });
}

export function memberInfo(m: Member): MemberInfo {
  const at = m.addr.lastIndexOf(':');
  return {
    Name: m.name,
    Addr: hostOf(m.addr),
    Port: Number(m.addr.slice(at + 1)),
    Tags: { ...m.tags },
    Status: SERF_STATUS[m.status],
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  };
}

/** The LAN pool's figures in /v1/agent/self's Stats.serf_lan (strings, as Consul's). */
export function gossipStats(gs: AgentStats, encrypted: boolean): Record<string, string> {
  return {
    members: String(gs.alive),
    health_score: String(gs.health),
    encrypted: String(encrypted),
    packets_in: String(gs.packetsIn),
    packets_out: String(gs.packetsOut),
    bytes_in: String(gs.bytesIn),
    bytes_out: String(gs.bytesOut),
    streams_in: String(gs.streamsIn),
    streams_out: String(gs.streamsOut),
    push_pulls: String(gs.pushPulls),
  };
}
