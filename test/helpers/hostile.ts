import fc from 'fast-check';

/**
 * Arbitraries for the bad-input suite (test/bad-input.test.ts): hostile JSON values, strings,
 * numbers, keys and raw texts, plus values generated from a JSON Schema (the OpenAPI document's)
 * and one-field mutations of them.
 */

/** A JSON text fragment sent as is: what JSON.stringify cannot write (1e309, -0, deep nesting, duplicate keys). */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * A value to send as JSON. Objects are built with Object.fromEntries, which defines `__proto__`
 * as an own key (an object literal or an assignment would set the prototype instead).
 */
export type Hostile = null | boolean | number | string | RawJson | Hostile[] | HostileObject;
export interface HostileObject {
  [key: string]: Hostile;
}

export function isHostileObject(value: Hostile): value is HostileObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RawJson);
}

/** JSON text of a hostile value; strings go through JSON.stringify, which escapes lone surrogates (\ud800). */
export function toJsonText(value: Hostile): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  if (isHostileObject(value)) return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${toJsonText(item)}`).join(',')}}`;
  // NaN and ±Infinity have no JSON form: JSON.stringify writes null, as a browser would send it.
  return JSON.stringify(value);
}

const pick = <T>(values: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...values);

// ---------------------------------------------------------------------------------------------
// Strings

/** SQL, shell, nginx-config, path and template metacharacters. */
export const METACHARACTERS: readonly string[] = [
  "'; drop table users; --",
  "' or '1'='1",
  '"; select pg_sleep(10); --',
  "1'; update users set role='SUPER_ADMIN'; --",
  '$(reboot)',
  '`id`',
  '; rm -rf / #',
  '| cat /etc/passwd',
  '&& curl http://127.0.0.1:1/',
  '}; server { listen 80; root /; }',
  'include /etc/nginx/nginx.conf;',
  'example.com; return 301 http://127.0.0.1/;',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '/etc/passwd\u0000.html',
  'line one\nline two',
  'header\r\nX-Injected: 1',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '%00',
  '%2e%2e%2f',
  '%',
  '_',
  '\\',
  '*',
  '%_\\%',
];

/** Unicode that trips parsers, normalisers, case folding and terminals. */
export const UNICODE_TRICKS: readonly string[] = [
  '\u0000',
  'nul\u0000byte',
  '\u202Egnp.exe',
  '\u200B',
  '\uFEFFbom',
  '𝕏😀👩‍👩‍👧',
  '\ud800',
  '\udfff',
  'a\ud800b',
  'ﬀ',
  'İstanbul',
  'straße',
  'e\u0301',
  '\u00a0',
  'ａｄｍｉｎ',
  'xn--',
  'пример.рф',
];

/** Strings that look like numbers, booleans or JSON. */
export const VALUE_LIKE: readonly string[] = ['', ' ', 'NaN', 'Infinity', '-Infinity', '-0', '1e309', '9007199254740993', '0x1F', '1_000', ' 1', '+1', 'null', 'true', 'false', '[]', '{}', 'undefined'];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: pick(METACHARACTERS) },
  { weight: 3, arbitrary: pick(UNICODE_TRICKS) },
  { weight: 2, arbitrary: pick(VALUE_LIKE) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(loneSurrogate, fc.constantFrom('a', '\u0000', '"', '\\')), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.tuple(pick(METACHARACTERS), pick(UNICODE_TRICKS)).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.tuple(pick(['a', '😀', '%', "'", '\u0000']), pick([64, 256, 1_000, 10_000, 70_000])).map(([unit, count]) => unit.repeat(count)) },
);

// ---------------------------------------------------------------------------------------------
// Numbers

/** Numbers at the edges, as raw JSON: overflow to Infinity, negative zero, past 2^53, denormals. */
export const EDGE_NUMBER_TEXTS: readonly string[] = [
  '1e309',
  '-1e309',
  '-0',
  '9007199254740993',
  '-9007199254740993',
  '1e-400',
  '4.9e-324',
  '2147483648',
  '-2147483649',
  '9223372036854775808',
  '123456789012345678901234567890',
  '0.1',
  '1.5',
  '1e2',
];

export const hostileNumber: fc.Arbitrary<Hostile> = fc.oneof(
  pick(EDGE_NUMBER_TEXTS).map((text) => new RawJson(text)),
  fc.double(),
  fc.integer(),
  pick([-1, 0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 31, 2 ** 63]),
);

// ---------------------------------------------------------------------------------------------
// Keys, prototype pollution, nesting

export const PROTO_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: pick([...PROTO_KEYS, 'tenantId', 'role', 'isAdmin', 'id', 'toString', 'hasOwnProperty', '', ' ', '\u0000', '𝕏', 'a'.repeat(1_000)]) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

/** Objects that pollute a prototype when a careless merge or parser walks them. */
export const prototypePollution: fc.Arbitrary<Hostile> = pick<Hostile>([
  Object.fromEntries([['__proto__', { polluted: true, isAdmin: true }]]),
  { constructor: { prototype: { polluted: true } } },
  { prototype: { polluted: true } },
  Object.fromEntries([['__proto__', Object.fromEntries([['__proto__', { polluted: true }]])]]),
  new RawJson('{"__proto__":{"polluted":true},"__proto__":{"role":"SUPER_ADMIN"}}'),
  new RawJson('{"constructor":{"prototype":{"polluted":true}},"a":1}'),
]);

/** Deeply nested JSON text: arrays, objects, both, and a prototype key at the bottom. */
export function deepNesting(depth: number, shape: 'array' | 'object' | 'mixed' | 'proto'): RawJson {
  switch (shape) {
    case 'array':
      return new RawJson(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    case 'object':
      return new RawJson(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    case 'mixed':
      return new RawJson(`${'[{"a":'.repeat(depth)}null${'}]'.repeat(depth)}`);
    case 'proto':
      return new RawJson(`${'{"a":'.repeat(depth)}{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}${'}'.repeat(depth)}`);
  }
}

/** Up to 5,000 levels, and one that fills most of a 1 MiB body (100,000 levels of `{"a":`). */
export const NESTING_DEPTHS: readonly number[] = [64, 1_000, 5_000, 100_000];

export const deeplyNested: fc.Arbitrary<Hostile> = fc
  .tuple(pick(NESTING_DEPTHS), pick(['array', 'object', 'mixed', 'proto'] as const))
  .map(([depth, shape]) => deepNesting(depth, shape));

/** Any hostile JSON value: wrong types, hostile strings, edge numbers, pollution, nesting. */
export const hostileValue: fc.Arbitrary<Hostile> = fc.letrec<{ value: Hostile }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'hostile' },
    { weight: 4, arbitrary: hostileString },
    { weight: 3, arbitrary: hostileNumber },
    { weight: 1, arbitrary: pick<Hostile>([null, true, false]) },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, tie('value')), { maxLength: 4 }).map((entries) => Object.fromEntries(entries)) },
    { weight: 1, arbitrary: prototypePollution },
    { weight: 1, arbitrary: deeplyNested },
  ),
})).value;

/** JSON texts that are not JSON, or are JSON of an odd kind. */
export const BROKEN_JSON_TEXTS: readonly string[] = [
  '',
  ' ',
  '{',
  '}',
  '{"a":}',
  '{"a":1,}',
  "{'a':1}",
  '{a:1}',
  '[1,2',
  'nul',
  'NaN',
  'undefined',
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":01}',
  '{"a":"\\x41"}',
  '{"a":"unterminated}',
  '{"a":"\u0000"}',
  '/* comment */ {}',
  '{} {}',
  '\uFEFF{}',
  '\u0000',
  '{"a":1}\u0000',
  `{"a":"${'\\'.repeat(3)}"}`,
];

// ---------------------------------------------------------------------------------------------
// JSON Schema (as the OpenAPI 3.1 document has it) → valid values

export type Schema = { readonly [key: string]: unknown };

export function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const schemaAt = (schema: Schema, key: string): Schema | undefined => {
  const value = schema[key];
  return isSchema(value) ? value : undefined;
};
export const schemasAt = (schema: Schema, key: string): Schema[] => {
  const value = schema[key];
  return Array.isArray(value) ? value.filter(isSchema) : [];
};
export const stringAt = (schema: Schema, key: string): string | undefined => {
  const value = schema[key];
  return typeof value === 'string' ? value : undefined;
};
export const numberAt = (schema: Schema, key: string): number | undefined => {
  const value = schema[key];
  return typeof value === 'number' ? value : undefined;
};
export const stringsAt = (schema: Schema, key: string): string[] => {
  const value = schema[key];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
};

/** Plain JSON from the document (an enum or const value) as a Hostile value. */
function jsonValue(value: unknown): Hostile {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(jsonValue);
  if (isSchema(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, jsonValue(item)]));
  return null;
}

export interface SchemaContext {
  /** The schema a `$ref` names, e.g. '#/components/schemas/Price'. */
  resolve(ref: string): Schema | undefined;
  /** A value the schema cannot express (a slug that exists, an id of a real row), by property name. */
  hint(property: string, schema: Schema): fc.Arbitrary<Hostile> | undefined;
}

export function deref(schema: Schema, context: SchemaContext): Schema {
  let current = schema;
  for (let hops = 0; hops < 10; hops++) {
    const ref = stringAt(current, '$ref');
    const target = ref === undefined ? undefined : context.resolve(ref);
    if (!target) return current;
    current = target;
  }
  return current;
}

const hex = fc.string({ unit: pick([...'0123456789abcdef']), minLength: 8, maxLength: 8 });

function stringFor(schema: Schema): fc.Arbitrary<Hostile> {
  const min = numberAt(schema, 'minLength') ?? 0;
  const max = numberAt(schema, 'maxLength') ?? min + 16;
  const fits = (value: string) => value.length >= min && value.length <= max;
  switch (stringAt(schema, 'format')) {
    case 'uuid':
      return fc.uuid({ version: 4 });
    case 'email':
      return hex.map((id) => `bad-input-${id}@example.test`);
    case 'date-time':
      return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString());
  }
  const pattern = stringAt(schema, 'pattern');
  if (pattern !== undefined) return fc.stringMatching(new RegExp(pattern)).filter(fits);
  return fc.string({ minLength: min, maxLength: Math.min(max, min + 16) });
}

/** A value that satisfies `schema` as far as a JSON Schema can say (the API may still refuse it on meaning). */
export function validValue(schema: Schema, context: SchemaContext, property?: string, depth = 0): fc.Arbitrary<Hostile> {
  const s = deref(schema, context);
  const hinted = property === undefined ? undefined : context.hint(property, s);
  if (hinted) return hinted;
  if (depth > 6) return fc.constant(null);
  if ('const' in s) return fc.constant(jsonValue(s.const));
  const enumValues = s.enum;
  if (Array.isArray(enumValues) && enumValues.length > 0) return pick(enumValues.map(jsonValue));

  const branches = [...schemasAt(s, 'oneOf'), ...schemasAt(s, 'anyOf')];
  if (branches.length > 0) return fc.oneof(...branches.map((branch) => validValue(branch, context, property, depth + 1)));
  const allOf = schemasAt(s, 'allOf');
  if (allOf.length > 0) {
    const merged: Schema = {
      type: 'object',
      properties: Object.assign({}, ...allOf.map((part) => schemaAt(deref(part, context), 'properties') ?? {})),
      required: allOf.flatMap((part) => stringsAt(deref(part, context), 'required')),
    };
    return validValue(merged, context, property, depth + 1);
  }

  const types = Array.isArray(s.type) ? s.type.filter((type): type is string => typeof type === 'string') : [stringAt(s, 'type') ?? (schemaAt(s, 'properties') ? 'object' : 'any')];
  return fc.oneof(...types.map((type) => valueOfType(type, s, context, depth)));
}

function valueOfType(type: string, s: Schema, context: SchemaContext, depth: number): fc.Arbitrary<Hostile> {
  switch (type) {
    case 'string':
      return stringFor(s);
    case 'integer': {
      const exclusiveMin = numberAt(s, 'exclusiveMinimum');
      const exclusiveMax = numberAt(s, 'exclusiveMaximum');
      const min = Math.max(numberAt(s, 'minimum') ?? -1_000, exclusiveMin === undefined ? -Infinity : exclusiveMin + 1);
      const max = Math.min(numberAt(s, 'maximum') ?? Math.max(min, 0) + 1_000, exclusiveMax === undefined ? Infinity : exclusiveMax - 1);
      // Small values most of the time, the bounds now and then.
      return fc.oneof(fc.integer({ min, max: Math.min(max, min + 1_000) }), pick([min, max]));
    }
    case 'number':
      return fc.double({ min: numberAt(s, 'minimum') ?? -1e6, max: numberAt(s, 'maximum') ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = schemaAt(s, 'items') ?? {};
      const minItems = numberAt(s, 'minItems') ?? 0;
      return fc.array(validValue(items, context, undefined, depth + 1), { minLength: minItems, maxLength: Math.min(numberAt(s, 'maxItems') ?? minItems + 3, minItems + 3) });
    }
    case 'object': {
      const properties = Object.entries(schemaAt(s, 'properties') ?? {}).filter((entry): entry is [string, Schema] => isSchema(entry[1]));
      const required = new Set(stringsAt(s, 'required'));
      const model: Record<string, fc.Arbitrary<Hostile>> = Object.fromEntries(properties.map(([name, child]) => [name, validValue(child, context, name, depth + 1)]));
      return fc.record(model, { requiredKeys: properties.map(([name]) => name).filter((name) => required.has(name)) });
    }
    default:
      return pick<Hostile>(['value', 1, true, null]);
  }
}

// ---------------------------------------------------------------------------------------------
// One-field mutations

export type JsonPath = (string | number)[];

/** Every path in a value: the root, each member and element (raw fragments are leaves). */
export function pathsOf(value: Hostile, prefix: JsonPath = []): JsonPath[] {
  const paths: JsonPath[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, index) => paths.push(...pathsOf(item, [...prefix, index])));
  else if (isHostileObject(value)) for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...prefix, key]));
  return paths;
}

/** A copy of `value` with `change` applied to what is at `path` (undefined deletes it). */
export function updateAt(value: Hostile, path: JsonPath, change: (current: Hostile) => Hostile | undefined): Hostile | undefined {
  const [head, ...rest] = path;
  if (head === undefined) return change(value);
  if (Array.isArray(value) && typeof head === 'number') {
    const item = value[head];
    if (item === undefined) return value;
    const next = updateAt(item, rest, change);
    return next === undefined ? value.filter((_, index) => index !== head) : value.map((old, index) => (index === head ? next : old));
  }
  if (isHostileObject(value) && typeof head === 'string') {
    const entries = Object.entries(value);
    return Object.fromEntries(entries.flatMap(([key, item]): [string, Hostile][] => {
      if (key !== head) return [[key, item]];
      const next = updateAt(item, rest, change);
      return next === undefined ? [] : [[key, next]];
    }));
  }
  return value;
}

export type Mutation =
  | { kind: 'replace'; with: Hostile }
  | { kind: 'same-type'; string: string; number: Hostile; other: Hostile }
  | { kind: 'delete' }
  | { kind: 'add-key'; key: string; with: Hostile }
  | { kind: 'wrap-in-array' }
  | { kind: 'huge-string'; fraction: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // The type the schema wants with hostile content: past the type check, into the service.
  { weight: 8, arbitrary: fc.record({ string: hostileString, number: hostileNumber, other: hostileValue }).map((m): Mutation => ({ kind: 'same-type', ...m })) },
  { weight: 5, arbitrary: hostileValue.map((value): Mutation => ({ kind: 'replace', with: value })) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: 'delete' }) },
  { weight: 3, arbitrary: fc.tuple(hostileKey, hostileValue).map(([key, value]): Mutation => ({ kind: 'add-key', key, with: value })) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ kind: 'wrap-in-array' }) },
  // A fraction of the body limit: the request stays under it, and its string is huge.
  { weight: 1, arbitrary: pick([0.05, 0.5, 0.95]).map((fraction): Mutation => ({ kind: 'huge-string', fraction })) },
);

/** `value` with `m` applied at `path`; a huge string makes the whole body about `m.fraction` × `bodyLimit`. */
export function applyMutation(value: Hostile, path: JsonPath, m: Mutation, bodyLimit: number): Hostile {
  const result = updateAt(value, path, (current) => {
    switch (m.kind) {
      case 'replace':
        return m.with;
      case 'same-type':
        return typeof current === 'string' ? m.string : typeof current === 'number' ? m.number : m.other;
      case 'delete':
        return undefined;
      case 'add-key':
        return isHostileObject(current) ? Object.fromEntries([...Object.entries(current), [m.key, m.with]]) : Object.fromEntries([[m.key, m.with]]);
      case 'wrap-in-array':
        return [current];
      case 'huge-string':
        return 'x'.repeat(Math.max(0, Math.floor(bodyLimit * m.fraction) - toJsonText(value).length - 16));
    }
  });
  // Deleting the root leaves no body at all: send an empty object instead.
  return result === undefined ? {} : result;
}
