/**
 * svcproxy's in-process iptables-legacy restore against the real one: the
 * same text must leave the kernel with the same table, byte for byte (the
 * blob IPT_SO_GET_ENTRIES returns), and keep everything else's rules and
 * counters as iptables-legacy-restore --noflush does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason, bk } from '../harness/index.js';
import { iptClose, iptEntries, iptInfo, iptOpen } from '@boxkit/native';
import { applyText, Declined, InProcessRestore } from '../../packages/svcproxy/src/legacy/restore.js';
import { RestoreRun } from '../../packages/svcproxy/src/backend.js';

const title = `svcproxy's in-process legacy restore (root, sandbox${skipReason ? `: skipped, ${skipReason}` : ''})`;

/** A table's blob as the kernel hands it out, with what the kernel counts zeroed. */
function blob(table: string): Buffer {
  const fd = iptOpen();
  try {
    const info = iptInfo(fd, table);
    const b = Buffer.from(iptEntries(fd, table, info.size));
    for (let off = 0; off < b.length; off += b.readUInt16LE(off + 90)) b.fill(0, off + 96, off + 112);
    return Buffer.concat([b, Buffer.from(JSON.stringify([info.hookEntry, info.underflow, info.numEntries]))]);
  } finally {
    iptClose(fd);
  }
}

const save = (counters = false) =>
  ['nat', 'filter'].map((t) => execFileSync('iptables-legacy-save', [...(counters ? ['-c'] : []), '-t', t], { encoding: 'utf8' }).replace(/^#.*\n/gm, '')).join('');
const realRestore = (text: string) => execFileSync('iptables-legacy-restore', ['-w', '10', '--noflush'], { input: text });
const ipt = (...args: string[]) => execFileSync('iptables-legacy', args);

/** Remove every rule and user chain of both tables (the sandbox's tables are the tests' own). */
function clean(): void {
  for (const t of ['nat', 'filter']) {
    ipt('-t', t, '-F');
    ipt('-t', t, '-X');
    ipt('-t', t, '-Z');
  }
}

const SAMPLE = `*nat
:BKT-A - [0:0]
:BKT-B - [0:0]
:BKT-C - [0:0]
:BKT-P - [0:0]
-A BKT-C -j MARK --set-xmark 0x2000/0x2000
-A BKT-B -s 10.10.0.2/32 -m comment --comment ns0/svc-0 -j BKT-C
-A BKT-B -p tcp -m comment --comment ns0/svc-0 -m tcp -j DNAT --to-destination 10.10.0.2:8080
-A BKT-B -p udp -m comment --comment "ns0/svc-0 -> x" -m recent --set --name BKT-B --mask 255.255.255.255 --rsource -m udp -j DNAT --to-destination 10.10.0.2:53
-A BKT-A -m comment --comment "a b" -m recent --rcheck --seconds 10800 --reap --name BKT-B --mask 255.255.255.255 --rsource -j BKT-B
-A BKT-A -m comment --comment "a b" -m statistic --mode random --probability 0.33333333349 -j BKT-B
-A BKT-P -m mark ! --mark 0x2000/0x2000 -j RETURN
-A BKT-P -j MARK --set-xmark 0x2000/0x0
-A BKT-P -m comment --comment "x y" -j MASQUERADE --random-fully
-A BKT-A -d 198.18.0.1/32 -p tcp -m comment --comment "a cluster IP" -m tcp --dport 80 -j BKT-B
-A BKT-A ! -d 127.0.0.0/8 -m comment --comment "node ports; must be the last rule" -m addrtype --dst-type LOCAL -j BKT-B
-A BKT-A -d 198.18.0.0/24 -m comment --comment "VIPs in 198.18.0.0/24" -j BKT-B
-A BKT-A -p udp -m udp --dport 53
-I PREROUTING 1 -m comment --comment "boxkit service portals" -j BKT-A
-I OUTPUT 1 -m comment --comment "boxkit service portals" -j BKT-A
-I POSTROUTING 1 -m comment --comment "boxkit service masquerade" -j BKT-P
COMMIT
*filter
:BKT-S - [0:0]
-A BKT-S -d 198.18.0.1/32 -p tcp -m comment --comment "x has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
-A BKT-S ! -d 127.0.0.0/8 -p udp -m comment --comment "x has no endpoints" -m addrtype --dst-type LOCAL -m udp --dport 30001 -j REJECT --reject-with icmp-port-unreachable
-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "boxkit service portals" -j BKT-S
-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "boxkit service portals" -j BKT-S
COMMIT
`;

/** Apply `text` both ways from the same start (`setup`), and expect the same tables. */
async function sameAsReal(text: string, setup: () => void = () => {}): Promise<void> {
  clean();
  setup();
  realRestore(text);
  const want = { nat: blob('nat'), filter: blob('filter'), save: save(true) };
  clean();
  setup();
  await applyText(text, () => {});
  expect(save(true)).toBe(want.save);
  for (const t of ['nat', 'filter'] as const) {
    const got = blob(t);
    const at = got.findIndex((x, i) => x !== want[t][i]);
    expect(at, `${t}: first difference at byte ${at}: ${got.subarray(at - 8, at + 24).toString('hex')} vs ${want[t].subarray(at - 8, at + 24).toString('hex')}`).toBe(-1);
  }
}

/** Run `fn` with XTABLES_LOCKFILE naming a fresh lock file (iptables-legacy and the restore in this process both use it). */
async function withLockFile(fn: (lock: string, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'xtlock-'));
  const was = process.env.XTABLES_LOCKFILE;
  process.env.XTABLES_LOCKFILE = join(dir, 'xtables.lock');
  try {
    await fn(process.env.XTABLES_LOCKFILE, dir);
  } finally {
    if (was === undefined) delete process.env.XTABLES_LOCKFILE;
    else process.env.XTABLES_LOCKFILE = was;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** flock(1) holding `lock` for `seconds`, as another iptables-legacy would (held once this resolves); stop() ends it. */
async function holdLock(lock: string, seconds: number): Promise<{ stop(): Promise<void> }> {
  const holder = spawn('flock', [lock, 'sleep', String(seconds)], { stdio: 'ignore' });
  const ended = new Promise((r) => holder.once('exit', r));
  await new Promise((r) => setTimeout(r, 200));
  return {
    async stop() {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill();
      await ended;
    },
  };
}

/** Is `lock` free (flock -n takes it)? */
const lockFree = (lock: string) => spawnSync('flock', ['-n', lock, 'true']).status === 0;

describe.skipIf(skipReason)(title, () => {
  afterEach(clean);

  it('makes the same tables as iptables-legacy-restore from the same text, byte for byte', async () => {
    await sameAsReal(SAMPLE);
  });

  it('makes the same tables for a 300-service render of svcproxy, with affinity, node ports and services without endpoints', async () => {
    const services = Array.from({ length: 300 }, (_, i) => ({
      name: `ns${i % 7}/svc-${i}`,
      protocol: i % 5 === 0 ? 'udp' : 'tcp',
      vip: `10.96.${i >> 8}.${i & 255}:${80 + (i % 3)}`,
      ...(i % 4 === 0 ? { nodePort: 30000 + i } : {}),
      ...(i % 6 === 0 ? { affinity: 'clientip:600' } : {}),
      endpoints: i % 9 === 0 ? [] : Array.from({ length: 1 + (i % 5) }, (_, j) => `10.10.${i >> 4}.${(i & 15) * 16 + j + 1}:8080`),
    }));
    const r = await bk('svcproxy', ['apply', '--dry-run', '--backend', 'legacy', '-'], { input: JSON.stringify({ services }) });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/-m recent --rcheck/);
    await sameAsReal(`${String(r.stdout)}\n`); // (execa strips the last newline)
  });

  it('keeps other chains, their rules and every counter, flushes and deletes as --noflush does', async () => {
    const others = () => {
      ipt('-t', 'nat', '-N', 'OTHER');
      ipt('-t', 'nat', '-A', 'OTHER', '-s', '10.1.0.0/16', '-j', 'RETURN', '-c', '7', '700');
      ipt('-t', 'nat', '-A', 'PREROUTING', '-i', 'lo', '-j', 'OTHER', '-c', '3', '300');
      ipt('-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'MASQUERADE', '-c', '5', '500');
      ipt('-A', 'INPUT', '-p', 'icmp', '-j', 'ACCEPT', '-c', '9', '900');
      realRestore(SAMPLE);
      ipt('-t', 'nat', '-Z', 'BKT-A'); // (counters the real restore would keep on the chains the next text leaves alone)
      // a policy's counters (last: every commit starts them at 0, as the swap does)
      execFileSync('iptables-legacy-restore', ['-c', '--noflush'], { input: '*nat\n:PREROUTING ACCEPT [11:1100]\nCOMMIT\n' });
      expect(save(true)).toMatch(/^:PREROUTING ACCEPT \[11:1100\]$/m);
    };
    // a second text that flushes one chain, removes another, and takes a hook out
    const next = `*nat
-D OUTPUT -m comment --comment "boxkit service portals" -j BKT-A
:BKT-C - [0:0]
-A BKT-C -j MARK --set-xmark 0x4000/0x4000
:BKT-B - [0:0]
-A BKT-B -j RETURN
-D PREROUTING -m comment --comment "boxkit service portals" -j BKT-A
:BKT-A - [0:0]
-X BKT-A
COMMIT
`;
    await sameAsReal(next, others);
    const withCounters = save(true);
    expect(withCounters).toMatch(/^\[7:700\] -A OTHER -s 10\.1\.0\.0\/16 -j RETURN$/m);
    expect(withCounters).toMatch(/^\[3:300\] -A PREROUTING -i lo -j OTHER$/m);
    expect(withCounters).toMatch(/^\[9:900\] -A INPUT -p icmp -j ACCEPT$/m);
    expect(withCounters).not.toMatch(/BKT-A/);
  });

  it('declines what it does not model before changing anything', async () => {
    clean();
    realRestore(SAMPLE);
    const before = save(true);
    for (const text of [
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -i lo -j RETURN\nCOMMIT\n', // an option svcproxy never writes
      '*nat\n-D PREROUTING -j BKT-C\nCOMMIT\n', // no such rule
      '*nat\n-X BKT-B\nCOMMIT\n', // still jumped to
      '*nat\n:BKT-X - [0:0]\nCOMMIT\n*raw\nCOMMIT\n', // a table it does not model, after one it does
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -j NOSUCH\nCOMMIT\n', // a jump to nothing
      '*nat\n:BKT-X - [0:0]\nCOMMIT\n*nat\n:BKT-Y - [0:0]\nCOMMIT\n', // a table twice: both would be edited from the same read
      `*nat\n:BKT-X - [0:0]\n-A BKT-X${' -m comment --comment "'.concat('c'.repeat(255), '"').repeat(16)} -j RETURN\nCOMMIT\n`, // 4.7 KB: more than an entry may take
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -s 010.0.0.1/32 -j RETURN\nCOMMIT\n', // iptables reads 010 as octal
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -p tcp -m tcp --dport 080 -j RETURN\nCOMMIT\n',
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -p tcp -m tcp --dport 90:80 -j RETURN\nCOMMIT\n', // iptables refuses these
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -s 10.0.0.1/32 -s 10.0.0.2/32 -j RETURN\nCOMMIT\n',
      '*nat\n:BKT-X - [0:0]\n-A BKT-X -p tcp -m tcp --dport 80 --dport 81 -j RETURN\nCOMMIT\n',
      '*nat\n:ACCEPT - [0:0]\nCOMMIT\n',
      '*nat\n:BKT-X - [0:0]\nCOMMIT', // no newline after COMMIT
    ]) {
      await expect(applyText(text, () => {}), text).rejects.toThrow(Declined);
      expect(save(true)).toBe(before);
    }
  });

  it('a table the kernel refuses after another was swapped in: the error is the kernel\'s, and nothing is handed on', async () => {
    clean();
    // nat is fine; filter's two chains jump to each other, which only the kernel checks (ELOOP)
    const text = `*nat
:BKT-OK - [0:0]
-A BKT-OK -j RETURN
COMMIT
*filter
:BKT-L1 - [0:0]
:BKT-L2 - [0:0]
-A BKT-L1 -j BKT-L2
-A BKT-L2 -j BKT-L1
-I INPUT 1 -j BKT-L1
COMMIT
`;
    let swapped = false;
    await expect(applyText(text, () => (swapped = true))).rejects.toThrow(/IPT_SO_SET_REPLACE filter/);
    expect(swapped).toBe(true);
    // nat went in (iptables-legacy-restore commits table by table too), filter is as it was
    expect(save()).toMatch(/^:BKT-OK/m);
    expect(save()).not.toMatch(/BKT-L1/);
    let handedOn = false;
    const r = new InProcessRestore(() => {
      handedOn = true;
      throw new Error('not expected');
    });
    await r.write(text);
    await expect(r.finish()).rejects.toThrow(/^iptables-legacy-restore --noflush \(in this process: IPT_SO_SET_REPLACE\): IPT_SO_SET_REPLACE filter: /);
    expect(handedOn).toBe(false);
  });

  it('svcproxy hands what it does not model to iptables-legacy-restore: a stray hook of its chain, with -i, is removed', async () => {
    clean();
    const doc = join(process.env.BOXKIT_TEST_ROOT!, 'inproc-svc.json');
    writeFileSync(doc, JSON.stringify({ services: [{ name: 'web', vip: '10.97.0.1:80', endpoints: ['10.10.0.2:8080'] }] }));
    try {
      const first = await bk('svcproxy', ['apply', '-v', '--backend', 'legacy', doc]);
      expect(first.exitCode, String(first.stderr)).toBe(0);
      expect(String(first.stderr)).toMatch(/^\+ iptables-legacy-restore --noflush <<EOF .*\(in this process: IPT_SO_SET_REPLACE\)$/m);
      expect(String(first.stderr)).not.toMatch(/not applied in this process/);
      ipt('-t', 'nat', '-A', 'PREROUTING', '-i', 'lo', '-j', 'BKSVC-SERVICES');
      const again = await bk('svcproxy', ['apply', '-v', '--backend', 'legacy', doc]);
      expect(again.exitCode, String(again.stderr)).toBe(0);
      expect(String(again.stderr)).toMatch(/^\+ # not applied in this process \(nat: option -i\): iptables-legacy-restore --noflush$/m);
      expect(save()).not.toMatch(/-i lo/);
      expect(save()).toMatch(/^-A PREROUTING -m comment --comment "boxkit service portals" -j BKSVC-SERVICES$/m);
    } finally {
      await bk('svcproxy', ['flush', '--backend', 'legacy']);
    }
  });


  it('a first table the kernel refuses is handed to iptables-legacy-restore, which says why in its own words', async () => {
    clean();
    // recent with no action passes iptblob.c (it does not check what only the kernel and iptables check); the kernel refuses it
    const text = '*nat\n:BKT-R - [0:0]\n-A BKT-R -m recent -j RETURN\nCOMMIT\n';
    const traced: string[] = [];
    const r = new InProcessRestore(() => new RestoreRun('legacy'), (l) => traced.push(l));
    await r.write(text);
    await expect(r.finish()).rejects.toThrow(/^iptables-legacy-restore -w 10 --noflush: .*recent/);
    expect(traced).toEqual([expect.stringMatching(/^# not applied in this process \(nat: IPT_SO_SET_REPLACE nat: Invalid argument\): iptables-legacy-restore --noflush$/)]);
    expect(save()).not.toMatch(/BKT-R/);
  });


  it('waits for the xtables lock as iptables -w does (XTABLES_LOCKFILE)', async () => {
    clean();
    await withLockFile(async (lock) => {
      const holder = await holdLock(lock, 1);
      const t0 = Date.now();
      try {
        await applyText(SAMPLE, () => {});
      } finally {
        await holder.stop();
      }
      expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
      expect(save()).toMatch(/^:BKT-A/m);
    });
  });

  it('an aborted restore applies nothing, even if finished, and lets go of the xtables lock it took at openNat', async () => {
    clean();
    await withLockFile(async (lock) => {
      const r = new InProcessRestore(() => new RestoreRun('legacy'));
      r.openNat();
      expect(lockFree(lock)).toBe(false);
      await r.write(SAMPLE.slice('*nat\n'.length));
      await r.abort();
      expect(lockFree(lock)).toBe(true);
      expect(r.exited).toBe(true);
      await expect(r.finish()).rejects.toThrow(/aborted/);
      expect(save()).not.toMatch(/BKT-/);
    });
  });

  it('a lock held 10 s fails the restore, as iptables -w 10 would, without handing it on to wait 10 s more', async () => {
    clean();
    await withLockFile(async (lock) => {
      const holder = await holdLock(lock, 15);
      try {
        let handedOn = false;
        const r = new InProcessRestore(() => {
          handedOn = true;
          return new RestoreRun('legacy');
        });
        await r.write(SAMPLE);
        const t0 = Date.now();
        await expect(r.finish()).rejects.toThrow(/another program has held the xtables lock .* for 10 s$/);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(9_500);
        expect(Date.now() - t0).toBeLessThan(13_000);
        expect(handedOn).toBe(false);
        expect(save()).not.toMatch(/BKT-/);
      } finally {
        await holder.stop();
      }
    });
  });

  it('holds the xtables lock and nat as read from the nat section\'s opening (openNat) to the end, as iptables-legacy-restore does; a lock held elsewhere then leaves both to finish()', async () => {
    clean();
    await withLockFile(async (lock, dir) => {
      const body = SAMPLE.slice('*nat\n'.length);
      const traced: string[] = [];
      const r = new InProcessRestore(() => new RestoreRun('legacy'), (l) => traced.push(l));
      r.openNat();
      expect(lockFree(lock)).toBe(false);
      // nat was read at openNat: a chain made since then without the lock (another lock file, as by a program that
      // ignores it) makes the swap fail with EAGAIN, which is handed on to iptables-legacy-restore
      execFileSync('iptables-legacy', ['-t', 'nat', '-N', 'BKT-OTHER'], { env: { ...process.env, XTABLES_LOCKFILE: join(dir, 'other.lock') } });
      await r.write(body);
      await r.finish();
      expect(lockFree(lock)).toBe(true);
      expect(save()).toMatch(/^:BKT-A/m);
      expect(save()).toMatch(/^:BKT-OTHER/m);
      expect(traced).toEqual([expect.stringMatching(/^# not applied in this process \(nat: IPT_SO_SET_REPLACE nat: Resource temporarily unavailable\)/)]);
      clean();
      const holder = await holdLock(lock, 1);
      try {
        const r2 = new InProcessRestore(() => new RestoreRun('legacy'));
        r2.openNat();
        await r2.write(body);
        const t0 = Date.now();
        await r2.finish();
        expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
        expect(save()).toMatch(/^:BKT-A/m);
      } finally {
        await holder.stop();
      }
    });
  });
});
