import { describe, expect, it } from 'vitest';
import { parseDocument, toServices } from '../src/spec.js';
import { parseRange } from '../src/model.js';

const ok = async (text: string, range?: string) => toServices(await parseDocument(text, 'f'), range ? parseRange(range) : undefined);
const bad = async (text: string, range?: string) => {
  try {
    await ok(text, range);
  } catch (e) {
    return { message: (e as Error).message, exitCode: (e as { exitCode?: number }).exitCode };
  }
  throw new Error('accepted bad input');
};

describe('services file', () => {
  it('reads YAML with every field', async () => {
    const [s] = await ok(`services:
  - name: web
    vip: 2.2.2.2:88
    nodePort: 30001
    endpoints: [10.10.63.2:12345, {ip: 10.10.14.2, port: 12345}]
    affinity: clientip:60
`);
    expect(s).toEqual({
      name: 'web', protocol: 'tcp', vip: '2.2.2.2', port: 88, nodePort: 30001, affinitySeconds: 60,
      endpoints: [{ ip: '10.10.63.2', port: 12345 }, { ip: '10.10.14.2', port: 12345 }],
    });
  });

  it('reads JSON, a bare list, separate port, Kubernetes affinity objects', async () => {
    const s = await ok('[{"name":"a","protocol":"UDP","vip":"10.96.0.1","port":53,"endpoints":[],"affinity":{"type":"ClientIP"}}]');
    expect(s[0]).toMatchObject({ protocol: 'udp', port: 53, endpoints: [], affinitySeconds: 10800 });
    // no services is said, not implied: an empty input (a missing file piped in) would remove every one
    expect(await ok('[]')).toEqual([]);
    expect(await ok('services: []')).toEqual([]);
    expect(await bad('')).toMatchObject({ message: 'f: empty document: no services given', exitCode: 2 });
    expect(await bad('# only a comment\n')).toMatchObject({ message: 'f: empty document: no services given' });
  });

  it.each([
    ['VIP not an address', '[{name: a, vip: 1.2.3:80, endpoints: []}]', /vip '1.2.3' is not an IPv4 address/],
    ['VIP out of range', '[{name: a, vip: 300.1.1.1:80}]', /not an IPv4/],
    ['port 0', '[{name: a, vip: 10.96.0.1:0}]', /port '0' is not a port in 1-65535/],
    ['port 70000', '[{name: a, vip: 10.96.0.1:70000}]', /'70000' is not a port/],
    ['endpoint port 70000', '[{name: a, vip: 10.96.0.1:80, endpoints: [10.88.0.2:70000]}]', /endpoint port '70000'/],
    ['NodePort outside the range', '[{name: a, vip: 10.96.0.1:80, nodePort: 8080}]', /nodePort '8080' is not a port in 30000-32767/],
    ['duplicate names', '[{name: a, vip: 10.96.0.1:80}, {name: a, vip: 10.96.0.2:80}]', /duplicate service name 'a'/],
    ['duplicate VIP:port', '[{name: a, vip: 10.96.0.1:80}, {name: b, vip: 10.96.0.1:80}]', /also used by 'a'/],
    ['duplicate NodePort', '[{name: a, vip: 10.96.0.1:80, nodePort: 30001}, {name: b, vip: 10.96.0.2:80, nodePort: 30001}]', /node port 30001 is also used/],
    ['unknown protocol', '[{name: a, protocol: sctp, vip: 10.96.0.1:80}]', /unknown protocol 'sctp'/],
    ['unknown field', '[{name: a, vip: 10.96.0.1:80, nodeport: 30001}]', /unknown field 'nodeport'/],
    ['malformed YAML', 'services: [ {name: a, vip: ', /malformed YAML/],
    ['bad name', '[{name: "../x", vip: 10.96.0.1:80}]', /invalid service name/],
    ['bad affinity', '[{name: a, vip: 10.96.0.1:80, affinity: sticky}]', /unknown affinity/],
    ['endpoint twice', '[{name: a, vip: 10.96.0.1:80, endpoints: [10.88.0.2:80, 10.88.0.2:80]}]', /listed twice/],
  ])('rejects %s with a usage error (exit 2)', async (_what, text, re) => {
    const e = await bad(text);
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(2);
  });

  it('--nodeport-range widens the allowed NodePorts', async () => {
    expect((await ok('[{name: a, vip: 10.96.0.1:80, nodePort: 8080}]', '1-65535'))[0]!.nodePort).toBe(8080);
    expect(() => parseRange('9-1')).toThrow(/invalid node port range/);
  });
});

describe('quickHostPort (the checks without regexes)', () => {
  it('reads what parseHostPort reads, and leaves everything unusual to it', async () => {
    const { quickHostPort, parseHostPort } = await import('../src/model.js');
    const ok = ['10.0.0.1:80', '1.2.3.4:65535', '223.255.255.255:1', '10.10.0.0:080', '100.64.0.1:8080'];
    for (const s of ok) expect(quickHostPort(s)).toEqual(parseHostPort('x', s));
    const unusual = ['0.0.0.0:80', '0.1.2.3:80', '127.0.0.1:80', '224.0.0.1:80', '255.255.255.255:1', '01.2.3.4:80', '1.2.3.04:80', '256.1.1.1:80', '1.2.3:80',
      '1.2.3.4.5:80', '1.2.3.4', '1.2.3.4:', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:8a', '1.2.3.4:80:1', 'a.b.c.d:80', '1..2.3:80', '.1.2.3:80', ' 1.2.3.4:80', '1.2.3.4:-1'];
    for (const s of unusual) expect(quickHostPort(s), s).toBeUndefined();
    // and parseHostPort still refuses the bad ones with its messages
    expect(() => parseHostPort('vip', '127.0.0.1:80')).toThrow(/not a usable unicast/);
    expect(() => parseHostPort('vip', '1.2.3.4:0')).toThrow(/not a port/);
    expect(parseHostPort('vip', '0.1.2.3:80')).toEqual({ ip: '0.1.2.3', port: 80 });
  });
});
