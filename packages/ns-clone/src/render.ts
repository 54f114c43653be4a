/**
 * The child's program as shell lines a user could read (and mostly paste):
 * --dry-run prints them, -v prints them before a real run. One table, one
 * line per op, so adding an op without a rendering fails to compile.
 */
import { CLONE, MS, type OpName, type Step } from '@boxkit/native';
import { shellQuote } from '@boxkit/common/exec';

const MOUNT_FLAGS: [number, string][] = [
  [MS.RDONLY, 'ro'], [MS.NOSUID, 'nosuid'], [MS.NODEV, 'nodev'], [MS.NOEXEC, 'noexec'], [MS.STRICTATIME, 'strictatime'],
];

function renderMount(s: Step): string {
  const [src = '', target = '', fstype = '', data = ''] = s.strs ?? [];
  const flags = Number(s.ints?.[0] ?? 0);
  if (flags & MS.PRIVATE) return `mount --make-${flags & MS.REC ? 'r' : ''}private ${shellQuote([target])}`;
  if (flags & MS.SLAVE) return `mount --make-${flags & MS.REC ? 'r' : ''}slave ${shellQuote([target])}`;
  const opts = [...MOUNT_FLAGS.filter(([f]) => flags & f).map(([, n]) => n), ...(data ? [data] : [])];
  if (flags & MS.REMOUNT) return `mount -o remount,bind${opts.length ? `,${opts.join(',')}` : ''} ${shellQuote([target])}`;
  if (flags & MS.BIND) return `mount --${flags & MS.REC ? 'r' : ''}bind ${shellQuote([src, target])}`;
  return `mount -t ${fstype}${opts.length ? ` -o ${opts.join(',')}` : ''} ${shellQuote([src, target])}`;
}

export function flagNames(flags: number): string {
  const names = Object.entries(CLONE).filter(([, v]) => flags & v).map(([k]) => `CLONE_${k}`);
  return names.length ? names.join('|') : '0';
}

const nsFlag = (n: number) => flagNames(n).replace(/CLONE_NEW/g, '').toLowerCase();
const str = (s: Step, i = 0) => shellQuote([s.strs?.[i] ?? '']);
const int = (s: Step, i = 0) => Number(s.ints?.[i] ?? 0);

const RENDER: Record<OpName, (s: Step) => string> = {
  WAIT_SYNC: () => '# wait until the parent releases the child (sync pipe)',
  WAIT_FIFO: (s) => `read -r _ < ${str(s)}  # wait for setup: released by \`echo > ${s.strs?.[0]}\``,
  SETHOSTNAME: (s) => `hostname ${str(s)}`,
  SETDOMAINNAME: (s) => `domainname ${str(s)}`,
  MOUNT: renderMount,
  UMOUNT: (s) => `umount ${str(s)}`,
  MKDIR: (s) => `mkdir -p -m ${int(s).toString(8)} ${str(s)}`,
  MKNOD: (s) => `mknod ${str(s)} c ${int(s, 1)} ${int(s, 2)}`,
  SYMLINK: (s) => `ln -sfn ${str(s, 0)} ${str(s, 1)}`,
  TOUCH: (s) => `touch ${str(s)}`,
  PIVOT_ROOT: (s) => `cd ${str(s)} && pivot_root . . && umount -l .  # old root detached: no way back`,
  CHROOT: (s) => `chroot ${str(s)}`,
  CHDIR: (s) => `cd ${str(s)}`,
  SETNS: (s) => `nsenter --${nsFlag(int(s)) === 'ns' ? 'mount' : nsFlag(int(s))}=${s.strs?.[0]}  # setns`,
  SETNS_FD: (s) => `# setns(fd ${int(s)}, ${flagNames(int(s, 1))})`,
  NEW_SESSION_KEYRING: () => '# keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a session keyring of its own',
  DUMPABLE: (s) => `# prctl(PR_SET_DUMPABLE, ${int(s)})${int(s) ? '' : ': not dumpable until the exec'}`,
  ALIVE: (s) => `# pidfd_send_signal(fd ${int(s)}, 0): the process the pidfd names is still alive`,
  UNSHARE: (s) => `unshare --${nsFlag(int(s))}`,
  SETSID: () => 'setsid',
  SETGROUPS: (s) => `# setgroups [${(s.ints ?? []).join(',')}]`,
  SETRESGID: (s) => `# setresgid ${int(s)}`,
  SETRESUID: (s) => `# setresuid ${int(s)}`,
  NO_NEW_PRIVS: () => '# prctl(PR_SET_NO_NEW_PRIVS, 1)',
  CAPS: (s) => `# keep capabilities 0x${BigInt(s.ints?.[0] ?? 0).toString(16)} (bounding, permitted, effective, inheritable)`,
  RESET_SIGNALS: () => '# reset signal handlers and mask',
  STDIO_FIX: () => '# clear close-on-exec and O_NONBLOCK on fds 0-2',
  DUP2: (s) => `exec ${int(s, 1)}>&${int(s)}`,
  CLOEXEC_FROM: (s) => `# close fds >= ${int(s)} at exec`,
  SUPERVISE: (s) => (int(s) ? '# fork: a C init stays PID 1 (forwards signals, reaps orphans); CMD runs as PID 2' : '# fork: a supervisor waits for CMD and exits like it'),
  MASK_PATH: (s) => `mount --bind /dev/null ${str(s)}  # or an empty read-only tmpfs for a directory`,
  EXEC: (s) => {
    const argc = int(s);
    const argv = (s.strs ?? []).slice(1, 1 + argc), env = (s.strs ?? []).slice(1 + argc);
    const mine = new Set(Object.entries(process.env).map(([k, v]) => `${k}=${v}`));
    const keeps = env.length >= mine.size && [...mine].every((e) => env.includes(e));
    const extra = keeps ? env.filter((e) => !mine.has(e)) : env;
    return `exec ${keeps ? (extra.length ? 'env ' : '') : 'env -i '}${shellQuote([...extra, ...argv])}`;
  },
  WRITE_FILE: (s) => `echo ${str(s, 1)} > ${str(s)}`,
  SETPGID_FG: () => '# own process group, the terminal\'s foreground group',
  OPEN: (s) => `exec ${int(s)}${int(s, 1) & 3 ? '>' : '<'}${str(s)}`,
  UNLINK: (s) => `rm -f ${str(s)}`,
  LINK_UP: (s) => `ip link set ${str(s)} up`,
  OPEN_TREE: (s) => `# open_tree(${str(s)}, OPEN_TREE_CLONE|AT_RECURSIVE) -> fd ${int(s)}`,
  MOVE_MOUNT: (s) => `# move_mount(fd ${int(s)} -> ${str(s)}): mount --bind, from before pivot_root`,
};

export function renderStep(s: Step): string {
  const line = RENDER[s.op](s);
  return s.optional && !line.startsWith('#') ? `${line} || true` : line;
}
