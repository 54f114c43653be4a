/**
 * Block the thread for `ms` milliseconds (no event loop turns): for the
 * short waits of synchronous code (a lock or a marker held by another
 * process, a pipe that is full). Atomics.wait on a fresh buffer nobody
 * notifies returns after the timeout.
 */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
