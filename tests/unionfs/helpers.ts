/** Shared bits of the unionfs integration tests: dirs, trees, mounts. */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bk } from '../harness/index.js';
import { listUnions } from '../../packages/unionfs/src/index.js';
import { mount, umount2, MNT } from '../../native/src/index.js';

/** Run the built bin; stdout/stderr as strings (bk's own result type is execa's widest). */
export async function unionfs(args: string[], cwd?: string, extraEnv: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = await bk('unionfs', args, { env, ...(cwd ? { cwd } : {}) });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** A fresh dir under the run's test root. */
export function scratch(what: string): string {
  return mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, `unionfs-${what}-`));
}

/** Write files: {'etc/hosts': 'content', 'dir/': null for a dir}. */
export function files(root: string, spec: Record<string, string | null>): void {
  for (const [p, c] of Object.entries(spec)) {
    if (c === null) mkdirSync(join(root, p), { recursive: true });
    else {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), c);
    }
  }
}

/** Every path below `root` with its type, mode, owner and content (or link target): a merged view to compare. */
export function tree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(root, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    const abs = join(root, r);
    const st = lstatSync(abs);
    const meta = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isDirectory()) {
      out.push(`${r}/ ${meta}`);
      out.push(...tree(root, r));
    } else if (st.isSymbolicLink()) out.push(`${r} ${meta} -> ${readlinkSync(abs)}`);
    else if (st.isFile()) out.push(`${r} ${meta} ${readFileSync(abs, 'utf8')}`);
    else out.push(`${r} ${meta} rdev=${st.rdev}`);
  }
  return out;
}

/** Mount points at or below `root` in this mount namespace. */
export function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '))
    .filter((m) => m === root || m.startsWith(`${root}/`));
}

/** Safety net for a failed test: detach whatever is still mounted below `root`. */
export function detachAll(root: string): void {
  for (const m of mountsUnder(root).reverse()) {
    try {
      umount2(m, MNT.DETACH);
    } catch {
      // already gone
    }
  }
}

export function unionAt(mnt: string) {
  return listUnions().filter((u) => u.mountpoint === mnt).pop();
}

/** stderr without the optional hint line. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l && !l.startsWith('hint:'));
}

/**
 * Run `fn` with a lower (made in a new dir below `d`) the kernel refuses at mount time: an overlay of an
 * overlay (stacking depth 2; a union over it would be 3, over the kernel's
 * limit). unionfs's checks pass it, so the mount(2) itself fails.
 */
export async function withTooDeepLower(d: string, fn: (lower: string) => Promise<void>): Promise<void> {
  const base = mkdtempSync(join(d, 'deep-lower-'));
  files(base, { 'a/x': 'x', 'b/y': 'y', 'up/': null, 'work/': null, 'one/': null, 'two/': null });
  mount('overlay', join(base, 'one'), 'overlay', 0, `lowerdir=${base}/a,upperdir=${base}/up,workdir=${base}/work`);
  try {
    mount('overlay', join(base, 'two'), 'overlay', 0, `lowerdir=${base}/one:${base}/b`);
    try {
      await fn(join(base, 'two'));
    } finally {
      umount2(join(base, 'two'));
    }
  } finally {
    umount2(join(base, 'one'));
  }
}
