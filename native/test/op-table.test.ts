import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OP } from '../src/program.js';

// The opcodes are written twice, as `enum op` in the C trampoline and as OP
// here, and an op added or renumbered on one side only would make the
// trampoline run another step than the one planned (or fail it as ENOSYS).
// Nothing else compares them, so this reads the enum out of the C source.

const source = readFileSync(join(import.meta.dirname, '..', 'c', 'trampoline.c'), 'utf8');

/** `enum op { OP_NAME = N, ... };` of a C source as { NAME: N }, in source order. */
function cEnumOps(c: string): Record<string, number> {
  const body = /\benum op\s*\{([^}]*)\}/.exec(c)?.[1];
  if (body === undefined) throw new Error('trampoline.c: no `enum op { ... }` found');
  const ops: Record<string, number> = {};
  const entries = body.replace(/\/\*[\s\S]*?\*\//g, '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    // an entry without its own number would take the previous one's plus one: refused, so each side spells it out
    const m = /^OP_([A-Z0-9_]+)\s*=\s*(\d+)$/.exec(entry);
    if (!m) throw new Error(`trampoline.c enum op: not of the form OP_NAME = N: '${entry}'`);
    ops[m[1]!] = Number(m[2]);
  }
  return ops;
}

describe('opcodes', () => {
  it('enum op in native/c/trampoline.c and OP in native/src/program.ts name the same ops with the same numbers', () => {
    expect(cEnumOps(source), 'the opcodes differ (- OP in program.ts, + enum op in trampoline.c)').toEqual({ ...OP });
  });
  it('no two ops share a number (a copy-paste on both sides would pass the comparison above)', () => {
    const numbers = Object.values(OP);
    expect(new Set(numbers).size).toBe(numbers.length);
    // 0 is OP_STAGE, the report of a stage that failed before its first step (opName(0) is 'stage')
    expect(numbers).not.toContain(0);
    expect(source).toMatch(/#define OP_STAGE 0\b/);
  });
  it('reads every entry, comments spanning lines included', () => {
    const ops = cEnumOps('enum op {\n  OP_A = 1, /* one,\n two */\n  OP_B = 2 /* last, no comma */\n};');
    expect(ops).toEqual({ A: 1, B: 2 });
    expect(() => cEnumOps('enum op { OP_A = 1, OP_B };')).toThrow(/OP_B/);
  });
});
