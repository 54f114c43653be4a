/**
 * What a container is, as plain data: the namespaces to make or join, the
 * root filesystem, the id maps, and the command with its environment. The
 * CLI builds one from flags; `run` builds one from its own options. Nothing
 * here touches the kernel.
 */
import type { NamespaceKind } from '@boxkit/native';

/** One line of a uid_map/gid_map: ids inner..inner+count-1 are outer..outer+count-1 outside. */
export interface IdRange {
  inner: number;
  outer: number;
  count: number;
}

/** A namespace file: one to join (setns) or a path to bind-mount a new namespace onto (persist). */
export interface NsPath {
  kind: NamespaceKind;
  path: string;
}

export interface ContainerSpec {
  /** Namespaces to create. */
  namespaces: NamespaceKind[];
  /** The command; argv[0] is searched in the container's PATH when it has no '/'. */
  argv: string[];
  /** The complete environment of the command. */
  env: Record<string, string>;
  hostname?: string;
  domainname?: string;
  /** Root filesystem (absolute host path): bind-mounted and made / with pivot_root. */
  root?: string;
  /** Mount a fresh /proc (of the new PID namespace when there is one). */
  mountProc?: boolean;
  /** A minimal /dev on tmpfs (null zero full random urandom tty pts shm); default with root. */
  dev?: boolean;
  readonlyRoot?: boolean;
  /** Paths inside the container hidden with /dev/null or an empty read-only tmpfs. */
  maskPaths?: string[];
  /** Paths inside the container made read-only (bind remount). */
  readonlyPaths?: string[];
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  /** Existing namespaces to join (setns) instead of creating them, e.g. a named netns. */
  join?: NsPath[];
  /** Bind-mount the new namespace files here so they outlive the process (unshare --net=PATH). */
  persist?: NsPath[];
  /** A C init at PID 1 that forwards signals and reaps orphans; CMD becomes PID 2. */
  init?: boolean;
  /** Working directory inside (default: / with a root, else the current one). */
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Supplementary groups when uid/gid are set (default: none). */
  groups?: number[];
  noNewPrivs?: boolean;
  /** Capabilities to keep (bit mask of CAP numbers); undefined keeps them all, as unshare does. */
  caps?: bigint;
  /** A fifo the child blocks on, before any setup inside, until a byte is written (the setup handshake). */
  waitFifo?: string;
  /** Connect stdin/stdout/stderr to /dev/null (a detached container). */
  nullStdio?: boolean;
  /** Give the container its own process group, made the terminal's foreground group (interactive use). */
  foreground?: boolean;
}

/** The namespace kinds in the order flags are listed and joined (user first: it owns the others). */
export const NS_ORDER: NamespaceKind[] = ['user', 'cgroup', 'ipc', 'uts', 'net', 'pid', 'time', 'mnt'];

/** CLI names of the namespace kinds (`--mount` is the mnt namespace, as in unshare). */
export const NS_FLAGS: Record<string, NamespaceKind> = {
  mount: 'mnt', uts: 'uts', ipc: 'ipc', pid: 'pid', net: 'net', user: 'user', cgroup: 'cgroup', time: 'time',
};
