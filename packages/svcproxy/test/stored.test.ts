import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptState, encode, fromServices, MIXED_RANGE, StaleState, statePath, writeState } from '../src/store.js';
import { storedServices } from '../src/held.js';
import { indexDoc } from '../src/jsondoc.js';
import { DEFAULT_NODEPORT_RANGE, type Service } from '../src/model.js';

/**
 * storedServices() reads the state file only: what it does with a damaged or
 * stale one (throw, never an empty list a caller could build on) is its
 * documented contract; the commands and sync() go to the kernel instead
 * (tests/svcproxy: a library caller's function of the stored services).
 */
describe('storedServices (a library read of the state file)', () => {
  let dir = '';
  const saved = process.env.BOXKIT_STATE_DIR;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'svcproxy-stored-'));
    process.env.BOXKIT_STATE_DIR = dir;
    mkdirSync(join(dir, 'svcproxy'));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
    else process.env.BOXKIT_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const web: Service = { name: 'web', protocol: 'tcp', vip: '10.96.0.1', port: 80, endpoints: [{ ip: '10.88.0.2', port: 8080 }] };

  it('no state: no services; a whole state: its services and backend', () => {
    expect(storedServices('BKSVC')).toEqual({ services: [], nodePortRange: DEFAULT_NODEPORT_RANGE });
    writeState('BKSVC', encode(fromServices('BKSVC', 'legacy', DEFAULT_NODEPORT_RANGE, [web])));
    expect(storedServices('BKSVC')).toMatchObject({ services: [web], backend: 'legacy' });
  });

  it('a damaged file (a byte changed, cut short) throws CorruptState naming it, not an empty list', () => {
    writeState('BKSVC', encode(fromServices('BKSVC', 'nft', DEFAULT_NODEPORT_RANGE, [web])));
    const good = readFileSync(statePath('BKSVC'));
    for (const bad of [Buffer.from(good.toString('latin1').replace('10.88.0.2', '10.88.0.3'), 'latin1'), good.subarray(0, good.length - 5)]) {
      writeFileSync(statePath('BKSVC'), bad);
      expect(() => storedServices('BKSVC')).toThrow(CorruptState);
      expect(() => storedServices('BKSVC')).toThrow(statePath('BKSVC'));
    }
  });

  it("services an older svcproxy stored that today's checks refuse throw StaleState", () => {
    // an endpoint field an older svcproxy ignored
    const bytes = Buffer.from('{"services":[{"name":"web","vip":"10.96.0.1:80","endpoints":[{"ip":"10.88.0.2","port":8080,"weight":1}]}]}\n');
    writeState('BKSVC', encode(fromServices('BKSVC', 'nft', MIXED_RANGE, [web], { bytes, ...indexDoc(bytes)! })));
    expect(() => storedServices('BKSVC')).toThrow(StaleState);
    expect(() => storedServices('BKSVC')).toThrow(/unknown field 'weight'/);
  });
});
