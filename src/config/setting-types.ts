// The kinds of value a setting may hold, for config-schema.ts: each is a Zod 4 schema whose messages are
// our words ("must be an integer between 1 and 64") and whose `bounds` say the same in short for
// docs/configuration.md ("1 to 64"). load-config.ts puts a message after `config workers=0` and adds where
// the value came from, so a message here says only what the value must be.
import { z } from 'zod';

declare module 'zod' {
  interface GlobalMeta {
    /** The environment variable that sets this setting. */
    env?: string;
    /** The allowed values in short, for docs/configuration.md; set by the helpers below. */
    bounds?: string;
    /** The value may hold a password: messages never repeat it. */
    secret?: boolean;
    /** Not accepted in a config file (root: the files are found under it). */
    notInFiles?: boolean;
    /** The default in words, where it is only known at load (root). */
    defaultText?: string;
  }
}

/** An integer in [min, max]. */
export const int = (min: number, max: number, rule = `must be an integer between ${min} and ${max}`) =>
  z
    .int(rule)
    .min(min, rule)
    .max(max, rule)
    .meta({ bounds: `${min} to ${max}` });

/** A duration in whole milliseconds, min or more. */
export const millis = (min: number) => {
  const rule = `must be a whole number of milliseconds (${min} or more)`;
  return z
    .int(rule)
    .min(min, rule)
    .meta({ bounds: `${min} or more` });
};

/** A non-empty string: a path, a host, a name. */
export const text = (rule = 'must be a non-empty string', bounds = 'not empty') => z.string(rule).min(1, rule).meta({ bounds });

/** A string matching `pattern` (a URL of some scheme). */
export const matching = (pattern: RegExp, rule: string, bounds: string) => z.string(rule).regex(pattern, rule).meta({ bounds });

export const bool = () => z.boolean('must be true or false').meta({ bounds: 'true or false' });

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, `must be one of ${values.join(', ')}`).meta({ bounds: values.join(', ') });

/** A list of strings, each checked by `item` (whose message follows the offending entry). */
export const list = (item: z.ZodString, rule: string, bounds: string) => z.array(item, rule).meta({ bounds });

/**
 * A section of the configuration (serve, schedule, ...): refuses settings it does not know, and is filled
 * from its settings' defaults when absent (prefault parses `{}`, where default would skip the parse).
 */
export const section = <S extends z.ZodRawShape>(shape: S) => {
  const known = Object.keys(shape).join(', ');
  const settings = z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `is not a known setting (known: ${known})` : 'must be an object of settings'),
  });
  // `{}` is a valid input as long as every setting has a default or is optional, as they all do.
  return settings.prefault({} as z.input<typeof settings>);
};
