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
