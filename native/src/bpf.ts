/**
 * The bpf(2) calls cgroup v2 device control is made of: on v2 no file says
 * which devices a group may use; a BPF_PROG_TYPE_CGROUP_DEVICE program
 * attached to the group's directory answers each open and mknod (runc's
 * devicefilter, crun's ebpf.c). The program itself is plain data built by
 * the caller (cg); this module loads it, attaches it in place of boxkit's
 * previous one, and finds or removes what is attached.
 *
 * The attached program holds itself: the fds here are closed at once, and
 * the kernel frees the program when it is detached or its cgroup removed.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { koffi, libcFn } from './lib.js';
import { SysError } from './errors.js';

const SYS_BPF = process.arch === 'arm64' ? 280 : 321;
const CMD = { PROG_LOAD: 5, PROG_ATTACH: 8, PROG_DETACH: 9, PROG_GET_FD_BY_ID: 13, OBJ_GET_INFO_BY_FD: 15, PROG_QUERY: 16 } as const;
const PROG_TYPE_CGROUP_DEVICE = 15;
const ATTACH_CGROUP_DEVICE = 6;

/**
 * How programs are attached to a cgroup (BPF_F_*): `multi`, several per
 * cgroup, each must allow, as systemd, runc and boxkit attach theirs;
 * `override`, one that a program below replaces (the kernel drops it from
 * the groups below once one of them has a program); `exclusive` (no flag),
 * one, and none allowed below.
 */
export type AttachMode = 'exclusive' | 'override' | 'multi';
const ATTACH_FLAGS: Record<AttachMode, number> = { exclusive: 0, override: 1, multi: 2 };

/** The name boxkit's device programs carry (bpf_prog_info.name, at most 15 bytes). */
export const DEVICE_PROGRAM_NAME = 'boxkit_devices';

let sys: ((...a: unknown[]) => number | bigint) | undefined;

/** bpf(cmd, attr, sizeof attr): the kernel reads and writes `attr` in place. */
function bpf(cmd: number, attr: Buffer, what: string, path?: string, detail?: () => string | undefined): number {
  sys ??= libcFn<(...a: unknown[]) => number | bigint>('long syscall(long number, ...)');
  const rc = Number(sys(SYS_BPF, 'int', cmd, 'void *', attr, 'uint32_t', attr.length));
  if (rc === -1) {
    const errno = koffi().errno();
    throw new SysError(`bpf(${what})`, errno, path, detail?.());
  }
  return rc;
}

const address = (b: Buffer): bigint => koffi().address(b) as bigint;

/**
 * Load a cgroup device program (8-byte eBPF instructions). On a verifier
 * refusal the error carries the verifier's reason.
 */
export function loadDeviceProgram(insns: Buffer, name = DEVICE_PROGRAM_NAME): number {
  if (insns.length % 8 !== 0 || insns.length === 0) throw new SysError('bpf(PROG_LOAD)', 22, undefined, 'instructions must be a non-empty multiple of 8 bytes');
  const license = Buffer.from('Apache\0');
  const load = (log?: Buffer): number => {
    const attr = Buffer.alloc(72);
    attr.writeUInt32LE(PROG_TYPE_CGROUP_DEVICE, 0);
    attr.writeUInt32LE(insns.length / 8, 4);
    attr.writeBigUInt64LE(address(insns), 8);
    attr.writeBigUInt64LE(address(license), 16);
    if (log) {
      attr.writeUInt32LE(1, 24); // log_level
      attr.writeUInt32LE(log.length, 28);
      attr.writeBigUInt64LE(address(log), 32);
    }
    attr.write(name.slice(0, 15), 48, 'latin1');
    // the reason is the last line before the verifier's statistics ("processed N insns ...")
    const verifierSays = () =>
      log?.toString('latin1', 0, Math.max(0, log.indexOf(0))).split('\n').filter((l) => l.trim() && !/^processed \d+ insns/.test(l)).pop()?.trim();
    const fd = bpf(CMD.PROG_LOAD, attr, 'PROG_LOAD', undefined, verifierSays);
    // the buffers must live until the call returned: they are only reachable through raw addresses
    void [insns, license, log];
    return fd;
  };
  try {
    // without a log: a log that overflows fails the load (ENOSPC) however valid the program
    return load();
  } catch (e) {
    if (!(e instanceof SysError) || e.code === 'EPERM') throw e;
    try {
      return load(Buffer.alloc(4 << 20)); // again, only to say why
    } catch (again) {
      // the first refusal's errno, with the verifier's reason when the second run gave one
      const why = again instanceof SysError && again.message !== e.message ? again.message.replace(/^bpf\(PROG_LOAD\): | \([A-Z0-9]+\)$/g, '') : undefined;
      throw why ? new SysError('bpf(PROG_LOAD)', e.errno, undefined, why) : e;
    }
  }
}

/** The device programs attached to this cgroup directory itself (not its parents'), and how. */
function attachedDevicePrograms(cgroupFd: number, path?: string): { ids: number[]; mode: AttachMode } {
  for (let room = 16; ; room *= 4) {
    const ids = Buffer.alloc(room * 4);
    const attr = Buffer.alloc(32);
    attr.writeUInt32LE(cgroupFd, 0);
    attr.writeUInt32LE(ATTACH_CGROUP_DEVICE, 4);
    attr.writeBigUInt64LE(address(ids), 16);
    attr.writeUInt32LE(room, 24);
    try {
      bpf(CMD.PROG_QUERY, attr, 'PROG_QUERY', path);
    } catch (e) {
      if (e instanceof SysError && e.code === 'ENOSPC' && room < 4096) continue; // more than room: ask again
      throw e;
    }
    const n = attr.readUInt32LE(24);
    const flags = attr.readUInt32LE(12);
    const mode: AttachMode = flags & ATTACH_FLAGS.multi ? 'multi' : flags & ATTACH_FLAGS.override ? 'override' : 'exclusive';
    return { ids: Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4)), mode };
  }
}

/** How many device programs are attached to a cgroup directory, and in which mode. */
export function deviceProgramMode(dir: string): { count: number; mode: AttachMode } {
  return withDir(dir, (cg) => {
    const { ids, mode } = attachedDevicePrograms(cg, dir);
    return { count: ids.length, mode };
  });
}

/** An fd for a loaded program by id (close it). */
function programFd(id: number): number {
  const attr = Buffer.alloc(12);
  attr.writeUInt32LE(id, 0);
  return bpf(CMD.PROG_GET_FD_BY_ID, attr, 'PROG_GET_FD_BY_ID', String(id));
}

/** A loaded program's name (what it was loaded with). */
function programName(fd: number): string {
  const info = Buffer.alloc(80);
  const attr = Buffer.alloc(16);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(info.length, 4);
  attr.writeBigUInt64LE(address(info), 8);
  bpf(CMD.OBJ_GET_INFO_BY_FD, attr, 'OBJ_GET_INFO_BY_FD');
  const name = info.subarray(64, 80);
  return name.toString('latin1', 0, name.indexOf(0) < 0 ? 16 : name.indexOf(0));
}

function attachCall(cmd: number, cgroupFd: number, progFd: number, path: string, mode: AttachMode = 'multi'): void {
  const attr = Buffer.alloc(20);
  attr.writeUInt32LE(cgroupFd, 0);
  attr.writeUInt32LE(progFd, 4);
  attr.writeUInt32LE(ATTACH_CGROUP_DEVICE, 8);
  if (cmd === CMD.PROG_ATTACH) attr.writeUInt32LE(ATTACH_FLAGS[mode], 12);
  bpf(cmd, attr, cmd === CMD.PROG_ATTACH ? 'PROG_ATTACH' : 'PROG_DETACH', path);
}

/** Detach; a program already gone (another `cg devices` detached it meanwhile) is fine. */
function detach(cgroupFd: number, progFd: number, path: string): void {
  try {
    attachCall(CMD.PROG_DETACH, cgroupFd, progFd, path);
  } catch (e) {
    if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
  }
}

function withDir<T>(dir: string, f: (fd: number) => T): T {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return f(fd);
  } finally {
    closeSync(fd);
  }
}

/** The names of the device programs attached to a cgroup directory itself, in order. */
export function devicePrograms(dir: string): string[] {
  return withDir(dir, (cg) =>
    attachedDevicePrograms(cg, dir).ids.map((id) => {
      const fd = programFd(id);
      try {
        return programName(fd);
      } finally {
        closeSync(fd);
      }
    }),
  );
}

/** fds of the programs named `name` attached to the directory (the caller closes them). */
function ownPrograms(cgroupFd: number, dir: string, name: string): number[] {
  const fds: number[] = [];
  try {
    for (const id of attachedDevicePrograms(cgroupFd, dir).ids) {
      let fd: number;
      try {
        fd = programFd(id);
      } catch (e) {
        if (e instanceof SysError && e.code === 'ENOENT') continue; // detached and freed meanwhile
        throw e;
      }
      let ours = false;
      try {
        ours = programName(fd) === name;
      } finally {
        if (ours) fds.push(fd);
        else closeSync(fd);
      }
    }
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
  return fds;
}

/**
 * Make `insns` the cgroup's boxkit device program: load it, attach it, then
 * detach boxkit's earlier one(s). The new program is attached before the
 * old is detached, so no moment allows more than either; other owners'
 * programs (systemd's) stay. Returns how many earlier programs it replaced.
 */
export function setDeviceProgram(dir: string, insns: Buffer, name = DEVICE_PROGRAM_NAME, mode: AttachMode = 'multi'): number {
  return withDir(dir, (cg) => {
    const old = ownPrograms(cg, dir, name);
    try {
      const prog = loadDeviceProgram(insns, name);
      try {
        attachCall(CMD.PROG_ATTACH, cg, prog, dir, mode);
      } finally {
        closeSync(prog);
      }
      // a non-multi attach replaced what was there; a detach would now take the new one
      if (mode === 'multi') for (const fd of old) detach(cg, fd, dir);
      return old.length;
    } finally {
      for (const fd of old) closeSync(fd);
    }
  });
}

/** Detach boxkit's device program(s) from the cgroup; returns how many there were. */
export function clearDeviceProgram(dir: string, name = DEVICE_PROGRAM_NAME): number {
  return withDir(dir, (cg) => {
    const old = ownPrograms(cg, dir, name);
    try {
      for (const fd of old) detach(cg, fd, dir);
      return old.length;
    } finally {
      for (const fd of old) closeSync(fd);
    }
  });
}
