// The settings of the schema as a flat list, each with its metadata (default, environment variable, bounds,
// description): what load-config.ts checks the environment against and docs/configuration.md is written from.
import type { z } from 'zod';
import { configSchema } from './config-schema.ts';

/** One setting of the schema, found by `listSettings`. */
export interface Setting {
  /** Dotted name: `workers`, `serve.port`. */
  key: string;
  path: string[];
  /** The innermost schema (the value's type, without default or optional). */
  type: z.ZodType;
  /** The default, or undefined for "unset" (or computed at load: see `defaultText`). */
  defaultValue: unknown;
  env?: string;
  bounds?: string;
  description?: string;
  secret?: boolean;
  notInFiles?: boolean;
  defaultText?: string;
}

/** Default and optional wrappers carry the setting's metadata; the type inside carries its bounds. */
function unwrap(schema: z.ZodType): { type: z.ZodType; meta: Record<string, unknown>; defaultValue: unknown } {
  let meta: Record<string, unknown> = {};
  let defaultValue: unknown;
  let s = schema;
  for (;;) {
    meta = { ...s.meta(), ...meta };
    const def = s.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
    if (def.type === 'default') defaultValue = def.defaultValue;
    if (def.innerType === undefined || !['default', 'prefault', 'optional'].includes(def.type)) return { type: s, meta, defaultValue };
    s = def.innerType;
  }
}

/** The settings of a shape (a section's shape for `prefix` = [section]), each with its metadata. */
export function listSettings(shape: z.ZodRawShape = configSchema.shape, prefix: string[] = []): Setting[] {
  return Object.entries(shape).flatMap(([name, schema]) => {
    const { type, meta, defaultValue } = unwrap(schema as z.ZodType);
    const path = [...prefix, name];
    if (type.def.type === 'object') return listSettings((type as z.ZodObject).shape, path);
    return [{ ...meta, key: path.join('.'), path, type, defaultValue } as Setting];
  });
}

/** The shape inside a section's schema (serve, schedule, ...), or undefined for a single setting. */
export function sectionShape(schema: z.ZodType): z.ZodRawShape | undefined {
  const { type } = unwrap(schema);
  return type.def.type === 'object' ? (type as z.ZodObject).shape : undefined;
}
