import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forget, list, load, save, liveStatus } from '../src/state/store.js';
import { isGarbage } from '../src/commands/gc.js';
import { checkName, hostVethName } from '../src/state/names.js';
import type { ContainerRecord } from '../src/state/record.js';

let dir = '';
const rec = (name: string, over: Partial<ContainerRecord> = {}): ContainerRecord => ({
  id: '0123456789ab', name, status: 'running', created: new Date().toISOString(), creatorPid: 999999999, command: ['sh'],
  rootfs: '/r', layers: [], mountpoint: '/m', upper: '/u', work: '/w', hostname: name, net: { mode: 'none' }, detach: true,
  autoRemove: false, pid: 999999998, ...over,
});

describe('run: the container store', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'run-state-'));
    process.env.BOXKIT_STATE_DIR = dir;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('saves, lists in creation order, loads and forgets records', () => {
    save(rec('b', { created: '2026-01-02T00:00:00Z' }));
    save(rec('a', { created: '2026-01-01T00:00:00Z' }));
    expect(list().map((r) => r.name)).toEqual(['a', 'b']);
    expect(load('a')!.hostname).toBe('a');
    forget('a');
    forget('a');
    expect(list().map((r) => r.name)).toEqual(['b']);
  });

  it('a running record whose PID 1 is gone reads as exited; gc takes half-made and orphaned --rm ones', () => {
    expect(liveStatus(rec('x'))).toBe('exited');
    expect(isGarbage(rec('x', { status: 'creating' }))).toBe(true);
    expect(isGarbage(rec('x', { autoRemove: true }))).toBe(true);
    expect(isGarbage(rec('x'))).toBe(false);
    expect(isGarbage(rec('x', { status: 'creating', creatorPid: process.pid }))).toBe(false);
  });

  it('names are path-safe and host veth names fit IFNAMSIZ', () => {
    expect(() => checkName('../x')).toThrow();
    expect(() => checkName('a/b')).toThrow();
    expect(checkName('web-1')).toBe('web-1');
    expect(hostVethName('0123456789ab').length).toBeLessThanOrEqual(15);
  });
});
