import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason } from '../harness/index.js';
import { detachAll, files, mountsUnder, scratch, tree, unionfs } from './helpers.js';
import { getxattr, setxattr } from '../../native/src/index.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;

describe.skipIf(skipReason)(title('unionfs diff and commit (real overlay whiteouts)'), () => {
  let d = '', mnt = '';
  let merged: string[] = [];
  beforeAll(async () => {
    d = scratch('layers');
    mnt = join(d, 'mnt');
    files(d, {
      'base/etc/hosts': '127.0.0.1 localhost\n', 'base/etc/passwd': 'root:x:0:0\n', 'base/bin/sh': 'sh',
      'base/var/cache/a': 'a', 'base/var/cache/sub/b': 'b', 'base/opt/keep': 'k',
      'app/etc/app.conf': 'conf', 'app/srv/index.html': 'hello', 'mnt/': null,
    });
    const r = await unionfs(['mount', '--lower', 'app', '--lower', 'base', '--upper', 'up', 'mnt'], d);
    expect(r.exitCode).toBe(0);
    // the scripted change
    writeFileSync(join(mnt, 'etc/hosts'), '127.0.0.1 localhost box\n'); // C (copy-up)
    rmSync(join(mnt, 'etc/passwd')); // D (whiteout)
    rmSync(join(mnt, 'srv'), { recursive: true }); // D (whole dir, from the app layer)
    rmSync(join(mnt, 'var/cache'), { recursive: true }); // replaced by an opaque dir:
    mkdirSync(join(mnt, 'var/cache'));
    writeFileSync(join(mnt, 'var/cache/fresh'), 'f');
    mkdirSync(join(mnt, 'data/deep'), { recursive: true }); // A, A, A
    writeFileSync(join(mnt, 'data/deep/file'), 'payload');
    linkSync(join(mnt, 'data/deep/file'), join(mnt, 'data/hardlink')); // A, a hard link in the tar
    symlinkSync('../etc/hosts', join(mnt, 'data/hosts-link')); // A, a symlink
    chownSync(join(mnt, 'data/deep/file'), 1234, 567);
    setxattr(join(mnt, 'data/deep/file'), 'user.boxkit', 'layer-xattr');
    merged = tree(mnt);
  });
  afterAll(async () => {
    await unionfs(['umount', mnt]);
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
  });

  const expected = [
    'A /data', 'A /data/deep', 'A /data/deep/file', 'A /data/hardlink', 'A /data/hosts-link',
    'C /etc', 'C /etc/hosts', 'D /etc/passwd', 'D /srv',
    'C /var', 'C /var/cache', 'D /var/cache/a', 'A /var/cache/fresh', 'D /var/cache/sub',
  ].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1));

  it('the upper holds overlay whiteouts: 0/0 char devices and the opaque xattr', () => {
    const wh = lstatSync(join(d, 'up/etc/passwd'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(getxattr(join(d, 'up/var/cache'), 'trusted.overlay.opaque')?.toString()).toBe('y');
  });

  it('diff MNT reports exactly the A/C/D set of the change', async () => {
    const r = await unionfs(['diff', mnt]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(expected);
    const j = JSON.parse((await unionfs(['diff', mnt, '--json'])).stdout);
    expect(j).toMatchObject({ upper: join(d, 'up'), lowers: [join(d, 'app'), join(d, 'base')], mountpoint: mnt });
    expect(j.changes.map((c: { kind: string; path: string }) => `${c.kind} ${c.path}`)).toEqual(expected);
  });

  it('diff UPPER --lower ... gives the same answer', async () => {
    const r = await unionfs(['diff', join(d, 'up'), '--lower', join(d, 'app'), '--lower', join(d, 'base')]);
    expect(r.stdout.split('\n')).toEqual(expected);
  });

  it('commit writes an OCI layer whose entries and whiteouts match the diff, and stacking it reproduces the merged view', async () => {
    const out = join(d, 'layer.tar');
    const r = await unionfs(['commit', mnt, out, '--json']);
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ output: out, whiteouts: 3, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(info.digest).toBe(`sha256:${execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0]}`);

    // GNU tar reads it: entries, owners, hard link, symlink, .wh. whiteouts, xattr
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], { encoding: 'utf8' }).trim().split('\n');
    const names = listing.map((l) => l.replace(/^.* \d\d:\d\d /, '').replace(/ (link to|->) .*$/, ''));
    expect(names.sort()).toEqual([
      'data/', 'data/deep/', 'data/deep/file', 'data/hardlink', 'data/hosts-link',
      'etc/', 'etc/.wh.passwd', 'etc/hosts', '.wh.srv',
      'var/', 'var/cache/', 'var/cache/.wh..wh..opq', 'var/cache/fresh',
    ].sort());
    expect(listing.find((l) => l.endsWith('data/deep/file'))).toMatch(/^-rw-r--r-- 1234\/567 +7 /);
    expect(listing.find((l) => l.includes('data/hardlink'))).toMatch(/^h.* data\/hardlink link to data\/deep\/file$/);
    expect(listing.find((l) => l.includes('hosts-link'))).toMatch(/^l.* data\/hosts-link -> \.\.\/etc\/hosts$/);
    const xl = execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-tvvf', out], { encoding: 'utf8' });
    expect(xl).toMatch(/user\.boxkit/);
    expect(xl).not.toMatch(/trusted\.overlay/);

    // every A/C path of the diff is an entry; every D is a whiteout
    const entrySet = new Set(names.map((n) => `/${n.replace(/\/$/, '')}`));
    for (const line of expected) {
      const [kind, p] = line.split(' ') as [string, string];
      if (kind === 'D') {
        const base = p.slice(p.lastIndexOf('/') + 1);
        const dir = p.slice(0, p.lastIndexOf('/'));
        const covered = entrySet.has(`${dir}/.wh.${base}`) || entrySet.has(`${dir}/.wh..wh..opq`);
        expect(covered, `${line} has a whiteout`).toBe(true);
      } else expect(entrySet.has(p), `${line} is in the tar`).toBe(true);
    }

    // stack the layer over the original lowers: the same merged view
    expect((await unionfs(['umount', mnt])).exitCode).toBe(0);
    const stacked = join(d, 'stacked');
    const m = await unionfs(['mount', '--lower-tar', out, '--lower', join(d, 'app'), '--lower', join(d, 'base'), stacked, '--json']);
    expect(m.exitCode).toBe(0);
    const layerDir = JSON.parse(m.stdout).lowers[0] as string;
    expect(layerDir.startsWith(join(process.env.BOXKIT_DATA_DIR!, 'unionfs', 'layers'))).toBe(true);
    try {
      expect(tree(stacked)).toEqual(merged);
      expect(getxattr(join(stacked, 'data/deep/file'), 'user.boxkit')?.toString()).toBe('layer-xattr');
      // the hard link survived the round trip: one inode, two names
      expect(statSync(join(stacked, 'data/hardlink')).ino).toBe(statSync(join(stacked, 'data/deep/file')).ino);
      expect(lstatSync(join(layerDir, 'data/hardlink')).nlink).toBe(2);
    } finally {
      expect((await unionfs(['umount', stacked])).exitCode).toBe(0);
    }
    // and the extracted layer is reused, not extracted again
    const again = await unionfs(['mount', '--lower-tar', out, '--lower', join(d, 'app'), '--lower', join(d, 'base'), stacked, '--dry-run']);
    expect(again.stdout).not.toMatch(/unionfs extract/);
    // remount the original for afterAll
    expect((await unionfs(['mount', '--lower', join(d, 'app'), '--lower', join(d, 'base'), '--upper', join(d, 'up'), mnt])).exitCode).toBe(0);
    expect(existsSync(join(mnt, 'var/cache/fresh'))).toBe(true);
    expect(readFileSync(join(mnt, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost box\n');
  });

  it('--lower-tar also stacks a layer made by GNU tar: .wh. files hide lower entries, .wh..wh..opq hides a lower dir', async () => {
    const src = join(d, 'gnu-layer');
    files(src, { 'etc/hosts': 'from the gnu layer\n', 'etc/.wh.passwd': '', 'var/cache/.wh..wh..opq': '', 'var/cache/only': 'o', [`long/${'n'.repeat(120)}/file`]: 'long' });
    const tar = join(d, 'gnu-layer.tar');
    execFileSync('tar', ['-C', src, '-cf', tar, '.']);
    const m2 = join(d, 'gnu-mnt');
    const r = await unionfs(['mount', '--lower-tar', tar, '--lower', join(d, 'base'), m2]);
    expect(r.exitCode).toBe(0);
    try {
      expect(readFileSync(join(m2, 'etc/hosts'), 'utf8')).toBe('from the gnu layer\n');
      expect(existsSync(join(m2, 'etc/passwd'))).toBe(false);
      expect(existsSync(join(d, 'base/etc/passwd'))).toBe(true);
      expect(readdirSync(join(m2, 'var/cache'))).toEqual(['only']);
      expect(readFileSync(join(m2, `long/${'n'.repeat(120)}/file`), 'utf8')).toBe('long');
      expect(readFileSync(join(m2, 'bin/sh'), 'utf8')).toBe('sh');
    } finally {
      expect((await unionfs(['umount', m2])).exitCode).toBe(0);
    }
  });

  it('commit + extract keep setuid bits and security.capability (chown before xattrs and chmod)', async () => {
    const up = join(d, 'caps-upper');
    files(up, { 'bin/ping': 'binary' });
    const ping = join(up, 'bin/ping');
    chownSync(ping, 0, 0);
    chmodSync(ping, 0o4755);
    // vfs_cap_data v2, effective, CAP_NET_RAW (13) permitted
    const cap = Buffer.alloc(20);
    cap.writeUInt32LE(0x02000001, 0);
    cap.writeUInt32LE(1 << 13, 4);
    setxattr(ping, 'security.capability', cap);
    const tar = join(d, 'caps.tar');
    expect((await unionfs(['commit', up, tar])).exitCode).toBe(0);
    const out = join(d, 'caps-layer');
    const r = await unionfs(['extract', tar, out]);
    expect(r.exitCode).toBe(0);
    expect(statSync(join(out, 'bin/ping')).mode & 0o7777).toBe(0o4755);
    expect(getxattr(join(out, 'bin/ping'), 'security.capability')).toEqual(cap);
  });
});
