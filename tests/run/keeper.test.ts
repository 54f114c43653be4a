/**
 * The keeper of a `run -d` container (see packages/run/src/container/keeper.ts)
 * as its caller sees it: it lives as long as the container, so it must hold
 * nothing of the caller's, and `run -d`'s answer must say what is true even
 * when the keeper is killed before it reports.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { binPath, bk, skipReason } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

const made: string[] = [];
const stateFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;
const record = (n: string) => JSON.parse(readFileSync(stateFile(n), 'utf8'));

/** The fds of `pid` that an exec would keep (no O_CLOEXEC in /proc/PID/fdinfo), with what they are. */
function keptOpen(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fdinfo`).filter((fd) => {
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!;
    return (parseInt(flags, 8) & 0o2000000) === 0;
  }).map((fd) => `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
}

describe.skipIf(skipReason)(`run -d's keeper${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
  });

  it("holds none of its caller's open files: x=$(run -d ...) returns at once even when the shell passes the pipe on as fd 30", async () => {
    const n = name('fds');
    made.push(n);
    // a pipe the caller reads to its end, passed on to run -d as a shell (or make's jobserver, or a
    // CI runner) passes its fds on: command substitution returns only when every writer closed it
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const script = `x=$(${binPath('run')} -d --name ${n} ${BASE.join(' ')} -- sleep 600 30>&1); echo "$x"`;
    const sh = spawn('bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => sh.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((r) => sh.on('exit', (c) => r(c)));
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^[0-9a-f]{12}$/);
    const rec = record(n);
    expect(rec.status).toBe('running');
    // the keeper keeps its own stdio (/dev/null, run -d's socket) and Node's fds (all close-on-exec)
    const held = keptOpen(rec.creatorPid).filter((l) => !/^[0-2] -> /.test(l));
    expect(held).toEqual([]);
  }, 60_000);

  it("killed before it reports, the keeper leaves run -d's answer true: 0 and the id for a container that runs, 125 for one that did not start, and then nothing of it", async () => {
    const seen: string[] = [];
    // killed at the first sight of its record ('creating': mid-setup, the network's setup makes
    // that long) or of 'running' (started, its report not yet written): both, twice
    for (const [i, at] of [[1, 'creating'], [2, 'running'], [3, 'creating'], [4, 'running']] as const) {
      const n = name(`lost${i}`);
      made.push(n);
      const started = bk('run', ['-d', '--name', n, ...BASE, ...(at === 'creating' ? ['--net', 'bridge'] : []), '--', 'sleep', '600']);
      // a tight look (no timers): the window between 'running' and the report is a few ms
      let rec: { id: string; status: string; creatorPid: number; cgroup?: { dirs: { path: string }[] } } | undefined;
      for (const end = Date.now() + 20_000; Date.now() < end;) {
        try {
          rec = JSON.parse(readFileSync(stateFile(n), 'utf8'));
        } catch {
          continue;
        }
        if (at === 'creating' || rec!.status !== 'creating') break;
      }
      expect(rec, `${n}'s record`).toBeDefined();
      process.kill(rec!.creatorPid, 'SIGKILL');
      const r = await started;
      seen.push(`${rec!.status}: ${r.exitCode}`);
      if (r.exitCode === 0) {
        // it started: run -d says so, and ps, stop and rm see it
        expect(String(r.stdout).trim()).toBe(rec!.id);
        expect(record(n)).toMatchObject({ id: rec!.id, status: 'running' });
        continue;
      }
      expect([r.exitCode, String(r.stderr)]).toEqual([125, expect.stringMatching(/^run: /)]);
      // it did not: nothing half-made stays (no gc needed)
      expect(existsSync(stateFile(n))).toBe(false);
      expect(existsSync(`${process.env.BOXKIT_DATA_DIR}/containers/${rec!.id}`)).toBe(false);
      for (const d of rec!.cgroup?.dirs ?? []) expect(existsSync(d.path), d.path).toBe(false);
    }
    console.log(`keeper killed at (status seen: run -d's exit code): ${seen.join(', ')}`);
  }, 120_000);
});
