import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTail, tailStart } from '../src/commands/logs.js';

describe('logs --tail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-logs-'));
  const tail = (text: string, n: number) => {
    const f = join(dir, 'log');
    writeFileSync(f, text);
    return readFileSync(f, 'utf8').slice(tailStart(f, n));
  };
  it('starts at the last N lines; a last line without its newline counts', () => {
    expect(tail('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(tail('a\nb\nc', 1)).toBe('c');
    expect(tail('a\nb\nc', 2)).toBe('b\nc');
    expect(tail('a\n\nc\n', 2)).toBe('\nc\n');
    expect(tail('a\nb\n', 5)).toBe('a\nb\n');
    expect(tail('a\nb\n', 0)).toBe('');
    expect(tail('', 3)).toBe('');
  });
  it('reads back across blocks', () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i}`);
    expect(tail(`${lines.join('\n')}\n`, 3)).toBe('line 99997\nline 99998\nline 99999\n');
    expect(tail(`${lines.join('\n')}\n`, 20_000).split('\n')[0]).toBe('line 80000');
    rmSync(dir, { recursive: true, force: true });
  });
  it('takes a number or all', () => {
    expect(parseTail(undefined)).toBeUndefined();
    expect(parseTail('all')).toBeUndefined();
    expect(parseTail('20')).toBe(20);
    expect(() => parseTail('-1')).toThrow(expect.objectContaining({ exitCode: 2, message: "invalid --tail '-1'" }));
    expect(() => parseTail('x')).toThrow(/invalid --tail 'x'/);
  });
});
