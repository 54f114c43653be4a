import { describe, expect, it, onTestFinished } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// bk-keeper (native/c/keeper.c, built by npm run build) waits for its child PID, then writes
// "TAG STATUS" to EXIT and runs PROGRAM ARGS... STATUS, unless the file RECORD is gone by then. Here a shell starts the
// child and execs bk-keeper, as run -d's Node keeper does: the same process, the child's parent.
const keeper = join(import.meta.dirname, '..', 'dist', 'bk-keeper');

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bk-keeper-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lock'), '');
  writeFileSync(join(dir, 'record'), '{}');
  return dir;
}

/** bash: start `child` in the background, then become bk-keeper for it (argv[0] the title); PROGRAM writes its arguments, signals and fds to dir/out. */
function keep(dir: string, child: string, title = 'run keeper t'): string {
  writeFileSync(join(dir, 'program'), `echo "$@" > ${dir}/out; grep -E '^Sig(Ign|Blk)' /proc/self/status >> ${dir}/out; ls /proc/self/fd | tr '\\n' ' ' >> ${dir}/out\n`);
  // (SIGPIPE ignored before the exec, as a Node keeper leaves it, and fd 3 open without close-on-exec: bk-keeper undoes both)
  return `trap '' PIPE; ${child} & exec -a '${title}' ${keeper} $! ${dir}/lock ${dir}/record ${dir}/exit tag /bin/sh ${dir}/program finish name id 3<${dir}/lock`;
}

describe('bk-keeper', () => {
  it('runs PROGRAM with its child\'s status (the code, or 128+N for signal N), with default signals and only fds 0-2', () => {
    const dir = scratch();
    execFileSync('bash', ['-c', keep(dir, 'sh -c "sleep 0.2; exit 7"')]);
    const out = readFileSync(join(dir, 'out'), 'utf8').split('\n');
    expect(out[0]).toBe('finish name id 7');
    // the status is on disk before PROGRAM starts (written aside, then renamed: nothing else left)
    expect(readFileSync(join(dir, 'exit'), 'utf8')).toBe('tag 7\n');
    expect(readdirSync(dir).sort()).toEqual(['exit', 'lock', 'out', 'program', 'record']);
    expect(out.slice(1, 3).sort()).toEqual(['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
    // ls itself opens one directory fd (3); the fd 3 the shell passed (no close-on-exec) is not the program's
    expect(out[3]!.trim().split(' ')).toEqual(['0', '1', '2', '3']);
    execFileSync('bash', ['-c', keep(dir, 'sh -c "sleep 0.2; kill -USR1 \\$\\$"')]);
    expect(readFileSync(join(dir, 'out'), 'utf8').split('\n')[0]).toBe('finish name id 138');
  });

  it('says - when PID is no child of its own, and does not run PROGRAM once the record is gone', () => {
    const dir = scratch();
    execFileSync('bash', ['-c', `exec -a t ${keeper} 1 ${dir}/lock ${dir}/record ${dir}/exit tag /bin/sh -c 'echo "$@" > ${dir}/out' sh x`]);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('x -\n');
    // no status, no exit file
    expect(() => readFileSync(join(dir, 'exit'))).toThrow(/ENOENT/);
    rmSync(join(dir, 'out'));
    rmSync(join(dir, 'record'));
    execFileSync('bash', ['-c', keep(dir, 'true')]);
    expect(() => readFileSync(join(dir, 'out'))).toThrow(/ENOENT/);
    expect(() => readFileSync(join(dir, 'exit'))).toThrow(/ENOENT/);
  });

  it('leaves the status in EXIT when PROGRAM cannot be started (exit 127)', () => {
    const dir = scratch();
    // (the child outlives bash's exec: one that ended before it was reaped by bash, and bk-keeper got no status)
    const r = spawnSync('bash', ['-c', `sh -c 'sleep 0.2; exit 7' & exec -a t ${keeper} $! ${dir}/lock ${dir}/record ${dir}/exit tag ${dir}/missing finish name id`]);
    expect(r.status).toBe(127);
    expect(readFileSync(join(dir, 'exit'), 'utf8')).toBe('tag 7\n');
  });

  it('is its TITLE in ps (cmdline and comm) while it waits, and refuses a bad command line', async () => {
    const dir = scratch();
    const sh = spawn('bash', ['-c', keep(dir, 'sleep 5', 'run keeper a-long-name')], { stdio: 'ignore' });
    onTestFinished(() => {
      sh.kill('SIGKILL');
    });
    // the exec shows the title as argv[0] at once; the keeper then zeroes its other arguments
    // and sets comm last (retitle): wait for comm, then both are final
    let comm = '';
    for (let i = 0; i < 200 && comm !== 'run keeper a-lo\n'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      comm = readFileSync(`/proc/${sh.pid}/comm`, 'utf8');
    }
    expect(comm).toBe('run keeper a-lo\n');
    expect(readFileSync(`/proc/${sh.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual(['run keeper a-long-name']);
    const bad = spawnSync(keeper, ['x', 'l', 'r', 'e', 't', '/bin/true', 'a'], { encoding: 'utf8', argv0: 't' });
    const r = { status: bad.status, stderr: bad.stderr };
    expect(r).toEqual({ status: 2, stderr: 'bk-keeper: PID must be a process id\n' });
  });
});
