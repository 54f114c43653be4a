/**
 * The leak check: what exists before the integration run is compared with
 * what exists after it. Anything new (a netns, a link, a mount under the
 * test directories, an iptables chain or rule, a test cgroup, a process of
 * this run) fails the run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Snapshot {
  netns: string[];
  links: string[];
  mounts: string[];
  iptables: string[];
  cgroups: string[];
  processes: string[];
}

function lines(cmd: string, args: string[]): string[] {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function iptablesRules(): string[] {
  const out: string[] = [];
  for (const tool of ['iptables-save', 'iptables-legacy-save']) {
    for (const l of lines(tool, [])) {
      if (l.startsWith('#') || l === 'COMMIT') continue;
      // a table and its built-in chains appear on first use and never go away (legacy tables
      // cannot be unloaded): they are not a leak; user chains and rules still are
      if (l.startsWith('*') || /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) /.test(l)) continue;
      // chain policy lines carry counters that change: keep the name only
      out.push(`${tool}: ${l.startsWith(':') ? l.split(' ')[0] : l}`);
    }
  }
  return out;
}

/** Test cgroups (names with the run's prefix) in every v1 hierarchy and in cgroup2. */
function testCgroups(prefix: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e === 'process_api') continue; // not ours: never touched
      try {
        if (!statSync(p).isDirectory()) continue;
      } catch {
        continue;
      }
      if (e.startsWith(prefix)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

function runProcesses(runId: string): string[] {
  const mine = new Set<number>([process.pid]);
  let pid = process.ppid;
  while (pid > 1) {
    mine.add(pid);
    try {
      pid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
    } catch {
      break;
    }
  }
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || mine.has(Number(e))) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`, 'utf8');
      if (!env.includes(`BOXKIT_TEST_RUN_ID=${runId}\0`)) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (/vitest|tinypool/.test(cmd)) continue; // the runner's own workers
      out.push(`${e} ${cmd}`);
    } catch {
      // gone, or not readable
    }
  }
  return out;
}

export function snapshot(opts: { testRoot: string; runId: string }): Snapshot {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '))
    .filter((f) => f[4]!.startsWith(opts.testRoot) || f[f.indexOf('-') + 1] === 'overlay')
    .map((f) => `${f[4]} (${f[f.indexOf('-') + 1]})`);
  return {
    netns: existsSync('/run/netns') ? readdirSync('/run/netns') : [],
    links: lines('ip', ['-o', 'link', 'show']).map((l) => l.split(': ')[1]!.split('@')[0]!),
    mounts,
    iptables: iptablesRules(),
    cgroups: testCgroups(`boxkit-test-${opts.runId}-`), // the dash: run 1234 must not claim run 12345's groups
    processes: runProcesses(opts.runId),
  };
}

/** What `after` has that `before` had not, as readable lines. */
export function leaked(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const k of Object.keys(after) as (keyof Snapshot)[]) {
    const had = new Set(before[k]);
    for (const item of after[k]) if (!had.has(item)) out.push(`${k}: ${item}`);
  }
  return out;
}
