/**
 * Tests kill netsetup at a named step (BOXKIT_NETSETUP_CRASH_AT=claimed|lease-aside|leased|made
 * in veth, publish-recorded|published in publish, lease-freed in the forget of `down` or of a
 * repeated veth, reclaim in `down` of a host name with no record, between its two takes of the
 * store lock) to check that `down` cleans up after a crash at every step; with
 * BOXKIT_NETSETUP_CRASH_SIGNAL=SIGINT (or another), that signal instead of SIGKILL (SIGSTOP pauses
 * there: a test takes a lock while it is stopped, then sends SIGCONT). Read per call:
 * veth's module is in the startup snapshot, built without the variable.
 */
export function crashPoint(mark: string): void {
  if (process.env.BOXKIT_NETSETUP_CRASH_AT === mark) process.kill(process.pid, (process.env.BOXKIT_NETSETUP_CRASH_SIGNAL as NodeJS.Signals | undefined) ?? 'SIGKILL');
}
