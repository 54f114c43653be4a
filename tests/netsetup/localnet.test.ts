/**
 * route_localnet and its guard (CVE-2020-8558): publish turns route_localnet
 * on for the container's bridge so that the host's own 127.0.0.1:PORT
 * reaches the container; a neighbour on that bridge that routes 127.0.0.1
 * via its gateway must still not reach a host service bound to 127.0.0.1.
 * The attacker is the review's reproduction: its own local routes for
 * 127.0.0.0/8 gone, route_localnet on inside its netns, and
 * 127.0.0.1/32 via the bridge address; it sends UDP to a listener of the
 * sandbox host on 127.0.0.1.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, destroyHost, skipReason, startResponder, tcpAsk, testName, type Responder } from '../harness/index.js';
import { expectNothingLeft, netSnapshot, ns, sh, shortName, useStateDir } from './helpers.js';

const PORT = 7778;

describe.skipIf(skipReason)(`netsetup publish: route_localnet guard${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nsl');
  const web = testName('ln-web');
  const atk = testName('ln-atk');
  const got: string[] = [];
  let listener: Socket;
  let responder: Responder;
  let before: ReturnType<typeof netSnapshot>;
  let state = '';
  let webIf = '';

  const localnet = () => readFileSync(`/proc/sys/net/ipv4/conf/${br}/route_localnet`, 'utf8').trim();
  const filterRules = () => sh('iptables-save', ['-t', 'filter']);
  /** One datagram from the attacker to the host's 127.0.0.1:PORT; whether the listener got it. */
  const reaches = async (tag: string): Promise<boolean> => {
    const script = `const s=require('dgram').createSocket('udp4');s.send(${JSON.stringify(tag)},${PORT},'127.0.0.1',()=>s.close())`;
    sh('ip', ['netns', 'exec', atk, process.execPath, '-e', script]);
    await new Promise((r) => setTimeout(r, 300));
    return got.includes(tag);
  };

  beforeAll(async () => {
    state = useStateDir('localnet');
    before = netSnapshot();
    createHost(web);
    createHost(atk);
    expect((await ns(['bridge', br, '10.77.21.1/24'])).exitCode).toBe(0);
    const w = await ns(['veth', '--netns', web, '--bridge', br, '--ip', '10.77.21.2/24', '--json']);
    expect(w.exitCode, w.stderr).toBe(0);
    webIf = JSON.parse(w.stdout).hostIfname;
    expect((await ns(['veth', '--netns', atk, '--bridge', br, '--ip', '10.77.21.3/24'])).exitCode).toBe(0);
    responder = await startResponder(web, 80, 'web');
    listener = createSocket('udp4');
    listener.on('message', (m) => got.push(String(m)));
    await new Promise<void>((r) => listener.bind(PORT, '127.0.0.1', () => r()));
    // the attacker: root in its own netns, sending to 127.0.0.1 through its gateway
    sh('ip', ['-n', atk, 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
    sh('ip', ['-n', atk, 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local']);
    sh('ip', ['netns', 'exec', atk, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet; echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet']);
    sh('ip', ['-n', atk, 'route', 'add', '127.0.0.1/32', 'via', '10.77.21.1', 'dev', 'eth0']);
  });
  afterAll(async () => {
    listener?.close();
    await responder?.stop();
    await ns(['publish', 'rm', '8080:10.77.21.2:80']);
    await ns(['publish', 'rm', '8081:10.77.21.2:80']);
    await ns(['down', '--netns', web, '--netns', atk]);
    await ns(['bridge', 'rm', br]);
    for (const h of [web, atk]) destroyHost(h);
  });

  it('publish puts the guard in place with route_localnet: the host reaches the port on 127.0.0.1, a neighbour does not reach the host\'s 127.0.0.1', async () => {
    expect(localnet()).toBe('0');
    expect(await reaches('before')).toBe(false);
    const r = await ns(['publish', '8080:10.77.21.2:80']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(localnet()).toBe('1');
    expect(tcpAsk(undefined, '127.0.0.1', 8080)).toBe('web 10.77.21.1');
    expect(await reaches('after-publish')).toBe(false);
    expect(filterRules().match(/-j DROP/g)).toHaveLength(1);
    // idempotent: a repeat adds nothing; ls shows the guard
    expect((await ns(['publish', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(filterRules().match(/-j DROP/g)).toHaveLength(1);
    expect((await ns(['ls'])).stdout).toContain(`iptables -t filter -A BOXKIT-LOCALNET ! -s 127.0.0.0/8 -d 127.0.0.0/8 -i ${br} -m conntrack`);
  });

  it('route_localnet and the guard stay while a port needs them, and go with the last', async () => {
    expect((await ns(['publish', '8081:10.77.21.2:80'])).exitCode).toBe(0);
    expect((await ns(['publish', 'rm', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(localnet()).toBe('1');
    expect(filterRules()).toContain('BOXKIT-LOCALNET');
    expect(await reaches('one-left')).toBe(false);
    expect(tcpAsk(undefined, '127.0.0.1', 8081)).toBe('web 10.77.21.1');
    expect((await ns(['publish', 'rm', '8081:10.77.21.2:80'])).exitCode).toBe(0);
    expect(localnet()).toBe('0');
    expect(filterRules()).not.toContain('BOXKIT');
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
    expect(await reaches('after-rm')).toBe(false);
  });

  it('publish turns hairpin mode on for its container\'s bridge port (it reaches its own port through the host), off with its last port', async () => {
    const hairpin = () => JSON.parse(sh('ip', ['-d', '-j', 'link', 'show', 'dev', webIf]))[0].linkinfo.info_slave_data.hairpin as boolean;
    expect(hairpin()).toBe(false);
    expect((await ns(['publish', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(tcpAsk(web, '10.77.21.1', 8080)).toBe('web 10.77.21.1');
    expect(tcpAsk(atk, '10.77.21.1', 8080)).toBe('web 10.77.21.1');
    expect(hairpin()).toBe(true);
    expect((await ns(['publish', '8081:10.77.21.2:80'])).exitCode).toBe(0);
    expect((await ns(['publish', 'rm', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(hairpin()).toBe(true);
    expect((await ns(['publish', 'rm', '8081:10.77.21.2:80'])).exitCode).toBe(0);
    expect(hairpin()).toBe(false);
  });

  it('a publish whose last step fails takes back what it did: its rules, route_localnet and the guard, its entry', async () => {
    const nat = () => sh('iptables-save', ['-t', 'nat']);
    // the container's port taken off the bridge: hairpin mode on, publish's last step, is refused
    sh('ip', ['link', 'set', webIf, 'nomaster']);
    try {
      const r = await ns(['publish', '8080:10.77.21.2:80']);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr.split('\n')[0], r.stderr).toMatch(new RegExp(`^netsetup: .*${webIf}`));
      expect(localnet()).toBe('0');
      expect(filterRules()).not.toContain('BOXKIT');
      expect(nat()).not.toContain('BOXKIT');
      expect(JSON.parse((await ns(['ls', '--json'])).stdout).publish).toEqual([]);
    } finally {
      sh('ip', ['link', 'set', webIf, 'master', br]);
    }
    // and with the port back on the bridge it publishes
    expect((await ns(['publish', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(tcpAsk(undefined, '127.0.0.1', 8080)).toBe('web 10.77.21.1');
    expect((await ns(['publish', 'rm', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(localnet()).toBe('0');
  });

  it('down of the container gives route_localnet back; a value set before netsetup is kept', async () => {
    expect((await ns(['publish', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(localnet()).toBe('1');
    expect((await ns(['down', '--netns', web])).exitCode).toBe(0);
    expect(localnet()).toBe('0');
    expect(filterRules()).not.toContain('BOXKIT');
    // route_localnet on already (someone else's): the guard comes and goes, the value stays
    expect((await ns(['veth', '--netns', web, '--bridge', br, '--ip', '10.77.21.2/24'])).exitCode).toBe(0);
    sh('sh', ['-c', `echo 1 > /proc/sys/net/ipv4/conf/${br}/route_localnet`]);
    expect((await ns(['publish', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(filterRules()).toContain('BOXKIT-LOCALNET');
    expect((await ns(['publish', 'rm', '8080:10.77.21.2:80'])).exitCode).toBe(0);
    expect(localnet()).toBe('1');
    expect(filterRules()).not.toContain('BOXKIT');
    sh('sh', ['-c', `echo 0 > /proc/sys/net/ipv4/conf/${br}/route_localnet`]);
  });

  it('--dry-run shows the guard, ahead of the sysctl, and changes nothing', async () => {
    const rules = filterRules();
    const dry = (await ns(['publish', '8080:10.77.21.2:80', '--dry-run'])).stdout.split('\n');
    const guard = dry.findIndex((l) => l.startsWith(`iptables -t filter -A BOXKIT-LOCALNET ! -s 127.0.0.0/8 -d 127.0.0.0/8 -i ${br} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment`) && l.endsWith('-j DROP'));
    const sysctl = dry.indexOf(`sysctl -w net.ipv4.conf.${br}.route_localnet=1`);
    expect(guard, dry.join('\n')).toBeGreaterThanOrEqual(0);
    expect(sysctl, dry.join('\n')).toBeGreaterThan(guard);
    expect(dry).toContain('iptables -t filter -I INPUT 1 -m comment --comment \'boxkit localnet guard\' -j BOXKIT-LOCALNET');
    expect(localnet()).toBe('0');
    expect(filterRules().replace(/^#.*\n/gm, '')).toBe(rules.replace(/^#.*\n/gm, ''));
  });

  it('leaves nothing behind', async () => {
    await ns(['down', '--netns', web, '--netns', atk]);
    await ns(['bridge', 'rm', br]);
    expectNothingLeft(before, state);
  });
});
