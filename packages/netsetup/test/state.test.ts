import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { intentFirst, readState, statePath, updateState, withNetState, type NetState } from '../src/state.js';

const route = { cidr: '10.9.0.0/24', via: '10.0.0.1' };
const onDisk = (): NetState => JSON.parse(readFileSync(statePath(), 'utf8')) as NetState;

describe('withNetState and intentFirst', () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.BOXKIT_STATE_DIR;
    dir = mkdtempSync(join(tmpdir(), 'bk-netstate-'));
    process.env.BOXKIT_STATE_DIR = dir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
    else process.env.BOXKIT_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('a dry run changes a copy and writes nothing, takes no lock, and is told write false', async () => {
    const r = await withNetState({ dryRun: true }, (s, write) => {
      s.routes[route.cidr] = route;
      return write;
    });
    expect(r).toBe(false);
    expect(existsSync(join(dir, 'netsetup'))).toBe(false); // neither state.json nor the lock file
  });

  it('a real run is told write true and writes what it changed when it returns; a throw writes nothing', async () => {
    expect(await withNetState({}, (s, write) => ((s.routes[route.cidr] = route), write))).toBe(true);
    expect(onDisk().routes).toEqual({ [route.cidr]: route });
    await expect(withNetState({}, (s) => {
      delete s.routes[route.cidr];
      throw new Error('no');
    })).rejects.toThrow('no');
    expect(readState().routes).toEqual({ [route.cidr]: route });
  });

  const intent = (s: NetState) => ({ record: () => void (s.routes[route.cidr] = route), undo: () => void delete s.routes[route.cidr] });

  it('intentFirst writes the record before the change runs, and keeps it when the change succeeds', async () => {
    let seen: NetState | undefined;
    await updateState((s) => intentFirst(s, intent(s), async () => {
      seen = onDisk();
    }));
    expect(seen?.routes).toEqual({ [route.cidr]: route });
    expect(onDisk().routes).toEqual({ [route.cidr]: route });
  });

  it('intentFirst undoes the record and writes that when the change fails; a failing undo leaves the record and is the error', async () => {
    await expect(updateState((s) => intentFirst(s, intent(s), async () => {
      throw new Error('kernel said no');
    }))).rejects.toThrow('kernel said no');
    expect(onDisk().routes).toEqual({});
    await expect(updateState((s) => intentFirst(s, { ...intent(s), undo: () => { throw new Error('undo failed'); } }, async () => {
      throw new Error('kernel said no');
    }))).rejects.toThrow('undo failed');
    expect(onDisk().routes).toEqual({ [route.cidr]: route });
  });

  it('intentFirst without an intent runs the change alone and writes nothing', async () => {
    await withNetState({ dryRun: true }, (s) => intentFirst(s, undefined, async () => undefined));
    expect(existsSync(statePath())).toBe(false);
  });
});
