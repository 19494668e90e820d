import { AetherError } from '../common/errors.js';
import { LOGICAL_MAX, WALL_MAX, type Glt } from '../glts/glt.js';

/**
 * Field readers for the JSON forms of etcd records (commits, membership, elections). JSON has no
 * bigint, so GLT walls and epochs travel as decimal strings. Every reader checks type and range and throws a coded INVALID_ARGUMENT
 * naming the field; the codecs catch it and return it as a result, so a bad packet from
 * the network never throws out of a decode.
 */
export class FieldError extends AetherError {
  constructor(path: string, why: string) {
    super('INVALID_ARGUMENT', `${path}: ${why}`, { details: { path } });
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FieldError(path, 'not an object');
  return v as Record<string, unknown>;
}

export function str(v: unknown, path: string, maxLen = 255): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLen) throw new FieldError(path, `not a string of 1..${maxLen} chars`);
  return v;
}

export function int(v: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new FieldError(path, `not an integer in 0..${max}`);
  return v;
}

export function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new FieldError(path, 'not a finite number ≥ 0');
  return v;
}

export function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new FieldError(path, 'not a boolean');
  return v;
}

export function u64(v: unknown, path: string): bigint {
  if (typeof v !== 'string' || !DECIMAL.test(v)) throw new FieldError(path, 'not a decimal string');
  const n = BigInt(v);
  if (n > WALL_MAX) throw new FieldError(path, 'above 2^64-1');
  return n;
}

export function arr(v: unknown, path: string, maxLen: number): unknown[] {
  if (!Array.isArray(v)) throw new FieldError(path, 'not an array');
  if (v.length > maxLen) throw new FieldError(path, `more than ${maxLen} entries`);
  return v;
}

export function strList(v: unknown, path: string, maxLen: number): string[] {
  const list = arr(v, path, maxLen).map((x, i) => str(x, `${path}[${i}]`));
  if (new Set(list).size !== list.length) throw new FieldError(path, 'duplicate entries');
  return list;
}

export function gltToJson(g: Glt): Json {
  return [g.wall.toString(), g.logical];
}

export function gltFromJson(v: unknown, path: string): Glt {
  const a = arr(v, path, 2);
  if (a.length !== 2) throw new FieldError(path, 'a GLT is [wall, logical]');
  return { wall: u64(a[0], `${path}[0]`), logical: int(a[1], `${path}[1]`, LOGICAL_MAX) };
}

/** Runs a decoder over a buffer: the value, or the coded error (never a throw for bad input). */
export function decodeJson<T>(buf: Uint8Array, decode: (v: unknown) => T): { ok: true; value: T } | { ok: false; error: AetherError } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, error: new AetherError('INVALID_ARGUMENT', 'not valid JSON', { cause: err }) };
  }
  try {
    return { ok: true, value: decode(parsed) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: err };
    return { ok: false, error: new AetherError('INVALID_ARGUMENT', 'malformed', { cause: err }) };
  }
}
