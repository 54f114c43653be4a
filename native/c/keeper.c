/*
 * bk-keeper: what a `run -d` container's keeper becomes once the container
 * runs (see packages/run/src/container/keeper.ts). The keeper is a whole
 * Node (~14 MB of private memory) that from then on only waits for its
 * child, the container's PID 1, to end; as docker's containerd-shim and
 * podman's conmon do, that waiting is left to this small program instead.
 * The Node keeper execve()s into it: the same pid, so the container stays
 * its child (only a parent learns the exit status) and the keeper's
 * identity in the record (pid and start time) still holds. When the child
 * ends, this program execve()s back into the run bin, which records the
 * end (or removes a --rm container).
 *
 *   bk-keeper TITLE keeper/2 PID LOCK FINISH RECORD EXIT TAG PROGRAM [ARGS...]
 *
 * keeper/2 names this layout: a binary of another build refuses a command
 * line of another layout (exit 2) instead of writing a status over a path
 * it takes for its exit file (the record, when the fields moved).
 * TITLE is what ps shows (argv[0], and the comm the kernel keeps); PID is
 * the child to wait for; PROGRAM ARGS... is run at its end with two more
 * arguments: its status as a shell reports it (the code, or 128+N for
 * signal N), or "-" when there is none to report (not a child of ours),
 * and the fd holding the FINISH lock (or "-").
 * When the file RECORD (the container's record) is gone by then there is
 * nothing to record: it exits without starting PROGRAM (a Node start, ~40
 * ms of CPU). It looks under a shared flock of LOCK (the store's lock): a
 * run rm -f kills the container under that lock and removes the record
 * before it lets go, so the keeper of a container rm -f ended finds it gone.
 *
 * The status must not live only in this process and PROGRAM's argv: when
 * PROGRAM cannot start (a Node whose startup blob was rebuilt or removed
 * meanwhile, ENOMEM) it would be lost for good. So, as conmon's exit files,
 * while it holds that shared flock and the record is there it first writes
 * "TAG STATUS" to the file EXIT (aside, then renamed over it), which
 * PROGRAM, or whoever later notices the end, reads; whoever removes the
 * record removes EXIT too, under the store's lock. TAG (the container's id)
 * tells the file apart from one of an older container of the same name.
 *
 * Nothing of the Node keeper must outlive the exec but what this needs:
 * it passes no fd above 2 (all close-on-exec by then; this program closes
 * any that came through all the same), and this program sets its own stdio (/dev/null: nobody reads a keeper's output) and
 * signals (Node ignores SIGPIPE and SIGXFSZ; ignored stays ignored across
 * exec). It leaves no_new_privs, the cgroup and the session as they are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL "keeper/2"

static void say(const char *msg) {
  /* stderr is /dev/null when run by a keeper: only a person starting it by hand sees this */
  ssize_t rc = write(2, msg, strlen(msg));
  (void)rc;
}

/* nothing above 2: the Node keeper's exec closed its own (close-on-exec), but a caller's slipped through must not live as long as the container */
static void close_others(void) {
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
  for (int fd = 3; fd < 1024; fd++) close(fd);
}

/* fds 0-2 on /dev/null, whatever they were (a keeper's stdin is run -d's pipe; Node made them close-on-exec) */
static void null_stdio(void) {
  int fd = open("/dev/null", O_RDWR);
  if (fd < 0) return;
  for (int i = 0; i < 3; i++)
    if (fd != i) dup2(fd, i);
  if (fd > 2) close(fd);
}

/*
 * Every signal to its default, but SIGINT and SIGHUP ignored, then none
 * blocked (in that order: one pending meets its new disposition). In a
 * session of its own with no terminal, bk-keeper gets those two only from
 * `run -d`, passing on a Ctrl-C that came before it had read the keeper's
 * report: the container has started by then, and a waiter killed by it
 * would leave the container's end unrecorded. SIGTERM still ends it.
 */
static void default_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  /* (SIGKILL, SIGSTOP and the C library's own signals refuse: nothing to undo there) */
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * What ps shows: the title alone, as Node's process.title did (the kernel
 * reads /proc/PID/cmdline from the argument area, so the rest of it is
 * zeroed after its strings are copied), and the title as comm.
 */
static char **retitle(int argc, char **argv) {
  char **copy = calloc((size_t)argc + 3, sizeof *copy);
  if (!copy) return NULL;
  for (int i = 0; i < argc; i++)
    if (!(copy[i] = strdup(argv[i]))) return NULL;
  char *end = argv[argc - 1] + strlen(argv[argc - 1]);
  char *after = argv[0] + strlen(argv[0]);
  if (end > after) memset(after, 0, (size_t)(end - after));
  prctl(PR_SET_NAME, argv[0], 0, 0, 0);
  return copy;
}

/*
 * "TAG STATUS\n" into `path`, whole or not at all: written aside (a name of
 * this pid's) and renamed over it. A failure leaves it to PROGRAM's argument.
 */
static int write_exit(const char *path, const char *tag, const char *status) {
  char tmp[4096], line[256];
  int n = snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
  int len = snprintf(line, sizeof line, "%s %s\n", tag, status);
  if (n < 0 || (size_t)n >= sizeof tmp || len < 0 || (size_t)len >= sizeof line) return 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return 0;
  int ok = write(fd, line, (size_t)len) == len;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) < 0) {
    unlink(tmp);
    return 0;
  }
  return 1;
}

/* Seconds to wait for the finish lock: $BOXKIT_KEEPER_FINISH_WAIT, else 30. */
static unsigned finish_wait(void) {
  const char *v = getenv("BOXKIT_KEEPER_FINISH_WAIT");
  char *end;
  unsigned long s = v && *v ? strtoul(v, &end, 10) : 0;
  return v && *v && !*end && s > 0 && s < 86400 ? (unsigned)s : 30;
}

/*
 * An exclusive flock of `path`, its fd left open across exec (PROGRAM holds it on), or -1.
 * Waited for a while only: a finish stuck behind something outside boxkit (the xtables
 * lock, a hung mount) must not hold every other container's end back for as long; past
 * it, PROGRAM records this end without the lock. Tried every 20 ms against a monotonic
 * deadline (no signal: an alarm that fired before flock blocked would be lost).
 */
static int finish_lock(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
  if (fd < 0) return -1;
  struct timespec now, step = {0, 20 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long deadline = (now.tv_sec + (long long)finish_wait()) * 1000000000LL + now.tv_nsec;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec * 1000000000LL + now.tv_nsec >= deadline) break;
    nanosleep(&step, NULL);
  }
  close(fd);
  return -1;
}

/* Is `path` still the exit file this keeper wrote ("TAG ...")? When it cannot tell, yes. */
static int still_ours(const char *path, const char *tag) {
  char buf[256];
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno != ENOENT;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) return 1;
  buf[n] = 0;
  size_t len = strlen(tag);
  return strncmp(buf, tag, len) == 0 && buf[len] == ' ';
}

int main(int argc, char **argv) {
  if (argc < 10 || strcmp(argv[1], PROTOCOL) != 0) {
    say("usage: bk-keeper TITLE " PROTOCOL " PID LOCK FINISH RECORD EXIT TAG PROGRAM [ARGS...] (run by run -d's keeper only)\n");
    return 2;
  }
  /* the protocol word checked, the rest as before it: TITLE PID LOCK ... (argv[0] stays the title) */
  argv[1] = argv[0];
  argv++;
  argc--;
  char *endp;
  errno = 0;
  long pid = strtol(argv[1], &endp, 10);
  if (errno || *endp || pid <= 0) {
    say("bk-keeper: PID must be a process id\n");
    return 2;
  }
  close_others();
  null_stdio();
  default_signals();
  char **args = retitle(argc, argv);
  if (!args) return 1;

  /*
   * Wait for every child, not only PID: a child the Node keeper had not
   * reaped yet would stay a zombie here for the container's whole life.
   * ECHILD (PID is no child of ours) ends the wait without a status.
   */
  char status[16] = "-";
  for (;;) {
    int st;
    pid_t got = waitpid(-1, &st, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    if (got != (pid_t)pid) continue;
    if (WIFEXITED(st)) snprintf(status, sizeof status, "%d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(status, sizeof status, "%d", 128 + WTERMSIG(st));
    break;
  }

  /* (the record is replaced by rename when it changes: never missing while it exists) */
  int lock = open(args[2], O_RDONLY | O_CLOEXEC);
  if (lock >= 0)
    while (flock(lock, LOCK_SH) < 0 && errno == EINTR) {}
  int gone = access(args[4], F_OK) < 0 && errno == ENOENT;
  int wrote = !gone && status[0] != '-' && write_exit(args[5], args[6], status);
  if (lock >= 0) close(lock);
  if (gone) return 0;
  int held = finish_lock(args[3]);
  if (wrote && !still_ours(args[5], args[6])) return 0;
  /* PROGRAM ARGS... STATUS FD */
  char fd[16] = "-";
  if (held >= 0) snprintf(fd, sizeof fd, "%d", held);
  char **next = args + 7;
  next[argc - 7] = status;
  next[argc - 6] = fd;
  next[argc - 5] = NULL;
  /* the program that records the end starts with every signal at its default (ignored ones stay so across exec) */
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  execv(next[0], next);
  say("bk-keeper: cannot run the program that records the end\n");
  return 127;
}
