/**
 * ctnetlink from TypeScript (native/src/conntrack.ts) against the real
 * kernel, in a namespace of the test's own (its iptables rules and flows
 * stay there): the stale TCP entry an unanswered SYN leaves, which a later
 * connection from the same port joins un-NATed, and its deletion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync } from 'node:fs';
import { deleteFlows, inNetns, listFlows } from '@boxkit/native';
import { createHost, destroyHost, inHost, runId, sh, skipReason } from '../harness/index.js';

const tag = runId.slice(-5);
const node = `ctn${tag}`;
const sink = `cts${tag}`;
const VIP = '10.99.5.5';

/** One TCP connection from `node`, from source port 40123, to VIP:88: the server's word, or TIMEOUT. */
function probe(timeoutMs: number): string {
  const script = `const c=require('net').connect({host:'${VIP}',port:88,localPort:40123});
    setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},${timeoutMs});
    c.on('data',d=>{console.log(String(d).trim());process.exit(0)});c.on('error',e=>{console.log(e.code);process.exit(0)});`;
  return inHost(node, process.execPath, ['-e', script]).trim();
}

describe.skipIf(skipReason)(`conntrack (root${skipReason ? `: skipped, ${skipReason}` : ''})`, () => {
  let nsFd: number;
  let server: ReturnType<typeof import('node:child_process').spawn> | undefined;

  beforeAll(async () => {
    createHost(node);
    createHost(sink);
    // node: a server on 10.99.0.1:8080 (a bridge of its own), and a default route to `sink`, which drops what it gets
    sh('ip', ['-n', node, '-batch', '-'], { input: [
      'link add d0 type bridge', 'addr add 10.99.0.1/24 dev d0', 'link set d0 up',
      `link add v0 type veth peer name eth0 netns ${sink}`, 'addr add 10.98.0.1/24 dev v0', 'link set v0 up',
      'route add default via 10.98.0.2', ''].join('\n') });
    sh('ip', ['-n', sink, '-batch', '-'], { input: 'addr add 10.98.0.2/24 dev eth0\nlink set eth0 up\n' });
    // a conntrack match: the namespace tracks connections from then on
    inHost(node, 'iptables', ['-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT']);
    const { spawn } = await import('node:child_process');
    server = spawn('ip', ['netns', 'exec', node, process.execPath, '-e', "require('net').createServer((s)=>s.end('served\\n')).listen(8080,'10.99.0.1',()=>console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server!.stdout!.once('data', () => resolve()));
    nsFd = openSync(`/run/netns/${node}`, 'r');
  });

  afterAll(() => {
    server?.kill();
    if (nsFd !== undefined) closeSync(nsFd);
    destroyHost(node);
    destroyHost(sink);
  });

  it('an unanswered SYN leaves an entry that keeps the same port from a DNAT added later; deleteFlows(tcp) clears it', () => {
    expect(probe(500)).toBe('TIMEOUT');
    const stale = inNetns(nsFd, () => listFlows('tcp')).filter((f) => f.orig.dst === VIP);
    expect(stale).toEqual([{ orig: { src: '10.98.0.1', dst: VIP, sport: 40123, dport: 88 }, reply: { src: VIP, dst: '10.98.0.1', sport: 88, dport: 40123 } }]);
    expect(inNetns(nsFd, () => listFlows('udp')).filter((f) => f.orig.dst === VIP)).toEqual([]);

    inHost(node, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-d', VIP, '-p', 'tcp', '--dport', '88', '-j', 'DNAT', '--to-destination', '10.99.0.1:8080']);
    expect(probe(1500)).toBe('TIMEOUT'); // (joined the old entry: not NATed)
    expect(inNetns(nsFd, () => deleteFlows('tcp', (f) => f.orig.dst === VIP))).toBe(1);
    expect(inNetns(nsFd, () => listFlows('tcp')).filter((f) => f.orig.dst === VIP && f.reply.src === VIP)).toEqual([]);
    expect(probe(3000)).toBe('served');
  });
});
