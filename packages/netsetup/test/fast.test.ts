import { describe, expect, it } from 'vitest';
import { fastParse } from '../src/fast.js';

describe('fast path parser (veth, down without yargs)', () => {
  it('builds the same argument object yargs would', () => {
    expect(fastParse(['veth', '--netns', 'ns1', '--bridge', 'br', '--host-ifname', 'h1', '--mtu', '1400', '--hairpin', '-v'])).toEqual({
      cmd: 'veth',
      args: { dryRun: false, json: false, verbose: true, ip: 'auto', ifname: 'eth0', hairpin: true, netns: 'ns1', bridge: 'br', hostIfname: 'h1', mtu: 1400 },
    });
    expect(fastParse(['down', '--netns', 'a', '--netns', 'b', '--pid', '7', '--json'])!.args).toMatchObject({ netns: ['a', 'b'], pid: [7], json: true });
    expect(fastParse(['veth', '-', '--bridge', 'br'])!.args).toMatchObject({ batch: '-', bridge: 'br' });
  });
  it('leaves help, unknown flags, stray words and other commands to yargs', () => {
    for (const argv of [['veth', '--help'], ['veth', '--bogus'], ['veth', 'extra'], ['down', '-h'], ['bridge', 'x', '10.0.0.1/24'], ['--version'], []]) {
      expect(fastParse(argv), argv.join(' ')).toBeUndefined();
    }
  });
});
