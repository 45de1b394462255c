/**
 * How Go's encoding/json fills a struct from an object, for the commands that decode a
 * user's JSON file into one of Consul's api structs: a field matches its exact key, else any
 * key equal to it without regard to case; unknown keys are ignored; a value of the wrong type
 * is an error naming the field.
 */

/** JSON's name for a value's type, as Go's errors say it ("number", "string", "object"…). */
export function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value Go's decoder would put into struct field `name` (undefined when absent). */
export function goField(o: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  const lower = name.toLowerCase();
  const key = Object.keys(o).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : o[key];
}

/** Go's UnmarshalTypeError, shortened: `cannot unmarshal number into field X of type string`. */
export function wrongType(v: unknown, field: string, goType: string): Error {
  return new Error(`cannot unmarshal ${jsonTypeName(v)} into field ${field} of type ${goType}`);
}
