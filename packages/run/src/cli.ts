/**
 * run's entry. The common case, `run [options] -- CMD`, is parsed by the
 * small table-driven parser in options.ts and starts without yargs; help,
 * subcommands and anything unusual go through the yargs wiring in
 * wiring.ts (a bundle of its own: dist/wiring.cjs), built from the same
 * table. This file is what the startup snapshot holds.
 */
import { isoTime } from '@boxkit/common/time';
import { binEntry } from '@boxkit/common/entry';
import { reportFailure, toStderr } from '@boxkit/common/errors';
import { afterStdout } from '@boxkit/common/stdio';
import { fastParse } from './options.js';
import { readWords, SUBCOMMAND_WORDS } from './words.js';
import { BoxkitError } from '@boxkit/common/errors';
import { mark, printPhases } from '@boxkit/common/phases';
// Imported here, not only lazily: built into the startup snapshot, these
// modules (and the libraries they use: cg, netsetup, unionfs, common) are
// initialized once at build time instead of on every start.
import { runContainer, toSpec } from './commands/run.js';
import { encodeProgram, exitNow, preresolveTrampoline } from '@boxkit/native';
import { detectLayout, planCreate, planRemove, resolveGroup } from '@boxkit/cg';
import { planUnion } from '@boxkit/unionfs';
import { containerProgram } from './container/program.js';
import { keep, KEEPER_WORD } from './container/keeper.js';
import { containerEnv } from './container/spec.js';
import { cgroupfsOf, controllersOf, joinWrites } from './container/cgroup.js';
import { startTime } from './state/store.js';
import './container/create.js';
import './container/lifecycle.js';
import './container/teardown.js';

const SUBCOMMANDS = new Set([...SUBCOMMAND_WORDS, '--help', '-h', 'help', '--version']);

async function fast(args: NonNullable<ReturnType<typeof fastParse>>): Promise<void> {
  mark('main');
  let code: number;
  try {
    code = await runContainer(args);
  } catch (e) {
    code = reportFailure('run', e, toStderr, true);
  }
  process.exitCode = code;
  // once stdout is out (a terminal relay may have queued some), end without Node's teardown (~1 ms)
  afterStdout(() => {
    mark('end');
    printPhases();
    exitNow(code);
  });
}

function route(typed: string[]): (() => Promise<void>) | string[] {
  if (typed[0] === KEEPER_WORD) return () => keep(typed.slice(1));
  const words = readWords(typed);
  if ('refuse' in words) {
    return async () => {
      process.exitCode = reportFailure('run', new BoxkitError('EUSAGE', words.refuse, { hint: words.hint, exitCode: 125 }), toStderr, true);
    };
  }
  const argv = words.argv;
  const parsed = SUBCOMMANDS.has(argv[0] ?? '') ? undefined : fastParse(argv);
  return parsed && parsed['--']?.length && !parsed['--'].some((w) => w === undefined) ? () => fast(parsed) : argv;
}

binEntry(__filename, route, () => {
  // find koffi and the trampoline library now: else the first native call
  // resolves modules and probes the platform on every start (~6-8 ms)
  preresolveTrampoline();
  warm();
});

/**
 * While the snapshot is built: the read-only part of a typical start, on
 * made-up names, so the blob holds these functions compiled (V8 compiles
 * each on its first call otherwise). Measured, 40 interleaved starts each:
 * 39.1 -> 36.3 ms from main to the end; the blob grows by 66 KB and starts
 * no slower. Nothing here may be cached for later (no hostLayout(), no
 * koffi): the snapshot is made on the build host.
 */
function warm(): void {
  try {
    const spec = toSpec(fastParse(['--rm', '--net', 'bridge', '--cpus', '0.5', '--memory', '32M', '--pids', '20', '--', '/bin/true'])!);
    const layout = detectLayout();
    const g = resolveGroup('boxkit-warm', { layout, parent: 'self', controllers: controllersOf(spec.limits) });
    planCreate(g, spec.limits, { mode: 'create' });
    encodeProgram(containerProgram({
      root: '/nonexistent/warm/rootfs', hostname: 'warm', argv: spec.command, env: containerEnv(spec, 'warm'), workdir: spec.workdir,
      uid: 0, gid: 0, groups: [], readOnly: false, privileged: false, init: false, cgroupns: true, netns: true, joinCgroup: joinWrites(g),
      cgroupfs: cgroupfsOf(g, layout),
    }));
    planUnion({ lowers: ['/usr'], upper: '/nonexistent/warm/upper', work: '/nonexistent/warm/work', mountpoint: '/nonexistent/warm/rootfs', driver: 'overlay' },
      { filesystems: new Set(['overlay']), mountinfo: '', cwd: '/' });
    JSON.stringify({ id: 'warm', created: isoTime(), cgroup: g });
    planRemove(g, { kill: true });
    startTime(process.pid);
  } catch {
    // only a warm-up: a build host without cgroups still builds
  }
}
