import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWrite, readJson } from '../src/state.js';

describe('atomicWrite', () => {
  it('a write that fails leaves no temp file behind (state dirs are scanned and /run is small)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-atomic-'));
    try {
      // the rename cannot replace a non-empty directory: the write fails after the temp file was made
      mkdirSync(join(dir, 'x.json', 'inside'), { recursive: true });
      expect(() => atomicWrite(join(dir, 'x.json'), '{}')).toThrow();
      expect(readdirSync(dir)).toEqual(['x.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readJson', () => {
  it('names the file that is not JSON; a missing one is undefined', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-readjson-'));
    try {
      writeFileSync(join(dir, 'bad.json'), '{"a":');
      expect(() => readJson(join(dir, 'bad.json'))).toThrow(`${join(dir, 'bad.json')}: not valid JSON (`);
      expect(readJson(join(dir, 'none.json'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
