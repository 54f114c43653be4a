/**
 * The program the clone() child runs: a list of steps decided here and
 * carried out blindly by native/c/trampoline.c. The opcodes and the encoding
 * must match that file.
 */
export const OP = {
  WAIT_SYNC: 1,
  WAIT_FIFO: 2,
  SETHOSTNAME: 3,
  SETDOMAINNAME: 4,
  MOUNT: 5,
  UMOUNT: 6,
  MKDIR: 7,
  MKNOD: 8,
  SYMLINK: 9,
  TOUCH: 10,
  PIVOT_ROOT: 11,
  CHROOT: 12,
  CHDIR: 13,
  SETNS: 14,
  UNSHARE: 15,
  SETSID: 16,
  SETGROUPS: 17,
  SETRESGID: 18,
  SETRESUID: 19,
  NO_NEW_PRIVS: 20,
  CAPS: 21,
  RESET_SIGNALS: 22,
  STDIO_FIX: 23,
  DUP2: 24,
  CLOEXEC_FROM: 25,
  SUPERVISE: 26,
  MASK_PATH: 27,
  EXEC: 28,
  WRITE_FILE: 29,
  SETPGID_FG: 30,
  OPEN: 31,
  UNLINK: 32,
  SETNS_FD: 33,
  NEW_SESSION_KEYRING: 34,
  DUMPABLE: 35,
  ALIVE: 36,
  LINK_UP: 37,
  OPEN_TREE: 38,
  MOVE_MOUNT: 39,
} as const;

export type OpName = keyof typeof OP;
const OP_NAMES = Object.fromEntries(Object.entries(OP).map(([k, v]) => [v, k])) as Record<number, OpName>;
/** A step's name in messages; 0 is the stage program itself failing before the first step. */
export const opName = (op: number): string => (op === 0 ? 'stage' : (OP_NAMES[op]?.toLowerCase().replace(/_/g, '-') ?? `op${op}`));

/** One step: an opcode with integer and string arguments. Optional steps may fail. */
export interface Step {
  op: OpName;
  ints?: (number | bigint)[];
  strs?: string[];
  optional?: boolean;
}

const OPTIONAL = 0x10000;

/** Encode steps as `u32 op | u32 nint | u32 nstr | i64[] | (u32 len, bytes, NUL, pad)[]`. */
export function encodeProgram(steps: readonly Step[]): Buffer {
  const parts: Buffer[] = [];
  for (const step of steps) {
    const ints = step.ints ?? [];
    const strs = step.strs ?? [];
    if (ints.length > 64) throw new RangeError(`step ${step.op}: too many integer arguments`);
    if (strs.length > 4096) throw new RangeError(`step ${step.op}: too many string arguments`);
    const head = Buffer.alloc(12 + 8 * ints.length);
    head.writeUInt32LE(OP[step.op] | (step.optional ? OPTIONAL : 0), 0);
    head.writeUInt32LE(ints.length, 4);
    head.writeUInt32LE(strs.length, 8);
    ints.forEach((v, i) => head.writeBigInt64LE(BigInt(v), 12 + 8 * i));
    parts.push(head);
    for (const s of strs) {
      if (s.includes('\0')) throw new RangeError(`step ${step.op}: NUL byte in argument`);
      const bytes = Buffer.from(s, 'utf8');
      const rec = Buffer.alloc(4 + ((bytes.length + 1 + 3) & ~3));
      rec.writeUInt32LE(bytes.length, 0);
      bytes.copy(rec, 4);
      parts.push(rec);
    }
  }
  return Buffer.concat(parts);
}

/** The exec step: argv[0] is searched in PATH (from env) when it has no '/'. */
export function execStep(argv: readonly string[], env: Record<string, string | undefined>, path = argv[0]): Step {
  if (!argv.length || !path) throw new RangeError('exec: empty command');
  const envp = Object.entries(env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return { op: 'EXEC', ints: [argv.length], strs: [path, ...argv, ...envp] };
}
