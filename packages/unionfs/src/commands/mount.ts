/** unionfs mount: parse -> plan -> apply -> report. */
import { report, UsageError, warn, type CommonArgs } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { planUnion } from '../plan.js';
import { applyUnion, lockedUnion } from '../apply.js';
import { stoppable } from '../stop.js';
import { refuseEmpty } from '../paths.js';

export interface MountArgs extends CommonArgs {
  paths: string[];
  lower?: string[] | undefined;
  lowerTar?: string[] | undefined;
  upper?: string | undefined;
  work?: string | undefined;
  branch?: string[] | undefined;
  o?: string | undefined;
  udba?: string | undefined;
  driver: string;
  readonly: boolean;
  volatile?: boolean | undefined;
}

/** `[SOURCE] MOUNTPOINT`: aufs and overlay commands name a dummy source first. */
function mountpointOf(paths: string[]): string {
  // (yargs said 'Not enough non-option arguments: got 0, need at least 1')
  if (paths.length === 0) throw new UsageError('no mount point given', 'unionfs mount --lower DIR [--upper DIR] MOUNTPOINT (the last word)');
  if (paths.length === 1) return paths[0]!;
  if (paths.length === 2 && ['none', 'overlay', 'aufs'].includes(paths[0]!)) return paths[1]!;
  throw new UsageError(`expected one mount point, got: ${paths.join(' ')}`, 'layers are given with --lower/--upper, -o lowerdir=... or -o br=...');
}

export async function runMount(a: MountArgs): Promise<number> {
  return a.dryRun ? mountWith(a) : lockedUnion(() => mountWith(a));
}

async function mountWith(a: MountArgs): Promise<number> {
  refuseEmpty('MOUNTPOINT', a.paths.map(String), 'a mount point');
  refuseEmpty('--lower', a.lower, 'a directory');
  refuseEmpty('--lower-tar', a.lowerTar, 'a layer tarball');
  refuseEmpty('--upper', a.upper, 'a directory');
  refuseEmpty('--work', a.work, 'a directory');
  const plan = planUnion({
    mountpoint: mountpointOf(a.paths.map(String)),
    ...(a.lower ? { lowers: a.lower } : {}),
    ...(a.lowerTar ? { lowerTars: a.lowerTar } : {}),
    ...(a.upper !== undefined ? { upper: a.upper } : {}),
    ...(a.work !== undefined ? { work: a.work } : {}),
    ...(a.branch ? { branches: a.branch } : {}),
    ...(a.o !== undefined ? { mountOptions: a.o } : {}),
    ...(a.udba !== undefined ? { udba: a.udba } : {}),
    driver: a.driver,
    readonly: a.readonly,
    volatile: Boolean(a.volatile),
  });
  if (plan.notice) warn('unionfs', plan.notice);
  // a dry run prints its commands; with --json they go out with the plan as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  if (dry && plan.already) {
    dry.print(`# ${plan.mountpoint}: this union is already mounted`);
    dry.done({ mountpoint: plan.mountpoint, driver: plan.driver, mounted: false });
    return 0;
  }
  if (dry) {
    await applyUnion(plan, { dryRun: true, verbose: a.verbose, print: dry.print });
    dry.done({ mountpoint: plan.mountpoint, driver: plan.driver, options: plan.mount.data });
    return 0;
  }
  // planning made nothing (a signal then ends it at once); from here a SIGINT/SIGTERM/SIGHUP undoes what was made
  // (a half-extracted layer too) before the process ends by it
  const m = await stoppable((signal) => applyUnion(plan, { verbose: a.verbose, signal }));
  report(a, { ...m, options: plan.mount.data }, () => [
    `${m.mounted ? 'mounted' : 'already mounted'} ${m.mountpoint} (${m.driver}${m.readonly ? ', read-only' : ''}): ${m.upper ? `upper ${m.upper}, ` : ''}lower ${m.lowers.join(':')}`,
  ]);
  return 0;
}
