/**
 * Reaping the children the trampoline made. A blocking waitpid through
 * koffi's .async would hold one of libuv's four pool threads per child and
 * stall fs and dns, so children are reaped on SIGCHLD with WNOHANG, only by
 * pid (never -1: that would steal child_process's own children).
 */
import { reapNoHang } from './libc.js';

export type ExitStatus = { code: number; signal?: undefined } | { code?: undefined; signal: number };

const waiting = new Map<number, (s: ExitStatus) => void>();
let keepAlive: NodeJS.Timeout | undefined;
let listening = false;

/** Decode a raw wait status. */
export function decodeStatus(raw: number): ExitStatus {
  const sig = raw & 0x7f;
  return sig === 0 ? { code: (raw >> 8) & 0xff } : { signal: sig };
}

/** The exit status a shell would report: the code, or 128+N for signal N. */
export function shellStatus(s: ExitStatus): number {
  return s.signal !== undefined ? 128 + s.signal : s.code;
}

function sweep(): void {
  for (const [pid, resolve] of waiting) {
    let raw: number | undefined;
    try {
      raw = reapNoHang(pid);
    } catch {
      raw = 0x7f00; // ECHILD: someone else reaped it; report an unknown status
    }
    if (raw === undefined) continue;
    waiting.delete(pid);
    resolve(decodeStatus(raw));
  }
  if (waiting.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** Resolve when the child `pid` (ours, from the trampoline) exits. */
export function waitChild(pid: number): Promise<ExitStatus> {
  if (!listening) {
    process.on('SIGCHLD', sweep);
    listening = true;
  }
  // signal listeners do not keep the loop alive; this ref'd timer does (and
  // doubles as a safety net should a SIGCHLD be coalesced away)
  keepAlive ??= setInterval(sweep, 1000);
  return new Promise((resolve) => {
    waiting.set(pid, resolve);
    sweep(); // it may have exited already
  });
}
