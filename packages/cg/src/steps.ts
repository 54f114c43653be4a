/**
 * The steps cgroup plans are made of: mkdir, rmdir and writes into cgroup
 * files, each with the shell line a user could paste (the article's own
 * `mkdir` and `echo 50000 > cpu.cfs_quota_us`) and its undo.
 */
import { BoxkitError, shellQuote, type PlanStep } from '@boxkit/common';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, write, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { sleepSync } from '@boxkit/common/sleep';

/** Why a cgroup write failed, in words, for the errnos the kernel uses here. */
const WRITE_HINTS: Record<string, Record<string, string> | string> = {
  EBUSY: {
    'memory.limit_in_bytes': 'the group already uses more memory than that, or memory.memsw.limit_in_bytes is lower',
    'memory.max': 'the group uses more memory than that and could not reclaim it',
    'cgroup.subtree_control': "cgroup v2's no-internal-processes rule: this group holds processes; move them into a leaf group first",
    'cgroup.procs': "cgroup v2's no-internal-processes rule: the group has child groups with controllers enabled; attach to a leaf",
  },
  ENOSPC: 'cpuset: the group has no cpus or mems (v1 needs both set before tasks join) or they are outside the parent\'s',
  EINVAL: {
    'cpu.cfs_quota_us': 'the quota must be >= 1000 µs and fit in the parent\'s quota',
    'memory.memsw.limit_in_bytes': 'memory+swap must be >= the memory limit',
    'cpuset.cpus': 'the CPUs must exist and be within the parent\'s cpuset',
  },
  ERANGE: {
    'cpuset.cpus': 'the CPUs must exist (see /sys/devices/system/cpu/online) and be within the parent\'s cpuset',
    'cpuset.mems': 'the memory nodes must exist (see /sys/devices/system/node/online) and be within the parent\'s',
  },
  ESRCH: 'no such process',
  EACCES: 'permission denied: this needs root (or a delegated cgroup)',
  EPERM: 'permission denied: this needs root (or a delegated cgroup)',
  ENOENT: 'the file does not exist: the kernel or this hierarchy lacks that setting',
  EOPNOTSUPP: 'the kernel does not support that setting here',
};

export function hintFor(code: string, file: string): string | undefined {
  const h = WRITE_HINTS[code];
  return typeof h === 'string' ? h : h?.[basename(file)];
}

/** A cgroup file write failed: one line naming the value, the file and the errno. */
export function writeError(file: string, value: string, e: unknown): BoxkitError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const hint = hintFor(code, file);
  return new BoxkitError(`CG_${code}`, `write ${JSON.stringify(value)} to ${file}: ${code}`, hint ? { hint, cause: e } : { cause: e });
}

/** Write one value (one write(2), as `echo` does). */
export function writeValue(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (e) {
    throw writeError(file, value, e);
  }
}

/**
 * writeValue() whose write(2) runs on libuv's pool: the open is made here
 * (cheap), the write is one pool task that needs nothing more of this
 * thread until it is done. Moving a process into a cgroup v1 group blocks
 * the writer for an RCU grace period (5-30 ms measured here), which this
 * thread can spend on other work.
 */
export function writeValueAsync(file: string, value: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (e) {
    return Promise.reject(writeError(file, value, e));
  }
  return new Promise((resolve, reject) =>
    write(fd, value, null, 'utf8', (e) => {
      closeSync(fd);
      if (e) reject(writeError(file, value, e));
      else resolve();
    }),
  );
}

export function readValue(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `mkdir DIR`, undone by rmdir. */
export function mkdirStep(dir: string): PlanStep {
  return {
    shell: `mkdir ${shellQuote([dir])}`,
    apply: () => {
      try {
        mkdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return; // a concurrent create made it: fine
        throw new BoxkitError('CG_MKDIR', `mkdir ${dir}: ${(e as NodeJS.ErrnoException).code}`, { hint: hintFor((e as NodeJS.ErrnoException).code ?? '', dir), cause: e });
      }
    },
    undo: () => rmdirSync(dir),
  };
}

/** `echo VALUE > FILE`; when `restore` is given (an existing group), undo writes it back. */
export function writeStep(file: string, value: string, restore?: string): PlanStep {
  const step: PlanStep = { shell: `echo ${shellQuote([value])} > ${shellQuote([file])}`, apply: () => writeValue(file, value) };
  if (restore !== undefined) step.undo = () => writeValue(file, restore);
  return step;
}

/** `rmdir DIR`, succeeding when it is already gone. */
export function rmdirStep(dir: string): PlanStep {
  return {
    shell: `rmdir ${shellQuote([dir])}`,
    apply: () => {
      // right after the last task exits, v1 may still say EBUSY for a moment
      for (let i = 0; ; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 50) break;
          sleepSync(20);
        }
      }
      try {
        rmdirSync(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        const hint = code === 'EBUSY' ? 'the group still has processes (use --kill or --move)' : code === 'ENOTEMPTY' ? 'the group has child groups: remove them first' : undefined;
        throw new BoxkitError(`CG_${code}`, `rmdir ${dir}: ${code}`, hint ? { hint, cause: e } : { cause: e });
      }
    },
  };
}

export const exists = existsSync;
