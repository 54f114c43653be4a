/** unionfs commit / extract: upper layer <-> OCI layer tarball. */
import { dirname } from 'node:path';
import { report, shellQuote, UsageError, type CommonArgs } from '@boxkit/common';
import { dryRunOutput } from '@boxkit/common/output';
import { commitLayer } from '../commit.js';
import { extractLayer } from '../extract.js';
import { stoppable } from '../stop.js';
import { unreachable } from '../fserror.js';
import { blockedPath, lstatOrUndefined, realPath, refuseEmpty, sameDir, statOrUndefined } from '../paths.js';
import { resolveTarget } from '../target.js';
import { trace } from '@boxkit/common/stdio';

export async function runCommit(a: CommonArgs & { target: string; output: string; driver?: string }): Promise<number> {
  // `-` (tar's stdout) or '' was resolved as the current directory ('/home/me: is a directory'): the hint says what to do instead
  refuseEmpty('OUTPUT', a.output, 'a file', `write it to a file: unionfs commit ${shellQuote([a.target])} layer.tar (then cat layer.tar)`);
  refuseEmpty('MOUNTPOINT|UPPER', a.target, 'a union mount point or an upper dir');
  const t = resolveTarget(a.target, [], undefined, a.driver);
  const out = realPath(a.output);
  if (statOrUndefined(out)?.isDirectory()) throw new UsageError(`${out}: is a directory`, 'give a file name: layer.tar');
  // as tar -cf, into a directory that is there: found now, not when the temp file is opened
  if (!statOrUndefined(dirname(out))?.isDirectory()) {
    throw new UsageError(`${out}: ${blockedPath(dirname(out)) ?? `no such directory ${dirname(out)}`}`, 'commit writes into an existing directory');
  }
  if (below(dirname(out), t.upper)) throw new UsageError(`${out}: the tarball would be inside the layer it holds`);
  // written through the mount point it lands in the upper too, and the walk reads it back half-written
  if (t.mountpoint && below(dirname(out), t.mountpoint)) throw new UsageError(`${out}: the tarball would be inside the union it holds (${t.mountpoint})`);
  if (a.dryRun) {
    const dry = dryRunOutput(a);
    dry.print(`# ${shellQuote(['unionfs', 'commit', t.upper, out])}  (tar of the upper, its ${t.driver} whiteouts as .wh. files)`);
    dry.done({ upper: t.upper, output: out });
    return 0;
  }
  if (a.verbose) trace(`unionfs commit ${shellQuote([t.upper, out])}`);
  // a SIGINT/SIGTERM/SIGHUP removes the partial tarball before the process ends by it
  const r = await stoppable((signal) => commitLayer(t.upper, out, t.driver, { signal }));
  report(a, r, () => [`${r.output}: ${r.entries} entries (${r.whiteouts} whiteouts), ${r.bytes} bytes, ${r.digest}`]);
  return 0;
}

/** `dir` (which exists) is `root` or below it, by inode: a bind mount is another spelling of the same directory. */
function below(dir: string, root: string): boolean {
  for (let a = dir; ; a = dirname(a)) {
    if (sameDir(a, root)) return true;
    if (a === dirname(a)) return false;
  }
}

export async function runExtract(a: CommonArgs & { tarball: string; dir: string }): Promise<number> {
  refuseEmpty('TARBALL', a.tarball, 'a file', 'save the tarball to a file first (cat > layer.tar), then: unionfs extract layer.tar DIR');
  refuseEmpty('DIR', a.dir, 'a new directory', 'give a new directory: unionfs extract TARBALL ./layer');
  const tar = realPath(a.tarball);
  const dir = realPath(a.dir);
  if (!statOrUndefined(tar)?.isFile()) throw unreachable(tar) ?? new UsageError(`${tar}: no such file`);
  // a dangling symlink too: the rename into place would fail after the whole extraction
  if (lstatOrUndefined(dir)) throw new UsageError(`${dir}: already exists`, 'extract into a new directory');
  const blocked = blockedPath(dirname(dir));
  if (blocked) throw new UsageError(`${dir}: ${blocked}`);
  if (a.dryRun) {
    const dry = dryRunOutput(a);
    dry.print(shellQuote(['unionfs', 'extract', tar, dir]));
    dry.done({ tarball: tar, dir });
    return 0;
  }
  if (a.verbose) trace(shellQuote(['unionfs', 'extract', tar, dir]));
  const r = await stoppable((signal) => extractLayer(tar, dir, { signal }));
  report(a, r, () => [`${r.dir}: ${r.entries} entries (${r.whiteouts} whiteouts)`]);
  return 0;
}
