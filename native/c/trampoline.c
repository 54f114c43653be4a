/*
 * boxkit clone() trampoline.
 *
 * Node is multithreaded, so a JavaScript process cannot unshare a user
 * namespace, cannot setns() into a mount namespace, and a fork()ed copy of
 * V8 crashes (its heap is MADV_DONTFORK). This file is the small part that
 * must run single-threaded. It is built twice: as libboxkit.so, whose
 * bk_spawn() Node calls through koffi, and as the stage program bk-stage.
 *
 * bk_spawn() clones with the requested namespace flags plus CLONE_VM |
 * CLONE_VFORK, as posix_spawn does, and the child at once execs bk-stage:
 * no copy of Node's page tables is made or torn down (measured with a 60 MB
 * parent: 0.9 ms against 2.0 ms for a fork-style clone, more under load).
 * (With CLONE_NEWUSER the child is a fork-style clone instead: see
 * spawn_forked().) bk-stage interprets a program of steps that TypeScript encoded (see
 * native/src/program.ts), passed in a memfd. Policy lives in TypeScript;
 * this side carries out the steps blindly and reports the first failure as
 * {errno, step, op} on an error pipe. A successful execve of the command
 * closes that pipe (O_CLOEXEC), which the parent reads as EOF.
 *
 * Program encoding (little endian, 4-byte aligned):
 *   record := u32 op | u32 nint | u32 nstr | i64 ints[nint] | str[nstr]
 *   str    := u32 len (bytes, without NUL) | bytes | NUL | pad to 4
 * The opcodes must match OP in native/src/program.ts (native/test/op-table.test.ts
 * compares the two).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>

enum op {
  OP_WAIT_SYNC = 1,   /* read one byte from the sync pipe; EOF: parent gave up */
  OP_WAIT_FIFO = 2,   /* s0: open a fifo and read one byte (a released pipeline) */
  OP_SETHOSTNAME = 3, /* s0 */
  OP_SETDOMAINNAME = 4,
  OP_MOUNT = 5,       /* s0 src, s1 target, s2 fstype, s3 data ("" = NULL); i0 flags */
  OP_UMOUNT = 6,      /* s0 target; i0 flags */
  OP_MKDIR = 7,       /* s0; i0 mode; EEXIST is fine */
  OP_MKNOD = 8,       /* s0; i0 mode; i1 major; i2 minor; EEXIST is fine */
  OP_SYMLINK = 9,     /* s0 target, s1 link path; EEXIST is fine */
  OP_TOUCH = 10,      /* s0; i0 mode: create an empty file (bind mount target) */
  OP_PIVOT_ROOT = 11, /* s0 new root: pivot_root(".", ".") and detach the old root */
  OP_CHROOT = 12,     /* s0 */
  OP_CHDIR = 13,      /* s0 */
  OP_SETNS = 14,      /* s0 namespace file; i0 nstype */
  OP_UNSHARE = 15,    /* i0 flags (e.g. CLONE_NEWTIME, effective for the next fork) */
  OP_SETSID = 16,
  OP_SETGROUPS = 17,  /* ints: the supplementary groups (none: clear them) */
  OP_SETRESGID = 18,  /* i0 */
  OP_SETRESUID = 19,  /* i0 */
  OP_NO_NEW_PRIVS = 20,
  OP_CAPS = 21,       /* i0 mask of capabilities 0-63 to keep in the bounding/inheritable sets */
  OP_RESET_SIGNALS = 22,
  OP_STDIO_FIX = 23,  /* clear FD_CLOEXEC and O_NONBLOCK on 0-2 */
  OP_DUP2 = 24,       /* i0 from, i1 to */
  OP_CLOEXEC_FROM = 25, /* i0: mark every fd >= i0 close-on-exec */
  OP_SUPERVISE = 26,  /* fork; this process forwards signals, reaps, and exits like the child; i0: 1 = act as init */
  OP_MASK_PATH = 27,  /* s0: hide a file (bind /dev/null) or a directory (empty read-only tmpfs) */
  OP_EXEC = 28,       /* s0 path (searched in PATH when it has no '/'), i0 argc, s1.. argv, rest envp */
  OP_WRITE_FILE = 29, /* s0 path, s1 content */
  OP_SETPGID_FG = 30, /* new process group, made the terminal's foreground group when stdin is a tty */
  OP_OPEN = 31,       /* s0 path; i0 target fd; i1 open flags: open and dup2 onto i0 (e.g. /dev/null for a detached child) */
  OP_UNLINK = 32,     /* s0: remove a file (ENOENT is fine), e.g. a release fifo once it has been read */
  OP_SETNS_FD = 33,   /* i0 fd opened by the parent (inherited through clone); i1 nstype */
  OP_NEW_SESSION_KEYRING = 34, /* a new anonymous session keyring (runc's default); ENOSYS (no keyrings) is fine */
  OP_DUMPABLE = 35,   /* i0: PR_SET_DUMPABLE (0 until the exec, which sets it back, as runc's init) */
  OP_ALIVE = 36,      /* i0 a pidfd opened by the parent: fails (ESRCH) once that process has ended, so what the
                         steps before opened through /proc/PID was that process's, not a later one's with its PID */
  OP_LINK_UP = 37,    /* s0 interface: set it up (lo of a new network namespace, which the kernel makes down) */
  OP_OPEN_TREE = 38,  /* s0 path; i0 target fd; i1 1 = read-only: a detached copy of the mount tree at s0 (open_tree OPEN_TREE_CLONE), kept across pivot_root */
  OP_MOVE_MOUNT = 39, /* i0 an OPEN_TREE fd; s0 target, resolved in the root of now: attach it there, never on /, /proc, /sys or /dev */
};

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define OPF_OPTIONAL 0x10000u /* a failing optional step is skipped */
#define MAX_ARGS 4096
#define MAX_INTS 64

struct report { int32_t err; int32_t step; int32_t op; };

struct child_args {
  const unsigned char *prog;
  size_t len;
  int sync_fd;  /* read end */
  int err_fd;   /* write end, O_CLOEXEC once the stage runs */
  int prog_mapped; /* prog is the stage's own mapping of the memfd */
};

/* a report of a failure before the first step (the stage could not read its program) */
#define OP_STAGE 0

struct rec {
  uint32_t op, nint, nstr;
  int64_t ints[MAX_INTS];
  const char *strs[MAX_ARGS];
};

static size_t parse(const unsigned char *p, size_t len, size_t off, struct rec *r) {
  if (off + 12 > len) return 0;
  memcpy(&r->op, p + off, 4);
  memcpy(&r->nint, p + off + 4, 4);
  memcpy(&r->nstr, p + off + 8, 4);
  off += 12;
  if (r->nint > MAX_INTS || r->nstr > MAX_ARGS || off + 8 * r->nint > len) return 0;
  memcpy(r->ints, p + off, 8 * r->nint);
  off += 8 * r->nint;
  for (uint32_t i = 0; i < r->nstr; i++) {
    uint32_t n;
    if (off + 4 > len) return 0;
    memcpy(&n, p + off, 4);
    off += 4;
    if (off + n + 1 > len) return 0;
    r->strs[i] = (const char *)(p + off);
    off += (n + 1 + 3) & ~3u;
  }
  return off;
}

/* the stage's own command line area, for the init */
static unsigned long g_arg_start, g_arg_end;

/*
 * Where the process's command line lives in memory: fields 48 and 49 of
 * /proc/self/stat (proc(5)). The init (the stage, which never execs)
 * overwrites it, so that ps in the container shows "boxkit-init" rather
 * than the stage's path and file descriptor numbers.
 */
static void cmdline_area(unsigned long *start, unsigned long *end) {
  char buf[4096];
  *start = *end = 0;
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return;
  unsigned long v[2] = { 0, 0 };
  int field = 2; /* the space after ')' starts field 3 */
  for (p++; *p; p++) {
    if (*p != ' ') continue;
    field++;
    if (field == 48 || field == 49) v[field - 48] = strtoul(p + 1, NULL, 10);
  }
  if (v[1] > v[0]) { *start = v[0]; *end = v[1]; }
}

static void report(int fd, int err, int step, int op) {
  struct report r = { err, step, op };
  signal(SIGPIPE, SIG_IGN);
  if (write(fd, &r, sizeof r) < 0) {
    /* nobody listens (a detached container): say it on stderr instead */
    char msg[] = "boxkit trampoline: a setup step failed\n";
    (void)!write(2, msg, sizeof msg - 1);
  }
}

static const char *nul(const char *s) { return s[0] ? s : NULL; }

/* a close in a failure's cleanup: the errno reported stays the failed call's, not the close's */
static void close_keeping_errno(int fd) {
  int e = errno;
  close(fd);
  errno = e;
}

static int read_one(int fd) {
  char c;
  ssize_t n;
  do n = read(fd, &c, 1); while (n < 0 && errno == EINTR);
  if (n == 1) return 0;
  if (n == 0) errno = ECANCELED;
  return -1;
}

static int exec_in_path(struct rec *r) {
  int64_t argc = r->nint ? r->ints[0] : 0;
  if (argc < 1 || argc + 1 > r->nstr) { errno = EINVAL; return -1; }
  char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 1];
  int ne = 0;
  for (int64_t i = 0; i < argc; i++) argv[i] = (char *)r->strs[1 + i];
  argv[argc] = NULL;
  for (uint32_t i = 1 + argc; i < r->nstr; i++) envp[ne++] = (char *)r->strs[i];
  envp[ne] = NULL;
  const char *file = r->strs[0];
  if (strchr(file, '/')) return execve(file, argv, envp);
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (int i = 0; i < ne; i++)
    if (!strncmp(envp[i], "PATH=", 5)) path = envp[i] + 5;
  /* execvpe semantics: EACCES is remembered, ENOENT moves on */
  int seen_eacces = 0;
  size_t fl = strlen(file);
  for (const char *p = path;; p++) {
    const char *e = strchrnul(p, ':');
    char buf[4096];
    size_t dl = (size_t)(e - p);
    if (dl + fl + 2 <= sizeof buf) {
      memcpy(buf, dl ? p : ".", dl ? dl : 1);
      size_t k = dl ? dl : 1;
      buf[k] = '/';
      memcpy(buf + k + 1, file, fl + 1);
      execve(buf, argv, envp);
      if (errno == EACCES) seen_eacces = 1;
      else if (errno != ENOENT && errno != ENOTDIR) return -1;
    }
    if (!*e) break;
    p = e;
  }
  errno = seen_eacces ? EACCES : ENOENT;
  return -1;
}

static int keep_caps(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  }
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) < 0) return -1;
  for (int i = 0; i < 2; i++) {
    uint32_t k = (uint32_t)(keep >> (32 * i));
    d[i].inheritable &= k;
    d[i].permitted &= k;
    d[i].effective &= k;
  }
  if (syscall(SYS_capset, &h, d) < 0) return -1;
  /* ambient capabilities would survive exec for a non-root uid: clear them */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return 0;
}

static int mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
  if (S_ISDIR(st.st_mode))
    return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=755");
  return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

static int write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = strlen(content);
  ssize_t w = write(fd, content, n);
  close_keeping_errno(fd);
  if (w != (ssize_t)n) { if (w >= 0) errno = EIO; return -1; }
  return 0;
}

/*
 * Names the init "boxkit-init" (comm and command line). Called before the
 * fork: named after it, the command could already have run and read
 * /proc/1/comm as "bk-stage" (seen in CI). The child carries the name
 * only until its exec, which replaces both.
 */
static void name_init(void) {
  static const char name[] = "boxkit-init";
  prctl(PR_SET_NAME, name, 0, 0, 0);
  size_t len = g_arg_end - g_arg_start;
  if (g_arg_start && len > sizeof name) {
    memset((void *)g_arg_start, 0, len);
    memcpy((void *)g_arg_start, name, sizeof name);
  }
}

/*
 * The supervisor: the parent half of OP_SUPERVISE. It forwards the signals a
 * user sends to the command, reaps every child (as PID 1 it inherits the
 * orphans of the namespace), and exits the way the command did, like tini.
 */
static void supervise(pid_t child, int as_init) {
  sigset_t all;
  sigfillset(&all); /* already blocked before the fork */
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      if (sig != SIGTTIN && sig != SIGTTOU) kill(child, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
      if (p <= 0) break;
      if (p != child) continue;
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      /* die by the same signal so the status passes through unchanged */
      int s = WTERMSIG(st);
      if (as_init) _exit(128 + s); /* PID 1 cannot be killed by its own signal from inside */
      signal(s, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, s);
      sigprocmask(SIG_UNBLOCK, &one, NULL);
      kill(getpid(), s);
      _exit(128 + s);
    }
  }
}

/*
 * Raw system calls for fork and the set*id calls. The stage is a fresh
 * single-threaded process, but it used to be a clone of Node: a glibc lock
 * that another Node thread held at clone() time stayed locked forever
 * there (glibc's fork() takes the malloc arena locks in its atfork
 * handlers, its set*id() wrappers the thread-list lock: seen as `run --init
 * -u nobody` stuck in a futex). The raw calls are the same system calls
 * without those locks, whoever runs them.
 */
static pid_t raw_fork(void) {
  return (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
}

/*
 * setresuid/setresgid with the parent-death signal kept: the kernel clears
 * it when the effective ids change, and a container whose ns-clone or run
 * was killed must still die (runc restores it the same way).
 */
static int keep_pdeathsig(long nr, int64_t id) {
  int pd = 0;
  prctl(PR_GET_PDEATHSIG, &pd, 0, 0, 0);
  int rc = (int)syscall(nr, (unsigned)id, (unsigned)id, (unsigned)id);
  if (rc == 0 && pd) prctl(PR_SET_PDEATHSIG, pd, 0, 0, 0);
  return rc;
}

/*
 * A detached copy of the mount tree at `path` (open_tree OPEN_TREE_CLONE |
 * AT_RECURSIVE) on fd `to`; read-only as a whole when asked (mount_setattr
 * MOUNT_ATTR_RDONLY, recursive: a mount nested in it too, and its nosuid,
 * nodev, noexec kept), before anyone can see it.
 */
static int open_tree_at(const char *path, int to, int readonly) {
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, 1 /* CLONE */ | O_CLOEXEC | 0x8000 /* AT_RECURSIVE */);
  if (fd < 0) return -1;
  if (readonly) {
    uint64_t attr[4] = { 0x1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0 }; /* struct mount_attr: set, clr, propagation, userns_fd */
    if (syscall(SYS_mount_setattr, fd, "", 0x1000 /* AT_EMPTY_PATH */ | 0x8000 /* AT_RECURSIVE */, attr, sizeof attr) < 0) {
      close_keeping_errno(fd);
      return -1;
    }
  }
  if (fd == to) return 0;
  int rc = dup2(fd, to) < 0 ? -1 : 0;
  close_keeping_errno(fd);
  return rc;
}

/* `p` is `dir` or below it */
static int under(const char *p, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/');
}

/*
 * Attach the tree on fd `tree` at `target`, resolved once (O_PATH, symlinks
 * followed inside the root of now) and attached to that very directory or
 * file (MOVE_MOUNT_T_EMPTY_PATH): an image's symlink can lead it only
 * within the container, and never onto its root (a mount above / is what
 * setns lands on: `run exec` would run in the volume), /proc, /sys or /dev.
 */
static int move_mount_to(int tree, const char *target) {
  int t = open(target, O_PATH | O_CLOEXEC);
  if (t < 0) return -1;
  char link[32], where[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", t);
  ssize_t n = readlink(link, where, sizeof where - 1);
  int rc = -1;
  if (n > 0) {
    where[n] = 0;
    if (strcmp(where, "/") == 0 || under(where, "/proc") || under(where, "/sys") || under(where, "/dev")) errno = EPERM;
    else rc = (int)syscall(SYS_move_mount, tree, "", t, "", 0x04 /* F_EMPTY_PATH */ | 0x40 /* T_EMPTY_PATH */);
  }
  close_keeping_errno(t);
  return rc;
}

/*
 * Every fd from `from` up closed, or marked close-on-exec: close_range(2),
 * or (before Linux 5.9, and its CLOEXEC flag before 5.11: Debian 11's
 * 5.10) the same fd by fd, as /proc/self/fd lists them.
 */
static int fds_from(int from, int cloexec) {
  if (syscall(SYS_close_range, (unsigned)from, ~0u, cloexec ? 4u /* CLOSE_RANGE_CLOEXEC */ : 0u) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return -1;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd < from || fd == self) continue;
    if (cloexec) fcntl(fd, F_SETFD, FD_CLOEXEC);
    else close(fd);
  }
  closedir(d);
  return 0;
}

/* ip link set NAME up, as ifconfig does it (SIOCSIFFLAGS): no netlink needed for one flag */
static int link_up(const char *name) {
  struct ifreq ifr;
  if (strlen(name) >= sizeof ifr.ifr_name) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sk < 0) return -1;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, name);
  int rc = ioctl(sk, SIOCGIFFLAGS, &ifr);
  if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(sk, SIOCSIFFLAGS, &ifr);
  }
  close_keeping_errno(sk);
  return rc;
}

/*
 * pivot_root into `root`, runc's way: no put_old directory is needed or
 * left behind. First the root goes back to the namespace's own (setns into
 * it: what a chroot of the caller hid, e.g. a build chroot or an
 * initramfs's chroot), so pivot_root puts the new root in its place and the
 * detach below takes the whole old tree: from a chrooted caller the old
 * root is only a part of it, and the rest (the host's files) would stay
 * reachable to a chroot-and-".." escape.
 */
static int pivot_into(const char *root) {
  int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int rc = ns < 0 || setns(ns, CLONE_NEWNS) < 0 || fchdir(dir) < 0 ? -1 : 0;
  if (ns >= 0) close_keeping_errno(ns);
  close_keeping_errno(dir);
  if (rc < 0) return -1;
  if (syscall(SYS_pivot_root, ".", ".") < 0) return -1;
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) return -1;
  if (umount2(".", MNT_DETACH) < 0) return -1;
  return chdir("/");
}

/*
 * setns() into the namespace file at `path` (e.g. /proc/PID/ns/net), opened
 * here rather than by the parent: the path resolves in the namespaces the
 * steps before joined (OP_SETNS_FD is for an fd the parent opened).
 */
static int setns_path(const char *path, int nstype) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = setns(fd, nstype);
  close_keeping_errno(fd);
  return rc;
}

/*
 * Every signal back to its default and none blocked: an execve keeps
 * ignored signals and the mask, so without this the command would start
 * with what its Node parent left (Node ignores SIGPIPE).
 */
static int reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  return sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * OP_SUPERVISE: fork; the parent stays behind as the supervisor (it never
 * returns), the child goes on with the steps, because a process cannot
 * enter a PID or time namespace itself, only its children. `as_init` is
 * the step's i0: nonzero when the supervisor is PID 1 of a new PID
 * namespace, and then named boxkit-init and reaping every orphan.
 */
static int supervise_fork(struct child_args *a, int64_t as_init) {
  /* block first, so no signal meant for the command is lost or kills us in between */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  if (as_init) name_init();
  /*
   * A supervisor never execs, so nothing would make it dumpable again: a
   * process of its uid in the container (root there, and with --user a
   * fork of Node, holding a copy of ns-clone's memory and environment)
   * could otherwise ptrace it or read its mem and environ, as runc's init
   * guards against: the init at /proc/1, and a supervisor that is not
   * PID 1 (--time without --pid) at the command's $PPID. Before the fork,
   * not after: the command could run first. The child's execve makes it
   * dumpable again.
   */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* a supervisor that is not PID 1 as a pidfd: the child learns below whether it died too early */
  int watch = as_init ? -1 : (int)syscall(SYS_pidfd_open, getpid(), 0);
  pid_t p = raw_fork();
  if (p < 0) {
    if (watch >= 0) close_keeping_errno(watch);
    return -1;
  }
  if (p > 0) {
    close(a->err_fd); /* the child reports; exec success must read as EOF */
    /* the init keeps nothing of the host: not the program (it holds the environment), no descriptor */
    if (a->prog_mapped) munmap((void *)a->prog, a->len);
    fds_from(3, 0);
    supervise(p, (int)as_init);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /*
   * A supervisor killed between the fork and the line above sent no
   * signal, and the command would run unsupervised (an init's death
   * ends its whole PID namespace instead). getppid() cannot tell: a
   * supervisor outside the PID namespace the child joined reads as 0.
   */
  if (watch >= 0) {
    struct pollfd pf = { watch, POLLIN, 0 };
    int gone = poll(&pf, 1, 0) > 0;
    close(watch);
    if (gone) kill(getpid(), SIGKILL);
  }
  return sigprocmask(SIG_SETMASK, &old, NULL);
}

/*
 * Open `path` onto descriptor `to` (e.g. /dev/null on 0-2 for a detached
 * child): close-on-exec until it is there, so only `to` reaches the command.
 */
static int open_onto(const char *path, int to, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (fd == to) return fcntl(fd, F_SETFD, 0);
  int rc = dup2(fd, to) < 0 ? -1 : 0;
  close_keeping_errno(fd);
  return rc;
}

static int run_step(struct child_args *a, struct rec *r) {
  const char **s = r->strs;
  int64_t *i = r->ints;
  switch (r->op & 0xffff) {
  case OP_WAIT_SYNC: {
    int rc = read_one(a->sync_fd);
    close(a->sync_fd);
    if (rc < 0 && errno == ECANCELED) _exit(125); /* the parent aborted: vanish quietly */
    return rc;
  }
  case OP_WAIT_FIFO: {
    int fd = open(s[0], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = read_one(fd);
    close(fd);
    return rc;
  }
  case OP_SETHOSTNAME: return sethostname(s[0], strlen(s[0]));
  case OP_SETDOMAINNAME: return setdomainname(s[0], strlen(s[0]));
  case OP_MOUNT: return mount(nul(s[0]), s[1], nul(s[2]), (unsigned long)i[0], nul(s[3]));
  case OP_UMOUNT: return umount2(s[0], (int)i[0]);
  case OP_MKDIR: return mkdir(s[0], (mode_t)i[0]) < 0 && errno != EEXIST ? -1 : 0;
  case OP_MKNOD:
    return mknod(s[0], (mode_t)i[0], makedev(i[1], i[2])) < 0 && errno != EEXIST ? -1 : 0;
  case OP_SYMLINK: return symlink(s[0], s[1]) < 0 && errno != EEXIST ? -1 : 0;
  case OP_TOUCH: {
    int fd = open(s[0], O_WRONLY | O_CREAT | O_CLOEXEC, (mode_t)i[0]);
    if (fd < 0) return -1;
    return close(fd);
  }
  case OP_PIVOT_ROOT: return pivot_into(s[0]);
  case OP_CHROOT: return chroot(s[0]);
  case OP_CHDIR: return chdir(s[0]);
  case OP_SETNS: return setns_path(s[0], (int)i[0]);
  case OP_UNSHARE: return unshare((int)i[0]);
  case OP_SETSID: return setsid() < 0 ? -1 : 0;
  case OP_SETGROUPS: {
    gid_t g[MAX_INTS];
    for (uint32_t k = 0; k < r->nint; k++) g[k] = (gid_t)i[k];
    return (int)syscall(SYS_setgroups, (size_t)r->nint, g);
  }
  /* raw syscalls, not glibc's wrappers: see raw_fork() */
  case OP_SETRESGID: return keep_pdeathsig(SYS_setresgid, i[0]);
  case OP_SETRESUID: return keep_pdeathsig(SYS_setresuid, i[0]);
  case OP_NO_NEW_PRIVS: return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  case OP_CAPS: return keep_caps((uint64_t)i[0]);
  case OP_RESET_SIGNALS: return reset_signals();
  case OP_STDIO_FIX:
    for (int fd = 0; fd < 3; fd++) {
      int fl = fcntl(fd, F_GETFL);
      if (fl < 0) continue; /* a closed std fd stays closed */
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      fcntl(fd, F_SETFD, 0);
    }
    return 0;
  case OP_DUP2: return dup2((int)i[0], (int)i[1]) < 0 ? -1 : 0;
  case OP_CLOEXEC_FROM: return fds_from((int)i[0], 1);
  case OP_SUPERVISE: return supervise_fork(a, i[0]);
  case OP_MASK_PATH: return mask_path(s[0]);
  case OP_EXEC: return exec_in_path(r);
  case OP_WRITE_FILE: return write_file(s[0], s[1]);
  case OP_OPEN: return open_onto(s[0], (int)i[0], (int)i[1]);
  case OP_UNLINK: return unlink(s[0]) < 0 && errno != ENOENT ? -1 : 0;
  case OP_SETNS_FD: return setns((int)i[0], (int)i[1]);
  case OP_ALIVE: return (int)syscall(SYS_pidfd_send_signal, (int)i[0], 0, NULL, 0);
  case OP_LINK_UP: return link_up(s[0]);
  case OP_OPEN_TREE: return open_tree_at(s[0], (int)i[0], r->nint > 1 && i[1]);
  case OP_MOVE_MOUNT: return move_mount_to((int)i[0], s[0]);
  case OP_DUMPABLE: return prctl(PR_SET_DUMPABLE, (unsigned long)i[0], 0, 0, 0);
  case OP_NEW_SESSION_KEYRING:
    /* KEYCTL_JOIN_SESSION_KEYRING (1) with no name: the caller's session keyring (root's keys on the host) stays out of reach */
    return syscall(SYS_keyctl, 1, NULL) < 0 && errno != ENOSYS ? -1 : 0;
  case OP_SETPGID_FG:
    if (setpgid(0, 0) < 0) return -1;
    if (isatty(0)) {
      signal(SIGTTOU, SIG_IGN);
      if (tcsetpgrp(0, getpgrp()) < 0) return -1;
      signal(SIGTTOU, SIG_DFL);
    }
    return 0;
  }
  errno = ENOSYS;
  return -1;
}

static int run_program(struct child_args *a) {
  static struct rec r;
  size_t off = 0;
  int step = 0;
  while (off < a->len) {
    size_t next = parse(a->prog, a->len, off, &r);
    if (!next) { report(a->err_fd, EINVAL, step, 0); _exit(125); }
    if (run_step(a, &r) < 0 && !(r.op & OPF_OPTIONAL)) {
      report(a->err_fd, errno, step, (int)(r.op & 0xffff));
      _exit(125);
    }
    off = next;
    step++;
  }
  _exit(0); /* a program without OP_EXEC: setup only */
}

/* Descriptors of the parent a program names (OP_SETNS_FD, OP_DUP2 sources, OP_ALIVE): they must survive the stage's execve. */
static int program_fds(const unsigned char *prog, size_t len, int *out, int max) {
  struct rec *r = malloc(sizeof *r); /* ~33 KB: not on a Node thread's stack */
  if (!r) return -1;
  int n = 0;
  for (size_t off = 0; off < len && n < max;) {
    size_t next = parse(prog, len, off, r);
    if (!next) break;
    uint32_t op = r->op & 0xffff;
    if ((op == OP_SETNS_FD || op == OP_DUP2 || op == OP_ALIVE) && r->nint > 0 && r->ints[0] >= 0) out[n++] = (int)r->ints[0];
    off = next;
  }
  free(r);
  return n;
}

#ifdef BK_STAGE
/*
 * bk-stage PROG_FD SYNC_FD ERR_FD PDEATHSIG CLOEXEC_MASK: run the program
 * in PROG_FD (a memfd). Started only by bk_spawn(), which cleared
 * close-on-exec on the descriptors it passes, on 0-2 and on those the
 * program names (OP_SETNS_FD, OP_DUP2); they get it back here as they had
 * it (CLOEXEC_MASK, hex: bits 0-2 for 0-2, bit 3 + k for the k-th named
 * one), so the command's execve closes the error pipe and the process
 * looks as if it had been cloned.
 */
int main(int argc, char **argv) {
  if (argc != 6) {
    static const char msg[] = "bk-stage: started by boxkit's bk_spawn() only\n";
    (void)!write(2, msg, sizeof msg - 1);
    return 125;
  }
  int prog_fd = atoi(argv[1]);
  struct child_args a = { NULL, 0, atoi(argv[2]), atoi(argv[3]), 1 };
  int pdeathsig = atoi(argv[4]);
  if (pdeathsig) prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0);
  unsigned long long mask = strtoull(argv[5], NULL, 16);
  fcntl(a.sync_fd, F_SETFD, FD_CLOEXEC);
  fcntl(a.err_fd, F_SETFD, FD_CLOEXEC);
  for (int fd = 0; fd < 3; fd++)
    if (mask & (1ull << fd)) fcntl(fd, F_SETFD, FD_CLOEXEC);
  /* bk_spawn() blocked every signal around the clone; the mask survived exec */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  cmdline_area(&g_arg_start, &g_arg_end);
  struct stat st;
  if (fstat(prog_fd, &st) < 0) { report(a.err_fd, errno, 0, OP_STAGE); _exit(125); }
  a.len = (size_t)st.st_size;
  void *p = a.len ? mmap(NULL, a.len, PROT_READ, MAP_PRIVATE, prog_fd, 0) : NULL;
  if (p == MAP_FAILED) { report(a.err_fd, errno, 0, OP_STAGE); _exit(125); }
  close(prog_fd);
  a.prog = p;
  int named[64];
  int n = program_fds(a.prog, a.len, named, 64 - 3);
  for (int k = 0; k < n; k++)
    if (mask & (1ull << (3 + k))) fcntl(named[k], F_SETFD, FD_CLOEXEC);
  return run_program(&a);
}
#else

/* What the vfork child needs: it shares the parent's memory until its execve. */
struct vfork_args {
  const char *stage;
  int pdeathsig;
  char **argv;
  const int *keep; /* descriptors that must survive the execve: the stage's three, then those the program names */
  int nkeep;
  int err;         /* written by the child: why the execve failed */
};

static int vfork_child(void *arg) {
  struct vfork_args *v = arg;
  /* which of 0-2 and of the named descriptors (bit 3 + k) were close-on-exec: the stage marks them again */
  unsigned long long mask = 0;
  for (int fd = 0; fd < 3; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) mask |= 1ull << fd;
    if (fl >= 0) fcntl(fd, F_SETFD, 0);
  }
  for (int k = 0; k < v->nkeep; k++) {
    int fl = fcntl(v->keep[k], F_GETFD);
    if (k >= 3 && fl >= 0 && (fl & FD_CLOEXEC)) mask |= 1ull << k;
    fcntl(v->keep[k], F_SETFD, 0);
  }
  /* no snprintf here: this child must not take the locks a stdio call may take */
  char *p = v->argv[5];
  for (int i = 15; i >= 0; i--, mask >>= 4) p[i] = "0123456789abcdef"[mask & 15];
  p[16] = 0;
  /* set before the exec, which keeps it: bk_spawn() returns only after the exec,
     and a parent killed right then must still take the child with it */
  if (v->pdeathsig) prctl(PR_SET_PDEATHSIG, v->pdeathsig, 0, 0, 0);
  static char *const envp[] = { NULL };
  execve(v->stage, v->argv, envp);
  v->err = errno;
  _exit(127);
}

/*
 * The user namespace case: the stage cannot be used there, because an
 * execve before the parent has written the uid map runs with an unmapped
 * uid and drops every capability. So the child is a fork-style clone of
 * this process (its own copy of the memory) that runs the program itself.
 */
struct fork_args {
  struct child_args a;
  int parent_fds[2]; /* the parent's ends: the child closes its copies */
  int pdeathsig;
};

static int fork_child(void *arg) {
  struct fork_args *f = arg;
  /* without this, a parent that gives up could never make WAIT_SYNC see EOF */
  close(f->parent_fds[0]);
  close(f->parent_fds[1]);
  if (f->pdeathsig) prctl(PR_SET_PDEATHSIG, f->pdeathsig, 0, 0, 0);
  /*
   * A copy of Node carries Node's signal handlers: a SIGTERM forwarded to
   * a child held at its setup ran Node's handler here, which wrote to the
   * signal pipe it shares with Node, so the child lived on and ns-clone
   * saw its own SIGTERM again. What an execve would do: handled signals
   * back to their default (ignored ones stay ignored), then the mask that
   * spawn_forked() set around the clone lifted, as the stage does.
   */
  struct sigaction sa;
  for (int sig = 1; sig < _NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0) continue;
    if (sa.sa_handler == SIG_IGN || sa.sa_handler == SIG_DFL) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, NULL);
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  cmdline_area(&g_arg_start, &g_arg_end);
  return run_program(&f->a);
}

static pid_t spawn_forked(uint64_t flags, const unsigned char *prog, size_t len, int pdeathsig, int sync_p[2], int err_p[2]) {
  size_t stack_size = 1 << 20;
  void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  /* no CLONE_VM: the child gets a copy-on-write copy of `f` and of the program */
  struct fork_args f = { { prog, len, sync_p[0], err_p[1], 0 }, { sync_p[1], err_p[0] }, pdeathsig };
  /* no handler of Node's may run in the child before fork_child() has reset them */
  uint64_t all = ~(uint64_t)0, old = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
  pid_t pid = clone(fork_child, (char *)stack + stack_size, (int)(flags | SIGCHLD), &f);
  int e = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
  munmap(stack, stack_size);
  errno = e;
  return pid;
}

static pid_t spawn_staged(uint64_t flags, const unsigned char *prog, size_t len, int pdeathsig, int sync_p[2], int err_p[2], const char *stage, int *stage_failed) {
  /* MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL (kernels before 6.3 refuse the last: retry without) */
  int prog_fd = (int)syscall(SYS_memfd_create, "boxkit-program", 0x1u | 0x2u | 0x8u);
  if (prog_fd < 0 && errno == EINVAL) prog_fd = (int)syscall(SYS_memfd_create, "boxkit-program", 0x1u | 0x2u);
  if (prog_fd < 0) return -1;
  pid_t pid = -1;
  int e = 0;
  for (size_t off = 0; off < len;) {
    ssize_t w = write(prog_fd, prog + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) goto out;
    off += (size_t)w;
  }
  /* the stage maps what was written here: nothing may change it from now on */
  fcntl(prog_fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  char a1[16], a2[16], a3[16], a4[16], a5[17] = "0";
  snprintf(a1, sizeof a1, "%d", prog_fd);
  snprintf(a2, sizeof a2, "%d", sync_p[0]);
  snprintf(a3, sizeof a3, "%d", err_p[1]);
  snprintf(a4, sizeof a4, "%d", pdeathsig);
  char *argv[] = { "bk-stage", a1, a2, a3, a4, a5, NULL };
  int keep[64] = { prog_fd, sync_p[0], err_p[1] };
  int named = program_fds(prog, len, keep + 3, 64 - 3);
  if (named < 0) { errno = ENOMEM; goto out; }
  struct vfork_args v = { stage, pdeathsig, argv, keep, 3 + named, 0 };
  size_t stack_size = 64 << 10;
  void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) goto out;
  /* the child runs on this process's memory until its execve: no handler of Node's may run there */
  /* every signal, glibc's internal ones (32, 33) too: a raw call, as posix_spawn makes */
  uint64_t all = ~(uint64_t)0, old = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
  pid = clone(vfork_child, (char *)stack + stack_size, (int)(flags | CLONE_VM | CLONE_VFORK | SIGCHLD), &v);
  e = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
  munmap(stack, stack_size);
  if (pid > 0 && v.err) { /* the stage could not be executed */
    int st;
    while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {}
    pid = -1;
    e = v.err;
    *stage_failed = 1;
  }
  errno = e;
out:
  close_keeping_errno(prog_fd);
  return pid;
}

/*
 * Clone a child with `flags` (CLONE_NEW*) that runs `prog`: through the
 * stage program at path `stage`, or fork-style with CLONE_NEWUSER.
 * out_fds[0]: write end of the sync pipe (write a byte to release the child);
 * out_fds[1]: read end of the error pipe (EOF: exec happened; 12 bytes: a report);
 * out_fds[2]: on failure, 1 when the stage program could not be executed.
 * Returns the child's pid, or -errno.
 */
int bk_spawn(uint64_t flags, const unsigned char *prog, uint64_t len, int pdeathsig, int out_fds[3], const char *stage) {
  out_fds[2] = 0;
  int sync_p[2], err_p[2];
  if (pipe2(sync_p, O_CLOEXEC) < 0) return -errno;
  if (pipe2(err_p, O_CLOEXEC) < 0) {
    close_keeping_errno(sync_p[0]);
    close_keeping_errno(sync_p[1]);
    return -errno;
  }
  pid_t pid = flags & CLONE_NEWUSER
    ? spawn_forked(flags, prog, (size_t)len, pdeathsig, sync_p, err_p)
    : spawn_staged(flags, prog, (size_t)len, pdeathsig, sync_p, err_p, stage, &out_fds[2]);
  int e = errno ? errno : EIO;
  close(sync_p[0]);
  close(err_p[1]);
  if (pid < 0) {
    close(sync_p[1]);
    close(err_p[0]);
    return -e;
  }
  out_fds[0] = sync_p[1];
  out_fds[1] = err_p[0];
  return pid;
}

/* Non-blocking reap of one known child: pid when reaped (status in *status), 0 while running, -errno. */
int bk_reap(int pid, int *status) {
  int rc = waitpid(pid, status, WNOHANG | __WALL);
  return rc < 0 ? -errno : rc;
}
#endif
