/**
 * What was asked for, kept in the state dir (one file per chain prefix) and
 * changed only under a lock. The kernel stays the truth: a reconciling sync
 * reads iptables-save; the stored services are what a partial sync trusts.
 */
import { existsSync } from 'node:fs';
import { atomicWrite, readJson, stateDir, withLock, removeFile } from '@boxkit/common/state';
import type { PortRange, Service } from './model.js';
import type { Backend } from './backend.js';

export interface StoredState {
  version: 1;
  prefix: string;
  backend: Backend;
  nodePortRange?: PortRange;
  services: Service[];
  /** each service's entry in the applied file as JSON, in order (apply reuses the checked service of an identical entry); only from apply */
  raw?: string[];
}

export const statePath = (prefix: string): string => stateDir('svcproxy', `${prefix}.json`);

export function stateExists(prefix: string): boolean {
  return existsSync(statePath(prefix));
}

export function loadState(prefix: string): StoredState | undefined {
  return readJson<StoredState>(statePath(prefix));
}

export function saveState(s: StoredState): void {
  writeState(s.prefix, stateJson(s));
}

/** The state file's text (made apart from writing it, so a sync can make it while iptables-restore commits). */
export function stateJson(s: StoredState): string {
  // one line: at 10k services the indented form is twice the size and time
  return `${JSON.stringify(s)}\n`;
}

export function writeState(prefix: string, text: string): void {
  atomicWrite(statePath(prefix), text);
}

export function dropState(prefix: string): void {
  removeFile(statePath(prefix));
}

export function locked<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  return withLock(stateDir('svcproxy', `${prefix}.lock`), fn);
}
