/** Shared bits of the run integration tests. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, bk, testName } from '../harness/index.js';

export const BASE = ['--cgroup-parent', 'self'];

/** `run ARGS` (built bin); throws with stderr when the exit code is not `code`. */
export async function run(args: string[], code: number | null = 0) {
  const r = await bk('run', args);
  if (code !== null && r.exitCode !== code) {
    throw new Error(`run ${args.join(' ')}: exit ${r.exitCode} (wanted ${code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.exitCode, out: String(r.stdout), err: String(r.stderr) };
}

export const name = (what: string): string => testName(what);

export function overlayMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - overlay '));
}

export function dataDirOf(id: string): boolean {
  return existsSync(`${process.env.BOXKIT_DATA_DIR}/containers/${id}`);
}

/** A directory holding the built boxkit bins under their own names, for tests that run shell pipelines. */
export function toolsBinDir(): string {
  const bin = join(process.env.BOXKIT_TEST_ROOT!, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const t of ['run', 'ns-clone', 'cg', 'unionfs', 'netsetup']) {
    if (!existsSync(join(bin, t))) symlinkSync(binPath(t), join(bin, t));
  }
  return bin;
}


/**
 * What a shell command line prints on a terminal of its own (script(1)):
 * for `stty rows R cols C; run ... -it ... stty size`. script's stdin stays
 * open until the command is done: at EOF on its stdin script may leave
 * before it has copied the command's output (seen: '' now and then).
 */
export async function onTerminal(cmd: string): Promise<string> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const p = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise((r) => p.once('exit', r));
  p.stdin.end();
  await new Promise((r) => (p.stdout.readableEnded ? r(null) : p.stdout.once('end', r)));
  return out;
}
