/**
 * Helpers for netsetup's integration tests: a per-file state dir, running
 * the built bin on the sandbox host or inside a simulated node, ping with
 * busybox (no ping binary here), and a snapshot of network state for
 * "nothing was created" checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { binPath, bk, runId } from '../harness/index.js';

/** Give this test file its own netsetup state dir (under the run's temporary root). */
export function useStateDir(file: string): string {
  const dir = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', `netsetup-${file}`);
  mkdirSync(dir, { recursive: true });
  process.env.BOXKIT_STATE_DIR = dir;
  return dir;
}

/** A short name for links (IFNAMSIZ: 15 chars): prefix + the run id's tail. */
export function shortName(prefix: string): string {
  return `${prefix}${runId.slice(-6)}`;
}

export interface BinResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function result(r: { exitCode?: number; stdout?: unknown; stderr?: unknown }): BinResult {
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Run the built netsetup on the sandbox host. */
export async function ns(args: string[], input?: string): Promise<BinResult> {
  return result(await bk('netsetup', args, input !== undefined ? { input } : {}));
}

/** Run netsetup inside a simulated node's namespace (with that node's own state dir). */
export async function nsIn(node: string, stateDir: string, args: string[]): Promise<BinResult> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), BOXKIT_STATE_DIR: stateDir };
  delete env.NODE_EXTRA_CA_CERTS;
  return result(await execa('ip', ['netns', 'exec', node, process.execPath, binPath('netsetup'), ...args], { reject: false, env, extendEnv: false }));
}

/** One ICMP echo from `host` (a netns name, or undefined for the sandbox host) to `addr`. */
export function ping(host: string | undefined, addr: string): boolean {
  const args = ['ping', '-c', '1', '-W', '2', addr];
  try {
    if (host) execFileSync('ip', ['netns', 'exec', host, 'busybox', ...args], { stdio: 'ignore' });
    else execFileSync('busybox', args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function out(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

/** Links, iptables tables/chains/rules and named namespaces of the sandbox host, comparable before/after. */
export function netSnapshot(): { links: string[]; rules: string[]; netns: string[] } {
  return {
    links: out('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(': ')[1]!).sort(),
    rules: out('iptables-save', []).split('\n').filter((l) => /^[-:*]/.test(l)).map((l) => l.split(' [')[0]!),
    netns: readdirSync('/run/netns').sort(),
  };
}

const BUILTIN = /^:(PREROUTING|INPUT|OUTPUT|POSTROUTING|FORWARD) ACCEPT$/;

/**
 * iptables-nft creates a table on first use and keeps it, empty, after the
 * last rule is gone; the run's leak check counts it. A table this file
 * brought into being and that now holds nothing (built-in chains, policy
 * ACCEPT, no rules) is dropped: `*nat` + COMMIT without --noflush deletes
 * an nft table. Tables that existed before are left alone.
 */
export function dropEmptyTables(before: { rules: string[] }): void {
  const now = netSnapshot().rules;
  const tables = new Map<string, string[]>();
  let cur = '';
  for (const l of now) {
    if (l.startsWith('*')) tables.set((cur = l.slice(1)), []);
    else tables.get(cur)?.push(l);
  }
  for (const [t, lines] of tables) {
    if (before.rules.includes(`*${t}`) || !lines.every((l) => BUILTIN.test(l))) continue;
    execFileSync('iptables-restore', [], { input: `*${t}\nCOMMIT\n` });
  }
}

export function sh(cmd: string, args: string[]): string {
  return out(cmd, args);
}

/** netsetup's attachment records and address leases in a state dir: [{ file, content }] sorted. */
export function stored(stateDir: string): { attachments: string[]; leases: string[] } {
  const list = (d: string): string[] => {
    try {
      return readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(d.length + 1)).sort();
    } catch {
      return [];
    }
  };
  return { attachments: list(join(stateDir, 'netsetup', 'attachments')), leases: list(join(stateDir, 'netsetup', 'leases')) };
}

/**
 * netsetup ARGS, refused: exit `code` (2 unless told), one line (and maybe a
 * hint), and nothing changed in the kernel, the state dir or what `inside`
 * reads (the containers' side).
 */
export async function refusedNs(args: string[], o: { state: string; code?: number; input?: string; inside?: () => unknown }): Promise<BinResult> {
  const snap = netSnapshot();
  const files = stored(o.state);
  const ins = o.inside?.();
  const r = await ns(args, o.input);
  expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(o.code ?? 2);
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines[0], args.join(' ')).toMatch(/^netsetup: \S/);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  expect(netSnapshot(), args.join(' ')).toEqual(snap);
  expect(stored(o.state), args.join(' ')).toEqual(files);
  if (o.inside) expect(o.inside(), args.join(' ')).toEqual(ins);
  return r;
}

/**
 * A file's last check, once its bridges are removed: nothing of it is left
 * (links, rules, leases, records) next to what was there before it began.
 */
export function expectNothingLeft(before: ReturnType<typeof netSnapshot>, stateDir: string): void {
  dropEmptyTables(before);
  const after = netSnapshot();
  expect(after.links).toEqual(before.links);
  expect(after.rules).toEqual(before.rules);
  expect(stored(stateDir)).toEqual({ attachments: [], leases: [] });
}
