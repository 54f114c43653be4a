/**
 * The test node, built with `ip` directly inside the sandbox host (which
 * plays the node): a bridge 10.88.x.1/24 with endpoint containers and a
 * client container on it (hairpin on every port), and an "outside" host on
 * a veth in 203.0.113.0/24 (the node is 203.0.113.1 there).
 */
import { execFileSync, spawn } from 'node:child_process';
import { assertSandboxNetwork, createHost, destroyHost, runId, sh, testName } from '../harness/index.js';

const short = runId.slice(-5);
export const BRIDGE = `bksp${short}`;
export const SUBNET = '10.88.7';
export const NODE_BRIDGE_IP = `${SUBNET}.1`;
export const NODE_OUTSIDE_IP = '203.0.113.1';
export const OUTSIDE_IP = '203.0.113.2';

export interface Topology {
  containers: Record<string, { netns: string; ip: string }>;
  outside: string;
  destroy(): void;
}

const ipb = (lines: string[]) => sh('ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });

/** Containers by short name, each with its address on the bridge. */
export function buildTopology(names: string[]): Topology {
  assertSandboxNetwork();
  const containers: Topology['containers'] = {};
  const made: string[] = [];
  const outside = testName('outside');
  try {
    ipb([`link add ${BRIDGE} type bridge`, `addr add ${NODE_BRIDGE_IP}/24 dev ${BRIDGE}`, `link set ${BRIDGE} up`]);
    names.forEach((n, i) => {
      const netns = createHost(testName(n));
      made.push(netns);
      const ip = `${SUBNET}.${i + 2}`;
      const veth = `bkv${short}${i}`;
      ipb([
        `link add ${veth} type veth peer name eth0 netns ${netns}`,
        `link set ${veth} master ${BRIDGE}`,
        `link set ${veth} type bridge_slave hairpin on`,
        `link set ${veth} up`,
      ]);
      sh('ip', ['-n', netns, '-batch', '-'], { input: `addr add ${ip}/24 dev eth0\nlink set eth0 up\nroute add default via ${NODE_BRIDGE_IP}\n` });
      containers[n] = { netns, ip };
    });
    createHost(outside);
    made.push(outside);
    ipb([`link add bko${short} type veth peer name eth0 netns ${outside}`, `addr add ${NODE_OUTSIDE_IP}/24 dev bko${short}`, `link set bko${short} up`]);
    sh('ip', ['-n', outside, '-batch', '-'], { input: `addr add ${OUTSIDE_IP}/24 dev eth0\nlink set eth0 up\nroute add default via ${NODE_OUTSIDE_IP}\n` });
    // the node routes (and so DNATs) for containers. VIPs need a route, as on a real node: the
    // default route points at the "outside" host. (A route out of the bridge itself would make
    // the node send ICMP redirects to containers, which then ARP for the VIP and hang.)
    sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    sh('ip', ['route', 'add', 'default', 'via', OUTSIDE_IP]);
  } catch (e) {
    destroy();
    throw e;
  }
  function destroy() {
    for (const n of made) destroyHost(n);
    for (const l of [BRIDGE, `bko${short}`]) {
      try {
        execFileSync('ip', ['link', 'del', l], { stdio: 'ignore' });
      } catch {
        // gone already
      }
    }
  }
  return { containers, outside, destroy };
}

/**
 * Open `n` TCP connections (20 at a time) to addr:port from one Node
 * process in `netns` (or this process's netns), and count the replies by
 * responder name; also collect the peer addresses the responders saw.
 * A connection that should be served gets 10 s: on a loaded 2-core host one
 * of 20 took over 2 s (a test then read 19 of 20); tests that expect no
 * answer pass a short timeout of their own.
 */
export function askMany(netns: string | undefined, addr: string, port: number, n: number, timeoutMs = 10_000): Promise<{ counts: Record<string, number>; peers: Record<string, number>; pairs: Record<string, number>; failures: string[] }> {
  const script = `
    const net=require('net');const counts={},peers={},pairs={},failures=[];let started=0,done=0;
    function one(){ if(started>=${n})return; started++;
      const c=net.connect({host:${JSON.stringify(addr)},port:${port}});let d='';let fin=false;
      const end=(err)=>{if(fin)return;fin=true;clearTimeout(t);c.destroy();
        if(err)failures.push(err);else{const [name,peer]=d.trim().split(' ');counts[name]=(counts[name]||0)+1;peers[peer]=(peers[peer]||0)+1;pairs[name+' '+peer]=(pairs[name+' '+peer]||0)+1;}
        if(++done===${n}){process.stdout.write(JSON.stringify({counts,peers,pairs,failures}));process.exit(0)}else one();};
      const t=setTimeout(()=>end('TIMEOUT'),${timeoutMs});
      c.on('data',x=>d+=x);c.on('end',()=>end(d?null:'EMPTY'));c.on('error',e=>end(e.code));}
    for(let i=0;i<20;i++)one();`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const argv = netns ? ['ip', ['netns', 'exec', netns, process.execPath, '-e', script]] as const : [process.execPath, ['-e', script]] as const;
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], [...argv[1]], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (x) => (out += x));
    p.on('error', reject);
    // 'close', not 'exit': the report may still be in the pipe when the child has exited (under load
    // an empty `out` reached JSON.parse: an exception in the event loop, the test waited out its timeout)
    p.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`exited ${code}`);
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`askMany ${addr}:${port}: ${(e as Error).message}: ${JSON.stringify(out.slice(0, 200))}`));
      }
    });
  });
}

/** iptables-save of nat and filter without comments and counters (what a leak or a change would show). */
/**
 * One UDP datagram from `netns`, bound to source port `sport`, to
 * addr:port: the first word of the reply (the responder's name), or
 * TIMEOUT. The same source port again is the same conntrack entry unless
 * that was deleted.
 */
export function askUdp(netns: string, sport: number, addr: string, port: number, timeoutMs = 2000): string {
  return execFileSync('ip', ['netns', 'exec', netns, process.execPath, '-e',
    `const s=require('dgram').createSocket('udp4');s.bind(${sport},()=>s.send('hi',${port},'${addr}'));s.on('message',m=>{process.stdout.write(String(m).split(' ')[0]);process.exit(0)});
    setTimeout(()=>{process.stdout.write('TIMEOUT');process.exit(0)},${timeoutMs});`], { encoding: 'utf8' }).trim();
}

export function saveState(bin = 'iptables-save'): string {
  return ['nat', 'filter']
    .map((t) => execFileSync(bin, ['-t', t], { encoding: 'utf8' }).split('\n').filter((l) => !l.startsWith('#')).map((l) => (l.startsWith(':') ? l.split(' ')[0] : l)).join('\n'))
    .join('\n');
}
