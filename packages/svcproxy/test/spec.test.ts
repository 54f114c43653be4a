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
    // `services:` with every entry commented out, or an empty map: as empty as that
    expect(await bad('services:\n#  - name: web\n#    vip: 10.96.0.1:80\n')).toMatchObject({ message: 'no services given: `services` is empty (null)', exitCode: 2 });
    expect(await bad('{"services":null}')).toMatchObject({ message: 'no services given: `services` is empty (null)', exitCode: 2 });
    expect(await bad('{}')).toMatchObject({ message: 'no services given: an empty map', exitCode: 2 });
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
    ['bad name', '[{name: "../x", vip: 10.96.0.1:80}]', /^service name '\.\.\/x': must start with a letter or digit$/],
    ['a name that is a negative number', '[{name: -5, vip: 10.96.0.1:80}]', /^service name '-5': must start with a letter or digit$/],
    ['a name that is a negative number (JSON)', '[{"name": -5, "vip": "10.96.0.1:80"}]', /^service name '-5': must start with a letter or digit$/],
    ['a name that is a list', '[{name: [a], vip: 10.96.0.1:80}]', /^service name \["a"\]: not a name \(a list\)$/],
    ['no name', '[{name: , vip: 10.96.0.1:80}]', /^a service has no name$/],
    ['a name with a newline', '[{"name": "a\\nb", "vip": "10.96.0.1:80"}]', /^service name 'a\\nb': only letters/],
    ['duplicate JSON key', '{"services": [{"name": "a", "vip": "10.96.0.1:80", "vip": "10.96.0.2:80"}]}', /^f: duplicate key 'vip' at line 1, column 52 \(in services\[0\]\)$/],
    ['duplicate JSON key in an endpoint', '[{"name": "a", "vip": "10.96.0.1:80"},\n {"name": "b", "vip": "10.96.0.2:80", "endpoints": [{"ip": "10.88.0.2", "port": 80, "port": 81}]}]',
      /^f: duplicate key 'port' at line 2, column 85 \(in \[1\]\.endpoints\[0\]\)$/],
    ['duplicate top-level JSON key', '  {"services": [], "services": [{"name": "a", "vip": "10.96.0.1:80"}]}', /^f: duplicate key 'services' at line 1, column 20$/],
    ['duplicate YAML key', 'services:\n- name: a\n  vip: 10.96.0.1:80\n  vip: 10.96.0.2:80\n', /^f: duplicate key 'vip' at line 4, column 3$/],
    ['an endpoint field misspelt', '[{name: a, vip: 10.96.0.1:80, endpoints: [{ip: 10.88.0.2, port: 80, protocol: udp}]}]', /^service 'a': endpoint 1: unknown field 'protocol'$/],
    ['an affinity field misspelt', '[{name: a, vip: 10.96.0.1:80, affinity: {type: ClientIP, timeout: 60}}]', /^affinity: unknown field 'timeout'$/],
    ['affinity with more after its seconds', '[{name: a, vip: 10.96.0.1:80, affinity: "clientip:60:5"}]', /affinity timeout '60:5' is not a number of seconds in 1-86400/],
    ['affinity and sessionAffinity', '[{name: a, vip: 10.96.0.1:80, affinity: clientip, sessionAffinity: none}]', /give affinity or sessionAffinity, not both/],
    ['duplicate VIP:port, protocols differing in case', '[{name: a, protocol: UDP, vip: 10.96.0.1:53}, {name: b, protocol: udp, vip: 10.96.0.1:53}]', /service 'b': udp 10.96.0.1:53 is also used by 'a'/],
    ['endpoint port 0', '[{name: a, vip: 10.96.0.1:80, endpoints: [10.88.0.2:0]}]', /endpoint port '0' is not a port in 1-65535/],
    ['endpoint port 0 (object)', '[{name: a, vip: 10.96.0.1:80, endpoints: [{ip: 10.88.0.2, port: 0}]}]', /endpoint 1 port '0' is not a port in 1-65535/],
    ['bad affinity', '[{name: a, vip: 10.96.0.1:80, affinity: sticky}]', /unknown affinity/],
    ['endpoint twice', '[{name: a, vip: 10.96.0.1:80, endpoints: [10.88.0.2:80, 10.88.0.2:80]}]', /listed twice/],
    ['a VIP without a port (and no port field)', '[{name: a, vip: 2.2.2.2}]', /^service 'a': vip 2\.2\.2\.2: needs ADDRESS:PORT \(or a port field\)$/],
    ['a VIP without a port, the port field empty', '[{name: a, vip: 2.2.2.2, port: }]', /^service 'a': vip 2\.2\.2\.2: needs ADDRESS:PORT/],
    ['a VIP that is no address, without a port', '[{name: a, vip: 2.2.2}]', /^service 'a': vip '2\.2\.2' is not an IPv4 address$/],
  ])('rejects %s with a usage error (exit 2)', async (_what, text, re) => {
    const e = await bad(text);
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
    expect(e.exitCode).toBe(2);
  });

  it('a name YAML reads as a number or a boolean is the name as written; JSON numbers are their text; ports may be strings, in both', async () => {
    const names = async (text: string) => (await ok(text)).map((s) => s.name);
    expect(await names('- {name: 2048, vip: 10.96.0.1:80}\n- {name: 1.10, vip: 10.96.0.2:80}\n- {name: 010, vip: 10.96.0.3:80}\n- {name: true, vip: 10.96.0.4:80}\n- {name: 0x1F, vip: 10.96.0.5:80}'))
      .toEqual(['2048', '1.10', '010', 'true', '0x1F']);
    expect(await names('services:\n  - name: 2048\n    vip: 10.96.0.1:80\n')).toEqual(['2048']);
    expect(await names('[{"name": 2048, "vip": "10.96.0.1:80"}]')).toEqual(['2048']);
    // the same name twice, once as a number and once quoted
    expect((await bad('[{name: 2048, vip: 10.96.0.1:80}, {name: "2048", vip: 10.96.0.2:80}]')).message).toBe("duplicate service name '2048'");
    const yaml = await ok('- {name: a, vip: 10.96.0.1, port: "88", nodePort: "30001", endpoints: [{ip: 10.88.0.2, port: "8080"}]}');
    const json = await ok('[{"name": "a", "vip": "10.96.0.1", "port": "88", "nodePort": "30001", "endpoints": [{"ip": "10.88.0.2", "port": "8080"}]}]');
    expect(yaml).toEqual(json);
    expect(json[0]).toMatchObject({ port: 88, nodePort: 30001, endpoints: [{ ip: '10.88.0.2', port: 8080 }] });
    // an empty field (YAML null) is an absent one, as an empty nodePort: always was
    expect((await ok('- {name: a, vip: 10.96.0.1:80, port: , nodePort: , affinity: , sessionAffinity: clientip}'))[0]).toMatchObject({ port: 80, affinitySeconds: 10800 });
  });

  it('duplicate keys: a JSON string value holding `":` is not taken for a key', async () => {
    const { duplicateKey } = await import('../src/jsondoc.js');
    const text = '{"a": "x\\":", "b": {"c": 1, "d": [{"c": 2}]}}';
    expect(duplicateKey(text, JSON.parse(text))).toBeUndefined();
    const dup = '{"a": "x\\":", "b": {"c": 1, "d": [{"c": 2, "c": 3}]}}';
    expect(duplicateKey(dup, JSON.parse(dup))).toEqual({ key: 'c', at: dup.lastIndexOf('"c"'), path: 'b.d[0]' });
    // keys with escapes are compared as JSON reads them
    const esc = '{"\\u0061": 1, "a": 2}';
    expect(duplicateKey(esc, JSON.parse(esc))).toMatchObject({ key: 'a', path: '' });
  });

  it("apply's way (the keys counted as the entries are checked) finds the same duplicates, and reads a valid document only once", async () => {
    const { parseDocumentAs } = await import('../src/spec.js');
    const applied = async (text: string) => {
      const p = await parseDocumentAs(text, 'f');
      const services = toServices(p.doc, undefined, p.keys);
      return { services, read: p.keys?.read, marks: p.keys?.marks };
    };
    const valid = JSON.stringify({ services: [
      { name: 'a', vip: '10.96.0.1:80', nodePort: null, endpoints: ['10.88.0.2:80', { ip: '10.88.0.3', port: 80 }], affinity: { type: 'ClientIP', timeoutSeconds: 60 } },
      { name: 'b', protocol: 'udp', vip: '10.96.0.2', port: 53, sessionAffinity: 'None', endpoints: [] },
    ] }, null, 2);
    // every key was counted: the text is not read a second time
    expect(await applied(valid)).toMatchObject({ read: 16, marks: 16 });
    for (const [text, message] of [
      ['{"services": [{"name": "a", "vip": "10.96.0.1:80", "vip": "10.96.0.2:80"}]}', "f: duplicate key 'vip' at line 1, column 52 (in services[0])"],
      ['[{"name": "a", "vip": "10.96.0.1:80", "endpoints": [{"ip": "10.88.0.2", "port": 80, "port": 81}]}]', "f: duplicate key 'port' at line 1, column 85 (in [0].endpoints[0])"],
      ['[{"name": "a", "vip": "10.96.0.1:80", "affinity": {"type": "ClientIP", "type": "None"}}]', "f: duplicate key 'type' at line 1, column 72 (in [0].affinity)"],
      ['\n\n {"services": [], "services": []}', "f: duplicate key 'services' at line 3, column 19"],
    ]) {
      await expect(applied(text!)).rejects.toThrow(message!);
      await expect(bad(text!)).resolves.toMatchObject({ message, exitCode: 2 });
    }
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

describe('svcproxy add --vip', () => {
  it.each([
    ['2.2.2.2', /^--vip 2\.2\.2\.2: needs ADDRESS:PORT$/],
    ['', /^--vip '': needs ADDRESS:PORT$/],
  ])('%j without a port: says the port is missing (usage error, exit 2), before anything is read or written', async (vip, re) => {
    const { add } = await import('../src/commands/add.js');
    const args = { name: 'other', vip, endpoint: [], protocol: 'tcp', prefix: 'BKSVC', backend: 'auto', explain: false, partial: true, 'nodeport-range': '30000-32767', dryRun: false, json: false, verbose: false };
    const e = await add(args as never).then(() => undefined, (x: unknown) => x as Error & { exitCode?: number; hint?: string });
    expect(e?.message).toMatch(re);
    expect(e?.exitCode).toBe(2);
    expect(e?.hint).toBe('for example --vip 10.96.0.10:80');
  });
});
