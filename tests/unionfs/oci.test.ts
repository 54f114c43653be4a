/**
 * The committed layer is a real OCI layer: umoci stacks it on the lower
 * layers (as tar layers of an image) and unpacks the same tree the union
 * showed. Skips, saying why, when umoci is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, files, mountsUnder, scratch, tree, unionfs } from './helpers.js';

const UMOCI = ['/usr/bin/umoci', '/usr/local/bin/umoci'].find((p) => existsSync(p));
const why = skipReason ?? (UMOCI ? undefined : 'umoci is not installed (apt-get install umoci)');

describe.skipIf(why)(`unionfs commit: an OCI layer umoci reads${why ? ` (skipped: ${why})` : ''}`, () => {
  let d = '';
  beforeAll(() => {
    d = scratch('oci');
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
  });

  it('umoci unpacks base + app + the committed layer into the merged view of the union', async () => {
    files(d, {
      'base/etc/hosts': 'h', 'base/etc/passwd': 'p', 'base/var/cache/a': 'a', 'base/var/cache/sub/b': 'b', 'base/usr/bin/tool': 't',
      'app/etc/app.conf': 'c', 'app/srv/www/index.html': 'i',
    });
    const mnt = join(d, 'mnt');
    expect((await unionfs(['mount', '-l', join(d, 'app'), '-l', join(d, 'base'), '-u', join(d, 'up'), mnt])).exitCode).toBe(0);
    let merged: string[];
    try {
      writeFileSync(join(mnt, 'etc/hosts'), 'changed');
      rmSync(join(mnt, 'etc/passwd'));
      rmSync(join(mnt, 'srv'), { recursive: true });
      rmSync(join(mnt, 'var/cache'), { recursive: true });
      mkdirSync(join(mnt, 'var/cache'));
      writeFileSync(join(mnt, 'var/cache/fresh'), 'f');
      linkSync(join(mnt, 'var/cache/fresh'), join(mnt, 'var/cache/hard'));
      symlinkSync('/usr/bin/tool', join(mnt, 'usr/bin/alias'));
      chownSync(join(mnt, 'var/cache/fresh'), 4321, 8765);
      merged = tree(mnt);
      expect((await unionfs(['commit', mnt, join(d, 'layer.tar')])).exitCode).toBe(0);
    } finally {
      expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    }

    const img = join(d, 'img');
    const u = (...args: string[]) => execFileSync(UMOCI!, args, { cwd: d, stdio: ['ignore', 'pipe', 'pipe'] });
    execFileSync('tar', ['-C', join(d, 'base'), '-cf', join(d, 'base.tar'), '.']);
    execFileSync('tar', ['-C', join(d, 'app'), '-cf', join(d, 'app.tar'), '.']);
    u('init', '--layout', img);
    u('new', '--image', `${img}:empty`);
    u('raw', 'add-layer', '--image', `${img}:empty`, '--tag', 'base', join(d, 'base.tar'));
    u('raw', 'add-layer', '--image', `${img}:base`, '--tag', 'app', join(d, 'app.tar'));
    u('raw', 'add-layer', '--image', `${img}:app`, '--tag', 'committed', join(d, 'layer.tar'));
    u('unpack', '--image', `${img}:committed`, join(d, 'bundle'));
    expect(tree(join(d, 'bundle', 'rootfs'))).toEqual(merged);
  });
});
