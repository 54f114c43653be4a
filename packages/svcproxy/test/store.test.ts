import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptState, loadState } from '../src/store.js';

describe('a state of the first format (PREFIX.json)', () => {
  let dir = '';
  const saved = process.env.BOXKIT_STATE_DIR;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'svcproxy-store-'));
    process.env.BOXKIT_STATE_DIR = dir;
    mkdirSync(join(dir, 'svcproxy'));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
    else process.env.BOXKIT_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const v1 = (text: string) => writeFileSync(join(dir, 'svcproxy', 'BKSVC.json'), text);

  it.each([
    ['cut short', '{"version":1,"prefix":"BKSVC","backend":"nft","services":[{"name":"a"', /not JSON/],
    ['null', 'null', /not a svcproxy state/],
    ['no services', '{"version":1,"prefix":"BKSVC","backend":"nft"}', /not a svcproxy state/],
    ['an entry that is not a service', '{"version":1,"prefix":"BKSVC","backend":"nft","services":[1]}', /not a svcproxy state/],
    ['an unknown backend', '{"version":1,"prefix":"BKSVC","backend":"x","services":[]}', /not a svcproxy state/],
  ])('damaged (%s): CorruptState, not a SyntaxError or TypeError', (_what, text, why) => {
    v1(text);
    let err: unknown;
    try {
      loadState('BKSVC');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptState);
    expect((err as Error).message).toMatch(why);
  });

  it('whole: read', () => {
    v1(JSON.stringify({ version: 1, prefix: 'BKSVC', backend: 'nft', services: [{ name: 'a', protocol: 'tcp', vip: '10.96.0.1', port: 80, endpoints: [{ ip: '10.88.0.2', port: 8080 }] }] }));
    expect(loadState('BKSVC')).toMatchObject({ backend: 'nft', starts: Uint32Array.from([13]) });
  });

  it('none: undefined', () => {
    expect(loadState('BKSVC')).toBeUndefined();
  });
});

describe('the state file (svcproxy-state 2)', () => {
  it('a state of no services reads back (its CRC is not 0: zlib answers 0 for an empty buffer with no data pointer)', async () => {
    const { decode, encode, fromServices } = await import('../src/store.js');
    const { DEFAULT_NODEPORT_RANGE } = await import('../src/model.js');
    for (const services of [[], [{ name: 'a', protocol: 'tcp' as const, vip: '10.96.0.1', port: 80, endpoints: [] }]]) {
      const bytes = encode(fromServices('BKSVC', 'nft', DEFAULT_NODEPORT_RANGE, services));
      expect(bytes.toString('latin1', 0, bytes.indexOf(10))).not.toMatch(/ 00000000$/);
      expect(decode(bytes, 'f').starts.length).toBe(services.length);
    }
  });
});

describe('a state an older svcproxy stored, which today\'s checks refuse', () => {
  const older = async (doc: string) => {
    const { fromServices } = await import('../src/store.js');
    const { indexDoc } = await import('../src/jsondoc.js');
    const { DEFAULT_NODEPORT_RANGE } = await import('../src/model.js');
    const bytes = Buffer.from(doc);
    const svc = (name: string, vip: string) => ({ name, protocol: 'tcp' as const, vip, port: 80, endpoints: [{ ip: '10.88.0.2', port: 8080 }] });
    return fromServices('BKSVC', 'nft', DEFAULT_NODEPORT_RANGE, [svc('a', '10.96.0.1'), svc('b', '10.96.0.1')], { bytes, ...indexDoc(bytes)! });
  };

  it('reading it whole or one entry is a StaleState (a sync then reconciles with the kernel), not a usage error', async () => {
    const { StaleState, storedEntry, storedList } = await import('../src/store.js');
    const s = await older('{"services":[{"name":"a","vip":"10.96.0.1:80","endpoints":[{"ip":"10.88.0.2","port":8080,"weight":1}]},{"name":"b","vip":"10.96.0.2:80","endpoints":["10.88.0.2:8080"]}]}');
    expect(() => storedList(s)).toThrow(StaleState);
    expect(() => storedList(s)).toThrow(/do not pass today's checks \(service 'a': endpoint 1: unknown field 'weight'\): an older svcproxy stored them$/);
    expect(() => storedEntry(s, 0)).toThrow(StaleState);
    expect(storedEntry(s, 1).name).toBe('b');
  });

  it('add checks the new service against the stored ones, not two stored ones against each other (an older add let them share a VIP)', async () => {
    const { addWanted } = await import('../src/edit.js');
    const s = await older('{"services":[{"name":"a","vip":"10.96.0.1:80","endpoints":["10.88.0.2:8080"]},{"name":"b","vip":"10.96.0.1:80","endpoints":["10.88.0.2:8080"]}]}');
    const svc = (vip: string) => ({ name: 'c', protocol: 'tcp' as const, vip, port: 80, endpoints: [] });
    const w = addWanted(svc('10.96.0.3'));
    expect((await w.services(w.doc(s), s)).services.map((x) => x.name)).toEqual(['a', 'b', 'c']);
    const clash = addWanted(svc('10.96.0.1'));
    await expect(clash.services(clash.doc(s), s)).rejects.toThrow("service 'c': tcp 10.96.0.1:80 is also used by 'a'");
  });
});
