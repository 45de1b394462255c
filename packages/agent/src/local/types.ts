/**
 * The shapes the agent's local state works with: services and checks this agent owns, after
 * their definitions are parsed and validated (local/definition.ts), before anti-entropy
 * writes them to the catalog (local/anti-entropy.ts), and as check runners (checks/) see them.
 *
 * Durations are milliseconds here; the catalog's HealthCheck.Definition carries them as Go
 * duration strings, as Consul's does.
 */
import type { CheckStatus, Service } from '@trellis/state';

/** A service this agent owns, exactly as the catalog will hold it (minus Node and indexes). */
export type LocalService = Omit<Service, 'Node' | 'CreateIndex' | 'ModifyIndex'>;

/** The check kinds the agent runs. */
export type CheckKind = 'ttl' | 'http' | 'tcp' | 'grpc' | 'alias' | 'script';

/** A check this agent owns and runs, with every default applied. */
export interface CheckDefinition {
  readonly CheckID: string;
  readonly Name: string;
  readonly Notes: string;
  /** '' for a node-level check. */
  readonly ServiceID: string;
  /** The status the check starts in (Consul: critical unless the definition says otherwise). */
  readonly Status: CheckStatus;
  readonly kind: CheckKind;
  /** Milliseconds between runs (http, tcp, grpc, script); 0 for ttl and alias. */
  readonly Interval: number;
  /** Milliseconds a run may take (http/tcp/grpc default 10 s, script 30 s). */
  readonly Timeout: number;
  /** Milliseconds (ttl checks): without an update for this long, the check turns critical. */
  readonly TTL: number;
  readonly HTTP: string;
  readonly Method: string;
  readonly Header: Readonly<Record<string, readonly string[]>>;
  readonly Body: string;
  readonly DisableRedirects: boolean;
  readonly TLSServerName: string;
  readonly TLSSkipVerify: boolean;
  readonly TCP: string;
  readonly TCPUseTLS: boolean;
  /** "host:port" or "host:port/service" (the service asked of grpc.health.v1.Health/Check). */
  readonly GRPC: string;
  readonly GRPCUseTLS: boolean;
  readonly AliasNode: string;
  readonly AliasService: string;
  readonly ScriptArgs: readonly string[];
  /** Consecutive successes before the check reports passing (0 = at once). */
  readonly SuccessBeforePassing: number;
  /** Consecutive failures before a failing check reports warning (0 = at once). */
  readonly FailuresBeforeWarning: number;
  /** Consecutive failures before the check reports critical (0 = at once). */
  readonly FailuresBeforeCritical: number;
  /** Milliseconds critical after which the check's service is deregistered (0 = never). */
  readonly DeregisterCriticalServiceAfter: number;
  /** Bytes of output kept (Consul's default 4096). */
  readonly OutputMaxSize: number;
}

/** One check's current outcome, as the local state holds it. */
export interface CheckState {
  readonly Status: CheckStatus;
  readonly Output: string;
}

/** A TTL check with every field at its zero value: the base other definitions spread over. */
export const BLANK_CHECK: CheckDefinition = {
  CheckID: '',
  Name: '',
  Notes: '',
  ServiceID: '',
  Status: 'critical',
  kind: 'ttl',
  Interval: 0,
  Timeout: 0,
  TTL: 0,
  HTTP: '',
  Method: '',
  Header: {},
  Body: '',
  DisableRedirects: false,
  TLSServerName: '',
  TLSSkipVerify: false,
  TCP: '',
  TCPUseTLS: false,
  GRPC: '',
  GRPCUseTLS: false,
  AliasNode: '',
  AliasService: '',
  ScriptArgs: [],
  SuccessBeforePassing: 0,
  FailuresBeforeWarning: 0,
  FailuresBeforeCritical: 0,
  DeregisterCriticalServiceAfter: 0,
  OutputMaxSize: 0,
};
