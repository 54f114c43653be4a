import { describe, expect, it, onTestFinished } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../src/state/remove.js';

describe('run: removeTree', () => {
  it('removes a tree with files, empty and mode-0 dirs, and symlinks without following them', () => {
    const base = mkdtempSync(join(tmpdir(), 'bk-remove-'));
    const keep = mkdtempSync(join(tmpdir(), 'bk-keep-'));
    onTestFinished(() => [base, keep].forEach((p) => rmSync(p, { recursive: true, force: true })));
    writeFileSync(join(keep, 'precious'), 'x');
    const d = join(base, 'c');
    mkdirSync(join(d, 'upper', 'etc'), { recursive: true });
    writeFileSync(join(d, 'upper', 'etc', 'hosts'), 'x');
    // overlay leaves work/work with mode 0; only root can read that
    mkdirSync(join(d, 'work', 'work'), { recursive: true, mode: process.getuid?.() === 0 ? 0 : 0o755 });
    mkdirSync(join(d, 'rootfs'));
    symlinkSync(keep, join(d, 'upper', 'link'));
    removeTree(d);
    expect(existsSync(d)).toBe(false);
    expect(existsSync(join(keep, 'precious'))).toBe(true);
    removeTree(d); // gone: fine
    writeFileSync(join(base, 'file'), 'x');
    removeTree(join(base, 'file'));
    expect(existsSync(join(base, 'file'))).toBe(false);
  });
});
