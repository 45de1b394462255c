/**
 * The Connect CA configuration as Consul's api.CAConfig holds it: the shape `connect ca
 * get-config` prints and `connect ca set-config` reads and sends.
 */
import { goField, isJsonObject, jsonTypeName, wrongType } from '../shared/go-decode.js';
import { sortedKeys } from '../shared/output.js';

/** api.CAConfig's fields, in the struct's order (the order Go prints them in). */
export interface CaConfig {
  Provider: string;
  /** Provider settings; Go holds them as a map, so they print with sorted keys. */
  Config: Record<string, unknown> | null;
  State: Record<string, string> | null;
  ForceWithoutCrossSigning: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

type FieldKind = 'string' | 'map' | 'stringMap' | 'bool' | 'uint';

const FIELDS: readonly (readonly [keyof CaConfig, FieldKind])[] = [
  ['Provider', 'string'],
  ['Config', 'map'],
  ['State', 'stringMap'],
  ['ForceWithoutCrossSigning', 'bool'],
  ['CreateIndex', 'uint'],
  ['ModifyIndex', 'uint'],
];

/**
 * Decodes a CA configuration as Go's json.Unmarshal fills api.CAConfig: field names match
 * case-insensitively (the exact name wins), unknown fields are ignored, `null` leaves the
 * zero value, and a value of the wrong type is an error naming the field. Throws Error.
 */
export function decodeCaConfig(v: unknown): CaConfig {
  if (!isJsonObject(v)) {
    throw new Error(`cannot unmarshal ${jsonTypeName(v)} into a CA configuration (an object)`);
  }
  const out: CaConfig = {
    Provider: '',
    Config: null,
    State: null,
    ForceWithoutCrossSigning: false,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
  const set = out as unknown as Record<string, unknown>;
  for (const [field, kind] of FIELDS) {
    const raw = goField(v, field);
    if (raw === undefined || raw === null) continue;
    const wrong = (goType: string): never => {
      throw wrongType(raw, field, goType);
    };
    switch (kind) {
      case 'string':
        if (typeof raw !== 'string') wrong('string');
        set[field] = raw;
        break;
      case 'bool':
        if (typeof raw !== 'boolean') wrong('bool');
        set[field] = raw;
        break;
      case 'uint':
        if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) wrong('uint64');
        set[field] = raw;
        break;
      case 'map':
        if (!isJsonObject(raw)) wrong('map[string]interface {}');
        out.Config = raw as Record<string, unknown>;
        break;
      case 'stringMap': {
        if (!isJsonObject(raw)) wrong('map[string]string');
        const m = raw as Record<string, unknown>;
        for (const x of Object.values(m)) if (typeof x !== 'string') wrong('map[string]string');
        out.State = m as Record<string, string>;
        break;
      }
    }
  }
  return out;
}

/** The configuration as Go prints it: struct order, the Config map's keys sorted. */
export function caConfigForOutput(c: CaConfig): CaConfig {
  return {
    Provider: c.Provider,
    Config: c.Config === null ? null : (sortedKeys(c.Config) as Record<string, unknown>),
    State: c.State === null ? null : (sortedKeys(c.State) as Record<string, string>),
    ForceWithoutCrossSigning: c.ForceWithoutCrossSigning,
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}
