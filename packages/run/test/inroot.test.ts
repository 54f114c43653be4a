import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot, writeInRoot } from '../src/container/inroot.js';

describe('paths inside a container root', () => {
  const root = mkdtempSync(join(tmpdir(), 'inroot-'));
  const host = mkdtempSync(join(tmpdir(), 'inroot-host-'));
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(host, { recursive: true, force: true });
  });
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'usr', 'etc'), { recursive: true });
  writeFileSync(join(root, 'usr', 'etc', 'passwd'), 'x');
  symlinkSync('/usr/etc/passwd', join(root, 'etc', 'passwd'));
  symlinkSync('../../../../../../usr/etc/passwd', join(root, 'etc', 'climb'));
  symlinkSync('/', join(root, 'etc', 'slash'));
  symlinkSync('loop', join(root, 'etc', 'loop'));

  it('resolves absolute and climbing symlinks with the root as /', () => {
    expect(resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'usr', 'etc', 'passwd'));
    expect(resolveInRoot(root, 'etc/climb')).toBe(join(root, 'usr', 'etc', 'passwd'));
    expect(resolveInRoot(root, '/etc/slash/etc/slash/usr/../etc')).toBe(join(root, 'etc'));
    expect(resolveInRoot(root, '/../../etc')).toBe(join(root, 'etc'));
  });

  it('missing paths and loops are undefined', () => {
    expect(resolveInRoot(root, '/etc/nothing')).toBeUndefined();
    expect(resolveInRoot(root, '/etc/loop')).toBeUndefined();
  });

  it('writeInRoot replaces a symlink instead of following it', () => {
    const outside = join(host, 'f');
    writeFileSync(outside, 'host');
    symlinkSync(outside, join(root, 'etc', 'hosts'));
    expect(writeInRoot(root, '/etc', 'hosts', 'a\n')).toBe(true);
    expect(writeInRoot(root, '/etc', 'hosts', 'b\n', true)).toBe(true);
    expect(readFileSync(join(root, 'etc', 'hosts'), 'utf8')).toBe('a\nb\n');
    expect(readFileSync(outside, 'utf8')).toBe('host');
    expect(writeInRoot(root, '/nope', 'hosts', 'x')).toBe(false);
  });
});
