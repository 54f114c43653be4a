/**
 * The iptables backend, chosen once: the nf_tables one (`iptables-nft`, the
 * default on Debian 12) or iptables-legacy. `auto` follows what the host's
 * `iptables-restore` points to, as the user's own `iptables` would.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { delimiter, join, basename } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { runLite } from '@boxkit/common/exec';
import type { Table } from './rules.js';
import { InProcessRestore } from './legacy/restore.js';

export type Backend = 'nft' | 'legacy';
export const BACKENDS = ['auto', 'nft', 'legacy'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export function detectBackend(): Backend {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/sbin').split(delimiter)) {
    try {
      const real = basename(realpathSync(join(dir, 'iptables-restore')));
      return real.includes('legacy') ? 'legacy' : 'nft';
    } catch {
      // not in this directory
    }
  }
  return 'nft';
}

export function chooseBackend(b: BackendChoice | undefined): Backend {
  if (b === undefined || b === 'auto') return detectBackend();
  if (b !== 'nft' && b !== 'legacy') throw new UsageError(`unknown backend '${String(b)}'`, 'use auto, nft or legacy');
  return b;
}

export const tool = (b: Backend, what: 'save' | 'restore' | ''): string => `iptables-${b}${what ? `-${what}` : ''}`;

/**
 * iptables-save of the given tables (with counters when asked); for more
 * than one table, one iptables-save of every table (one process less to
 * start: the reader skips the tables it does not want).
 */
export async function saveTables(b: Backend, tables: readonly Table[], counters = false): Promise<string> {
  // runLite, not run(): execa is ~300 KB of the bundle and tens of ms per start
  const c = counters ? ['-c'] : [];
  if (tables.length > 1) return (await runLite(tool(b, 'save'), c)).stdout;
  const parts = await Promise.all(tables.map((t) => runLite(tool(b, 'save'), [...c, '-t', t])));
  return parts.map((p) => p.stdout).join('\n');
}

/**
 * Does this backend hold any chain of the prefix (`owns`: Names.owns)? A backend that is not
 * installed holds none; iptables-legacy is read only when the kernel has its
 * tables (its tools would load the modules to make an empty one).
 */
export async function holdsChains(b: Backend, owns: (chain: string) => boolean): Promise<boolean> {
  if (b === 'legacy') {
    let names = '';
    try {
      names = readFileSync('/proc/net/ip_tables_names', 'utf8');
    } catch {
      // no ip_tables in this kernel
    }
    if (!names.trim()) return false;
  }
  try {
    // the chain lines (`:NAME POLICY [p:b]`): a chain of someone else's that starts with PREFIX- is not ours
    return ((await saveTables(b, ['nat', 'filter'])).match(/^:\S+/gm) ?? []).some((l) => owns(l.slice(1)));
  } catch {
    return false;
  }
}

const restoreArgs = (b: Backend): string[] => [...(b === 'legacy' ? ['-w', '10'] : []), '--noflush'];

/** How far (characters) the restore input may run ahead of what iptables-restore has read. */
const AHEAD = 1 << 20;

/** What a sync feeds its change to (RestoreRun, or InProcessRestore for iptables-legacy). */
export interface Restorer {
  /** legacy: the nat section was opened at once (openNat) */
  natOpen: boolean;
  /** how it applies the text, where that is not iptables-restore in a child process (a verbose run says so) */
  readonly how?: string;
  openNat(): void;
  write(chunk: string): Promise<void>;
  /** it reads nothing more of what is written (it has exited) */
  readonly exited: boolean;
  settled(): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * The restore a sync writes to: for iptables-legacy, in this process
 * (legacy/restore.ts: it hands the text to iptables-legacy-restore when it
 * meets something it does not model); BOXKIT_LEGACY_RESTORE=spawn always
 * runs iptables-legacy-restore instead.
 */
export function startRestore(b: Backend, trace?: (line: string) => void): Restorer {
  return inProcess(b) ? new InProcessRestore(() => new RestoreRun(b), trace) : new RestoreRun(b);
}

const inProcess = (b: Backend): boolean => b === 'legacy' && process.env.BOXKIT_LEGACY_RESTORE !== 'spawn';

/**
 * One iptables-restore --noflush run, started before its input is known
 * and fed as the input is produced: its start-up, and its parsing of each
 * line, overlap the work that produces the text. Nothing is committed
 * before a COMMIT line arrives; abort() kills it before that.
 */
export class RestoreRun implements Restorer {
  private readonly child: ChildProcess;
  private readonly done: Promise<void>;
  private stderr = '';
  private aborted = false;
  /** legacy: the nat section is opened at once (see open()) */
  natOpen = false;

  constructor(readonly backend: Backend) {
    const file = tool(backend, 'restore');
    const args = restoreArgs(backend);
    // not a top-level import: the bin's startup snapshot is built without child_process
    const { spawn } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
    this.child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.stdin!.on('error', () => {}); // it may exit before reading everything: its status says why
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', (e: NodeJS.ErrnoException) =>
        reject(new BoxkitError('EEXEC', `${file} --noflush: ${e.code ?? e.message}`, e.code === 'ENOENT' ? { hint: `'${file}' is not installed` } : {})));
      this.child.on('close', (code) => {
        if (code === 0) return resolve();
        const why = this.stderr.split('\n').map((l) => l.trim()).find(Boolean) ?? (code === null ? 'killed' : `exit ${code}`);
        reject(new BoxkitError('EEXEC', `${[file, ...args].join(' ')}: ${why}`));
      });
    });
    this.done.catch(() => {}); // awaited in finish(); an early failure must not be an unhandled rejection
  }

  /**
   * iptables-legacy-restore takes the xtables lock and reads the whole
   * table from the kernel when its `*nat` line arrives (seconds at 10k
   * services): send it now so that happens while the change is computed.
   * A COMMIT with no change in between writes nothing (libiptc).
   */
  openNat(): void {
    this.natOpen = true;
    this.child.stdin!.write('*nat\n');
  }

  /**
   * Feed text. Up to AHEAD characters may wait in our buffer while the pipe
   * is full: waiting for every chunk to drain would take turns with the
   * restore (it parses while we wait, we render while it waits) instead of
   * running both at once. Each call lets the event loop move what waits
   * into the pipe.
   */
  async write(chunk: string): Promise<void> {
    // once it is gone nothing more is read: its status (finish) says why
    if (!chunk || this.aborted || this.exited) return;
    const stdin = this.child.stdin!;
    // latin1: the text is ASCII (names, addresses and comments are checked), and encoding it so is cheaper than UTF-8
    stdin.write(chunk, 'latin1');
    if (stdin.writableLength <= AHEAD || this.exited) await new Promise<void>((resolve) => setImmediate(resolve));
    else {
      // until the pipe drains, or it goes away (an exit or a closed pipe never drains: waiting on would hold the lock forever)
      await new Promise<void>((resolve) => {
        const go = () => {
          stdin.off('drain', go).off('close', go);
          this.child.off('exit', go).off('close', go);
          resolve();
        };
        stdin.on('drain', go).on('close', go);
        this.child.on('exit', go).on('close', go);
      });
    }
  }

  /** It has exited, or its input is closed: it reads nothing more of what is written. */
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null || !!this.child.stdin?.destroyed;
  }

  /** Wait until it has exited (whatever its status). */
  async settled(): Promise<void> {
    await this.done.catch(() => undefined);
  }

  /** End the input and wait for the result. */
  async finish(): Promise<void> {
    this.child.stdin!.end();
    await this.done;
  }

  /** Kill it before it commits anything (no COMMIT was sent). */
  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.child.kill('SIGKILL');
    await this.done.catch(() => undefined);
  }
}

/** One iptables-restore --noflush of a whole text (legacy waits for the xtables lock like iptables -w). */
export async function restore(b: Backend, text: string): Promise<void> {
  if (!text) return;
  // (a whole text: one iptables-restore run fed it at once, not a sync's streaming)
  if (!inProcess(b)) return void (await runLite(tool(b, 'restore'), restoreArgs(b), { input: text }));
  const r = startRestore(b);
  await r.write(text);
  await r.finish();
}
