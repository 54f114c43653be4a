/**
 * What a user asks for, before any check: the layers of a union and where
 * to mount it. Every syntax ends up here: the flags (--lower/--upper),
 * overlay's own options (`-o lowerdir=./image,upperdir=./tmp,workdir=./tmp.work`,
 * as mount(8) takes them) and aufs's (`-o br=./tmp=rw:./image=ro`, `--branch ./tmp=rw`).
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
  /**
   * An option string (-o) as mount(8) takes it: overlay's
   * `lowerdir=A:B,upperdir=U,workdir=W`, or aufs's `br=./tmp=rw:./image=ro,udba=reval`,
   * and/or `volatile` and generic flags `ro,nodev,nosuid,noexec,noatime`.
   */
  mountOptions?: string;
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
  // (`=rw` has no directory: it was taken for one named '=rw', made as the upper)
  const dir = eq >= 0 ? s.slice(0, eq) : s;
  const perm = eq >= 0 ? s.slice(eq + 1) : index === 0 ? 'rw' : 'ro';
  if (!dir) throw new UsageError(`invalid branch '${s}'${s ? ': no directory' : ''}`, 'branches look like DIR=rw or DIR=ro');
  if (!(perm in PERMS)) throw new UsageError(`invalid branch permission '${perm}' in '${s}'`, `use one of ${Object.keys(PERMS).join(', ')}`);
  return { dir, perm };
}

/** Split an aufs `br=` value on ':' (a '\:' keeps a colon in a path). */
export function splitBranches(br: string): string[] {
  return br.split(/(?<!\\):/).filter(Boolean).map((b) => b.replace(/\\:/g, ':'));
}

/** Generic mount(2) flags accepted in -o with either syntax. */
export const MOUNT_FLAGS = ['nodev', 'nosuid', 'noexec', 'noatime'] as const;

/**
 * Split on `sep` where no backslash escapes it, and drop the escapes, as
 * overlay reads its options (drivers.ts overlayEscape writes them so);
 * `keep`: leave the escapes in, for each part's own parse.
 */
export function splitEscaped(s: string, sep: string, keep = false): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += keep ? c + s[++i] : s[++i];
    else if (c === sep) out.push(cur), (cur = '');
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** Split an -o string into options on unescaped commas, keeping the escapes for each option's own parse. */
const splitOptions = (o: string): string[] => splitEscaped(o, ',', true).filter(Boolean);

/** What an -o string asks for: aufs branches, overlay's own layer options, generic flags. */
export interface ParsedOptions {
  branches: string[];
  udba?: string;
  readonly?: boolean;
  flags: string[];
  /** overlay's lowerdir= (':'-separated, topmost first), upperdir=, workdir=. */
  lowerdir?: string[];
  upperdir?: string;
  workdir?: string;
  volatile?: boolean;
}

const OPTION_HINT = `use overlay's lowerdir=DIR[:DIR...],upperdir=DIR,workdir=DIR[,volatile] or aufs's br=DIR=rw:DIR=ro[,udba=none|reval|notify], with ro, ${MOUNT_FLAGS.join(', ')}`;

/**
 * Parse -o as mount(8) takes it: aufs's `br=...,udba=...` (also `dirs=`,
 * the old name of br), overlay's `lowerdir=...,upperdir=...,workdir=...`
 * (what --dry-run prints, so its line pastes), `volatile`, `ro`/`rw` and the
 * generic flags. overlay's other options (redirect_dir, metacopy, index,
 * xino, userxattr ...) are refused: the checks here and `diff` assume the
 * defaults.
 */
export function parseMountOptions(o: string): ParsedOptions {
  const out: ParsedOptions = { branches: [], flags: [] };
  const once = (key: string, seen: unknown) => {
    if (seen !== undefined) throw new UsageError(`-o ${key}= is given twice`);
  };
  for (const opt of splitOptions(o)) {
    const [key, ...rest] = opt.split('=');
    const value = rest.join('=');
    const hasValue = rest.length > 0;
    if (key === 'br' || key === 'dirs') out.branches.push(...splitBranches(value));
    else if (key === 'udba') out.udba = value;
    else if (key === 'lowerdir' && hasValue) {
      once(key, out.lowerdir);
      // overlay's data-only lowers ('::') and an empty lowerdir have no --lower equivalent
      const dirs = splitEscaped(value, ':');
      if (dirs.some((d) => !d)) throw new UsageError(`-o lowerdir=${value}: an empty layer`, "give the layers as lowerdir=DIR:DIR (topmost first); data-only lowers ('::') are not supported");
      out.lowerdir = dirs;
    } else if ((key === 'upperdir' || key === 'workdir') && hasValue && !value) {
      // (it said: unsupported mount option 'upperdir=')
      throw new UsageError(`-o ${key}= is empty`, key === 'upperdir' ? 'give upperdir=DIR, or leave it out for a read-only union' : 'give workdir=DIR on the upper\'s filesystem, or leave it out for UPPER.work');
    } else if ((key === 'upperdir' || key === 'workdir') && value) {
      once(key, out[key]);
      out[key] = value.replace(/\\(.)/g, '$1');
    } else if (key === 'volatile' && !hasValue) out.volatile = true;
    else if (key === 'ro' && !hasValue) out.readonly = true;
    else if (key === 'rw' && !hasValue) out.readonly = false;
    else if ((MOUNT_FLAGS as readonly string[]).includes(key!) && !hasValue) out.flags.push(key!);
    else throw new UsageError(`unsupported mount option '${opt}'`, OPTION_HINT);
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

/** One shape for the three syntaxes (flags, overlay's -o, aufs's -o/--branch); rejects mixes and impossible branch orders. */
export function normalize(o: UnionOptions): NormalSpec {
  let driver = o.driver ?? 'auto';
  if (!(DRIVER_CHOICES as readonly string[]).includes(driver)) {
    throw new UsageError(`unknown driver '${driver}'`, `use one of ${DRIVER_CHOICES.join(', ')}`);
  }
  if (!o.mountpoint) throw new UsageError('a mount point is required');
  const parsed: ParsedOptions = o.mountOptions !== undefined ? parseMountOptions(o.mountOptions) : { branches: [], flags: [] };
  const flags = [...new Set([...parsed.flags, ...(o.mountFlags ?? [])])];
  for (const f of flags) {
    if (!(MOUNT_FLAGS as readonly string[]).includes(f)) throw new UsageError(`unsupported mount flag '${f}'`, `use ${MOUNT_FLAGS.join(', ')}`);
  }
  const rawBranches = [...parsed.branches, ...(o.branches ?? [])];
  const overlaySyntax = parsed.lowerdir !== undefined || parsed.upperdir !== undefined || parsed.workdir !== undefined;
  if (overlaySyntax) {
    if (rawBranches.length) throw new UsageError("give the layers either as aufs branches (br=, --branch) or as overlay's lowerdir=/upperdir=, not both");
    if (o.lowers?.length || o.upper !== undefined || o.work !== undefined) {
      throw new UsageError('give the layers either in -o (lowerdir=, upperdir=, workdir=) or as --lower/--upper/--work, not both');
    }
    if (parsed.udba !== undefined) throw new UsageError("udba= is an aufs option (with br=): overlay has no equivalent", 'drop udba=');
    // overlay's own options name overlay: auto must not pick aufs for them
    if (driver === 'auto') driver = 'overlay';
  }
  const udba = o.udba ?? parsed.udba;
  if (udba !== undefined && !UDBA.includes(udba)) throw new UsageError(`invalid udba '${udba}'`, `use one of ${UDBA.join(', ')}`);
  const readonly = Boolean(o.readonly ?? false) || parsed.readonly === true;
  const volatile = Boolean(o.volatile) || parsed.volatile === true;
  const base = { mountpoint: o.mountpoint, driver: driver as NormalSpec['driver'], readonly, flags, lowerTars: o.lowerTars ?? [], volatile, ...(udba ? { udba } : {}) };
  if (!rawBranches.length) {
    if (parsed.udba !== undefined) throw new UsageError('no branches in -o', 'give -o br=DIR=rw:DIR=ro');
    // from here on -o lowerdir=,upperdir=,workdir= are --lower, --upper, --work: the same checks, in their own words
    const lowers = parsed.lowerdir ?? o.lowers ?? [];
    const upper = overlaySyntax ? parsed.upperdir : o.upper;
    const work = overlaySyntax ? parsed.workdir : o.work;
    if (!lowers.length && !o.lowerTars?.length) {
      throw new UsageError('at least one lower layer is required', overlaySyntax ? 'give -o lowerdir=DIR[:DIR...] (topmost first)' : 'give --lower DIR (topmost first)');
    }
    if (work && !upper) throw new UsageError(overlaySyntax ? 'workdir= needs upperdir=' : '--work needs --upper');
    return { ...base, lowers, ...(upper ? { upper } : {}), ...(work ? { work } : {}), aufsSyntax: false };
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
