/**
 * Plans as text: the shell lines a user could paste (--dry-run, -v) and the
 * `unionfs mount ...` command line that makes the same union (for run's
 * --dry-run pipeline).
 */
import { shellQuote } from '@boxkit/common';
import { FLAG_BITS, type UnionPlan, type UnionStep } from './plan.js';

/** `mount -t overlay overlay -o lowerdir=...,upperdir=...,workdir=... MNT`, as mount(8) takes it. */
function mountLine(s: Extract<UnionStep, { kind: 'mount' }>): string {
  const names = Object.entries(FLAG_BITS).filter(([, bit]) => s.flags & bit).map(([name]) => name);
  const opts = [...names, s.data].join(',');
  return shellQuote(['mount', '-t', s.fstype, s.source, '-o', opts, s.target]);
}

const SHELL: { [K in UnionStep['kind']]: (s: Extract<UnionStep, { kind: K }>) => string } = {
  mkdir: (s) => shellQuote(['mkdir', '-p', s.path]),
  extract: (s) => shellQuote(['unionfs', 'extract', s.tar, s.dir]),
  mount: mountLine,
};

export function stepShell(s: UnionStep): string {
  return (SHELL[s.kind] as (x: UnionStep) => string)(s);
}

/** The plan as shell lines; a plan with nothing to do says why as a comment. */
export function renderShell(plan: UnionPlan): string[] {
  if (plan.already) return [`# ${plan.mountpoint}: this union is already mounted`];
  return plan.steps.map(stepShell);
}

/** The `unionfs mount` command line that makes this union. */
export function renderMount(plan: UnionPlan): string {
  const tarDirs = new Set(plan.layerTars.map((t) => t.dir));
  const args = ['unionfs', 'mount'];
  for (const t of plan.layerTars) args.push('--lower-tar', t.tar);
  for (const l of plan.lowers) if (!tarDirs.has(l)) args.push('--lower', l);
  if (plan.upper) args.push('--upper', plan.upper);
  if (plan.work) args.push('--work', plan.work);
  if (plan.requested !== 'auto') args.push('--driver', plan.requested);
  if (plan.readonly) args.push('--readonly');
  if (plan.udba) args.push('--udba', plan.udba);
  if (plan.volatile) args.push('--volatile');
  if (plan.mountFlags.length) args.push('-o', plan.mountFlags.join(','));
  args.push(plan.mountpoint);
  return shellQuote(args);
}
