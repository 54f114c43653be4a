import { describe, expect, it, onTestFinished } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// bk-keeper (native/c/keeper.c, built by npm run build) waits for its child PID, then writes
// "TAG STATUS" to EXIT, takes the FINISH lock and runs PROGRAM ARGS... STATUS FD, unless the file
// RECORD is gone by then (or EXIT is no longer its own once it holds the lock). Here a shell starts
// the child and execs bk-keeper, as run -d's Node keeper does: the same process, the child's parent.
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
  writeFileSync(join(dir, 'program'), [
    `echo "$@" > ${dir}/out`,
    `grep -E '^Sig(Ign|Blk)' /proc/self/status >> ${dir}/out`,
    `ls /proc/self/fd | tr '\\n' ' ' >> ${dir}/out; echo >> ${dir}/out`,
    `readlink /proc/self/fd/3 >> ${dir}/out`,
    // the lock is held (by the fd it was given): another flock of the file cannot have it
    `flock -n ${dir}/finish true && echo free >> ${dir}/out || echo held >> ${dir}/out`,
  ].join('\n'));
  // (SIGPIPE ignored before the exec, as a Node keeper leaves it, and fd 3 open without close-on-exec: bk-keeper undoes both)
  return `trap '' PIPE; ${child} & exec -a '${title}' ${keeper} keeper/2 $! ${dir}/lock ${dir}/finish ${dir}/record ${dir}/exit tag /bin/sh ${dir}/program finish name id 3<${dir}/lock`;
}

describe('bk-keeper', () => {
  it('runs PROGRAM with its child\'s status (the code, or 128+N for signal N), with default signals and only fds 0-2', () => {
    const dir = scratch();
    execFileSync('bash', ['-c', keep(dir, 'sh -c "sleep 0.2; exit 7"')]);
    const out = readFileSync(join(dir, 'out'), 'utf8').split('\n');
    // the status, then the fd holding the finish lock
    expect(out[0]).toBe('finish name id 7 3');
    // the status is on disk before PROGRAM starts (written aside, then renamed: nothing else left)
    expect(readFileSync(join(dir, 'exit'), 'utf8')).toBe('tag 7\n');
    expect(readdirSync(dir).sort()).toEqual(['exit', 'finish', 'lock', 'out', 'program', 'record']);
    expect(out.slice(1, 3).sort()).toEqual(['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
    // ls itself opens one directory fd (4); the fd 3 the shell passed (no close-on-exec) is not the
    // program's: its 3 is the finish lock, held
    expect(out[3]!.trim().split(' ')).toEqual(['0', '1', '2', '3', '4']);
    expect(out.slice(4, 6)).toEqual([join(dir, 'finish'), 'held']);
    execFileSync('bash', ['-c', keep(dir, 'sh -c "sleep 0.2; kill -USR1 \\$\\$"')]);
    expect(readFileSync(join(dir, 'out'), 'utf8').split('\n')[0]).toBe('finish name id 138 3');
  });

  it('says - when PID is no child of its own, and does not run PROGRAM once the record is gone', () => {
    const dir = scratch();
    execFileSync('bash', ['-c', `exec -a t ${keeper} keeper/2 1 ${dir}/lock ${dir}/finish ${dir}/record ${dir}/exit tag /bin/sh -c 'echo "$@" > ${dir}/out' sh x`]);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('x - 3\n');
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
    const r = spawnSync('bash', ['-c', `sh -c 'sleep 0.2; exit 7' & exec -a t ${keeper} keeper/2 $! ${dir}/lock ${dir}/finish ${dir}/record ${dir}/exit tag ${dir}/missing finish name id`]);
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
    const bad = spawnSync(keeper, ['keeper/2', 'x', 'l', 'f', 'r', 'e', 't', '/bin/true', 'a'], { encoding: 'utf8', argv0: 't' });
    const r = { status: bad.status, stderr: bad.stderr };
    expect(r).toEqual({ status: 2, stderr: 'bk-keeper: PID must be a process id\n' });
    // a command line of another layout (another build's run) is refused before anything is written:
    // read as this one, it put a status over the record
    const other = spawnSync(keeper, [String(process.pid), `${dir}/lock`, `${dir}/finish`, `${dir}/record`, `${dir}/exit`, 'tag', '/bin/true'], { encoding: 'utf8', argv0: 't' });
    expect([other.status, other.stderr]).toEqual([2, expect.stringMatching(/^usage: bk-keeper TITLE keeper\/2 PID /)]);
    expect(readFileSync(join(dir, 'record'), 'utf8')).toBe('{}');
  });

  it('waits for the finish lock, and then starts PROGRAM only while EXIT is still the one it wrote: gone or another tag, it exits 0 without it', async () => {
    for (const meanwhile of ['recorded', 'retagged', 'untouched'] as const) {
      const dir = scratch();
      // someone holds the finish lock (a finish recording other ends) while the child ends
      // (a process group of its own: flock's shell child holds the lock too, and must end with it)
      const holder = spawn('flock', [join(dir, 'finish'), 'sh', '-c', `while [ ! -e ${dir}/go ]; do sleep 0.02; done`], { stdio: 'ignore', detached: true });
      onTestFinished(() => {
        try {
          process.kill(-holder.pid!, 'SIGKILL');
        } catch {
          // ended
        }
      });
      for (let i = 0; i < 200 && spawnSync('flock', ['-n', join(dir, 'finish'), 'true']).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const k = spawn('bash', ['-c', keep(dir, 'sh -c "sleep 0.2; exit 0"')], { stdio: 'ignore' });
      onTestFinished(() => {
        k.kill('SIGKILL');
      });
      const done = new Promise<number | null>((r) => k.on('exit', (c) => r(c)));
      // its status is on disk while it waits for the lock
      for (let i = 0; i < 300 && !existsSync(join(dir, 'exit')); i++) await new Promise((r) => setTimeout(r, 10));
      expect(readFileSync(join(dir, 'exit'), 'utf8')).toBe('tag 0\n');
      expect(existsSync(join(dir, 'out'))).toBe(false);
      if (meanwhile === 'recorded') rmSync(join(dir, 'exit'));
      if (meanwhile === 'retagged') writeFileSync(join(dir, 'exit'), 'other 3\n');
      writeFileSync(join(dir, 'go'), '');
      expect(await done, meanwhile).toBe(0);
      expect(existsSync(join(dir, 'out')), meanwhile).toBe(meanwhile === 'untouched');
    }
  });
});
