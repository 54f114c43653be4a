/**
 * What a user asks for, before any check: the layers of a union and where
 * to mount it. Both syntaxes end up here: overlay's (--lower/--upper) and
 * aufs's (`-o br=./tmp=rw:./image=ro`, `--branch ./tmp=rw`).
 */
import { UsageError } from '@boxkit/common';

export type DriverName = 'overlay' | 'aufs';
export const DRIVER_CHOICES = ['auto', 'overlay', 'aufs'] as const;

export interface UnionOptions {
  /** Lower layers, topmost first. */
  lowers?: string[];
  /** Layer tarballs (OCI form) extracted under the data dir and stacked above `lowers`, topmost first. */
  lowerTars?: string[];
  /** Where writes go; without it the union is read-only. */
  upper?: string;
  /** overlay's work dir (same filesystem as upper); made beside the upper when not given. */
  work?: string;
  mountpoint: string;
  /** auto (aufs when the kernel has it, else overlay), overlay or aufs. */
  driver?: string;
  readonly?: boolean;
  /** aufs branches `DIR=PERM` (rw, ro, rr, ro+wh, ...), topmost first. */
  branches?: string[];
  /** An option string (-o): aufs's `br=./tmp=rw:./image=ro,udba=reval`, and/or generic flags `ro,nodev,nosuid,noexec,noatime`. */
  aufsOptions?: string;
  /** Generic mount flags: nodev, nosuid, noexec, noatime (ro is `readonly`). */
  mountFlags?: string[];
  /** aufs's udba= (none, reval, notify): accepted; overlay has no equivalent. */
  udba?: string;
  /** overlay's `volatile`: no sync of the upper, not even at unmount (throwaway unions: run --rm). */
  volatile?: boolean;
}

export interface Branch {
  dir: string;
  perm: string;
}

/** aufs branch permissions and what each means for an overlay upper/lower. */
const PERMS: Record<string, 'upper' | 'lower'> = {
  rw: 'upper', 'rw+nolwh': 'upper', 'rw+wh': 'upper',
  ro: 'lower', rr: 'lower', 'ro+wh': 'lower', 'rr+wh': 'lower', 'ro+nowh': 'lower', 'rr+nowh': 'lower',
};
const UDBA = ['none', 'reval', 'notify'];

/** `./tmp=rw` -> {dir, perm}; the perm defaults as aufs does: first branch rw, others ro. */
export function parseBranch(s: string, index: number): Branch {
  const eq = s.lastIndexOf('=');
  const dir = eq > 0 ? s.slice(0, eq) : s;
  const perm = eq > 0 ? s.slice(eq + 1) : index === 0 ? 'rw' : 'ro';
  if (!dir) throw new UsageError(`invalid branch '${s}'`, 'branches look like DIR=rw or DIR=ro');
  if (!(perm in PERMS)) throw new UsageError(`invalid branch permission '${perm}' in '${s}'`, `use one of ${Object.keys(PERMS).join(', ')}`);
  return { dir, perm };
}

/** Split an aufs `br=` value on ':' (a '\:' keeps a colon in a path). */
export function splitBranches(br: string): string[] {
  return br.split(/(?<!\\):/).filter(Boolean).map((b) => b.replace(/\\:/g, ':'));
}

/** Parse `-o br=...,udba=...,ro` (also `dirs=`, the old name of br). */
/** Generic mount(2) flags accepted in -o with either syntax. */
export const MOUNT_FLAGS = ['nodev', 'nosuid', 'noexec', 'noatime'] as const;

export function parseAufsOptions(o: string): { branches: string[]; udba?: string; readonly?: boolean; flags: string[] } {
  const out: { branches: string[]; udba?: string; readonly?: boolean; flags: string[] } = { branches: [], flags: [] };
  for (const opt of o.split(',').filter(Boolean)) {
    const [key, ...rest] = opt.split('=');
    const value = rest.join('=');
    if (key === 'br' || key === 'dirs') out.branches.push(...splitBranches(value));
    else if (key === 'udba') out.udba = value;
    else if (key === 'ro' && !value) out.readonly = true;
    else if (key === 'rw' && !value) out.readonly = false;
    else if ((MOUNT_FLAGS as readonly string[]).includes(key!) && !value) out.flags.push(key!);
    else throw new UsageError(`unsupported mount option '${opt}'`, `use br=DIR=rw:DIR=ro, udba=none|reval|notify, ro, ${MOUNT_FLAGS.join(', ')}`);
  }
  return out;
}

export interface NormalSpec {
  lowers: string[];
  lowerTars: string[];
  upper?: string;
  work?: string;
  mountpoint: string;
  driver: 'auto' | DriverName;
  readonly: boolean;
  udba?: string;
  /** generic mount flags (nodev, ...) */
  flags: string[];
  /** true when the request used aufs syntax (branches or -o br=). */
  aufsSyntax: boolean;
  volatile: boolean;
}

/** One shape for both syntaxes; rejects mixes and impossible branch orders. */
export function normalize(o: UnionOptions): NormalSpec {
  const driver = o.driver ?? 'auto';
  if (!(DRIVER_CHOICES as readonly string[]).includes(driver)) {
    throw new UsageError(`unknown driver '${driver}'`, `use one of ${DRIVER_CHOICES.join(', ')}`);
  }
  if (!o.mountpoint) throw new UsageError('a mount point is required');
  const parsed = o.aufsOptions !== undefined ? parseAufsOptions(o.aufsOptions) : { branches: [] as string[], flags: [] as string[] };
  const flags = [...new Set([...parsed.flags, ...(o.mountFlags ?? [])])];
  for (const f of flags) {
    if (!(MOUNT_FLAGS as readonly string[]).includes(f)) throw new UsageError(`unsupported mount flag '${f}'`, `use ${MOUNT_FLAGS.join(', ')}`);
  }
  const rawBranches = [...parsed.branches, ...(o.branches ?? [])];
  const udba = o.udba ?? parsed.udba;
  if (udba !== undefined && !UDBA.includes(udba)) throw new UsageError(`invalid udba '${udba}'`, `use one of ${UDBA.join(', ')}`);
  const readonly = Boolean(o.readonly ?? false) || parsed.readonly === true;
  const volatile = Boolean(o.volatile);
  const base = { mountpoint: o.mountpoint, driver: driver as NormalSpec['driver'], readonly, flags, lowerTars: o.lowerTars ?? [], volatile, ...(udba ? { udba } : {}) };
  if (!rawBranches.length) {
    if (parsed.udba !== undefined) throw new UsageError('no branches in -o', 'give -o br=DIR=rw:DIR=ro');
    if (!o.lowers?.length && !o.lowerTars?.length) throw new UsageError('at least one lower layer is required', 'give --lower DIR (topmost first)');
    if (o.work && !o.upper) throw new UsageError('--work needs --upper');
    return { ...base, lowers: o.lowers ?? [], ...(o.upper ? { upper: o.upper } : {}), ...(o.work ? { work: o.work } : {}), aufsSyntax: false };
  }
  if (o.lowers?.length || o.upper) throw new UsageError('give the layers either as branches (-o br=, --branch) or as --lower/--upper, not both');
  const branches = rawBranches.map(parseBranch);
  const writable = branches.filter((b) => PERMS[b.perm] === 'upper');
  if (writable.length > 1) throw new UsageError('more than one rw branch', 'a union here has one writable branch, the first');
  if (writable.length && branches[0] !== writable[0]) {
    throw new UsageError(`the rw branch '${writable[0]!.dir}' is not the first`, 'put the writable branch first: br=./tmp=rw:./image=ro');
  }
  const lowers = branches.filter((b) => PERMS[b.perm] === 'lower').map((b) => b.dir);
  if (!lowers.length && !base.lowerTars.length) throw new UsageError('at least one ro branch is required');
  return { ...base, lowers, ...(writable[0] ? { upper: writable[0].dir } : {}), ...(o.work ? { work: o.work } : {}), aufsSyntax: true };
}
