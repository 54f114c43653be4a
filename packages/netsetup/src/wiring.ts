/**
 * The yargs wiring: help, validation and every command. A bundle of its own
 * (dist/wiring.cjs) with a startup snapshot of its own (dist/wiring.blob):
 * the bin starts it for every command but `veth` and `down`, and the fast
 * path (cli.ts) loads it when its parser declines.
 */
import { startupSnapshot } from 'node:v8';
import { command, main, type ToolSpec } from '@boxkit/common';
import pkg from '../package.json' with { type: 'json' };

const dryRunNote = 'print the equivalent ip/iptables commands and change nothing';

const tool: ToolSpec = {
  name: 'netsetup',
  version: pkg.version,
  description: pkg.description,
  commands: [
    command({
      command: 'bridge <name> [cidr]',
      describe: 'create a bridge with its gateway address, up (idempotent); `bridge rm NAME` deletes it',
      builder: (y) => y.positional('name', { type: 'string', demandOption: true, describe: 'bridge name, or rm' }).positional('cidr', { type: 'string', describe: 'gateway address with prefix, 10.10.15.1/24' }),
      examples: [
        ['netsetup bridge mydocker 10.10.15.1/24', 'the article\'s mydocker bridge with gateway 10.10.15.1'],
        ['netsetup bridge mydocker 10.10.15.1/24 --dry-run', dryRunNote],
        ['netsetup bridge rm mydocker', 'delete it'],
      ],
      run: async (a) => (await import('./commands/bridge.js')).bridgeCommand(a),
    }),
    command({
      command: 'netns <action> [name]',
      describe: 'named network namespaces, shared with `ip netns` (/run/netns): add, rm, ls',
      builder: (y) => y.positional('action', { choices: ['add', 'rm', 'del', 'ls', 'list'] as const, demandOption: true }).positional('name', { type: 'string' }),
      examples: [
        ['netsetup netns add ns1', 'like ip netns add ns1, with lo up'],
        ['netsetup netns rm ns1', 'detach it and delete it'],
        ['netsetup netns ls --json', 'list named namespaces'],
      ],
      run: async (a) => (await import('./commands/netns.js')).netnsCommand(a),
    }),
    command({
      command: 'veth [batch]',
      describe: 'connect a network namespace to a bridge with a veth pair; `veth -` reads JSON lines',
      builder: (y) =>
        y
          .positional('batch', { type: 'string', describe: '- to read one JSON attachment per line from stdin' })
          .option('netns', { type: 'string', describe: 'named network namespace' })
          .option('pid', { type: 'number', describe: 'a process in the target namespace' })
          .conflicts('netns', 'pid')
          .option('bridge', { type: 'string', describe: 'bridge to enslave the host end to' })
          .option('ip', { type: 'string', default: 'auto', describe: 'address with prefix, or auto (next free one of the bridge)' })
          .option('gateway', { type: 'string', describe: 'default route via this address (default: the bridge address); none: no default route (a second interface); required for an --ip off the bridge\'s subnet' })
          .option('ifname', { type: 'string', default: 'eth0', describe: 'name inside the namespace' })
          .option('host-ifname', { type: 'string', describe: 'host-side name (default: derived, bk + 11 hex)' })
          .option('mtu', { type: 'number', describe: 'MTU of both ends' })
          .option('hairpin', { type: 'boolean', default: false, describe: 'hairpin mode on the bridge port' }),
      examples: [
        ['netsetup veth --netns ns1 --bridge mydocker --ip 10.10.15.2/24', 'eth0 in ns1 with 10.10.15.2, default route via the bridge'],
        ['netsetup veth --pid 4242 --bridge mydocker --ip auto --json', 'next free address for the namespace of pid 4242'],
        ['netsetup veth --netns ns1 --bridge mydocker --dry-run', dryRunNote],
        ['printf \'{"netns":"c%s","bridge":"mydocker"}\\n\' 1 2 3 | netsetup veth -', 'many in one invocation: one JSON line each (namespaces c1, c2, c3 made before)'],
      ],
      run: async (a) => (await import('./commands/veth.js')).vethCommand(a),
    }),
    command({
      command: 'down [batch]',
      describe: 'remove attachments (veth, lease, published ports); gone is fine; `down -` reads targets',
      builder: (y) =>
        y
          .positional('batch', { type: 'string', describe: '- to read targets from stdin (netns names, or JSON {netns|pid|hostIfname})' })
          .option('netns', { type: 'string', array: true, describe: 'named namespace (repeatable)' })
          .option('pid', { type: 'number', array: true, describe: 'process in the namespace (repeatable)' })
          .option('host-ifname', { type: 'string', array: true, describe: 'host-side veth name (repeatable)' }),
      examples: [
        ['netsetup down --netns ns1', 'remove ns1\'s attachment'],
        ['netsetup down --netns c1 --netns c2 --dry-run', dryRunNote],
        ['printf "c1\\nc2\\n" | netsetup down -', 'many in one invocation'],
      ],
      run: async (a) => (await import('./commands/down.js')).downCommand(a),
    }),
    command({
      command: 'nat <cidr> [rm]',
      describe: 'ip_forward=1 and masquerade from CIDR to the outside (the article\'s POSTROUTING rules); `nat rm CIDR` removes',
      builder: (y) =>
        y.positional('cidr', { type: 'string', demandOption: true, describe: 'container network, or rm' }).positional('rm', { type: 'string', describe: 'with rm: the network' })
          .option('out-if', { type: 'string', describe: 'masquerade only traffic leaving through this interface' }),
      examples: [
        ['netsetup nat 10.10.15.0/24', 'RETURN inside 10.10.15.0/24, MASQUERADE the rest but multicast'],
        ['netsetup nat 10.10.15.0/24 --out-if eth0 --dry-run', dryRunNote],
        ['netsetup nat rm 10.10.15.0/24', 'remove the rules'],
      ],
      run: async (a) => (await import('./commands/nat.js')).natCommand(a),
    }),
    command({
      command: 'publish <spec> [rm]',
      describe: 'publish a container port on the host like docker -p (DNAT + hairpin); `publish rm SPEC` removes',
      builder: (y) =>
        y.positional('spec', { type: 'string', demandOption: true, describe: 'HOSTPORT:CONTAINER_IP:PORT[/tcp|udp], or rm' }).positional('rm', { type: 'string', describe: 'with rm: the mapping' })
          .option('host-ip', { type: 'string', describe: 'only for this local address (default: every local address)' }),
      examples: [
        ['netsetup publish 8080:10.10.15.2:80', 'host port 8080 to the container\'s port 80'],
        ['netsetup publish 5353:10.10.15.2:53/udp --host-ip 203.0.113.1 --dry-run', dryRunNote],
        ['netsetup publish rm 8080:10.10.15.2:80', 'remove it'],
      ],
      run: async (a) => (await import('./commands/publish.js')).publishCommand(a),
    }),
    command({
      command: 'route <action> <cidr> <via> <gw>',
      describe: 'host-gw routes between nodes: route add|rm CIDR via GW',
      builder: (y) =>
        y.positional('action', { choices: ['add', 'rm', 'del'] as const, demandOption: true })
          .positional('cidr', { type: 'string', demandOption: true }).positional('via', { type: 'string', demandOption: true })
          .positional('gw', { type: 'string', demandOption: true }).option('dev', { type: 'string', describe: 'output interface' }),
      examples: [
        ['netsetup route add 10.10.14.0/24 via 198.18.0.2', 'the article\'s route add -net 10.10.14.0/24 gw ...'],
        ['netsetup route rm 10.10.14.0/24 via 198.18.0.2 --dry-run', dryRunNote],
      ],
      run: async (a) => (await import('./commands/route.js')).routeCommand(a),
    }),
    command({
      command: ['ls', 'list'],
      describe: 'show bridges, attachments, NAT networks, published ports and rules netsetup made',
      examples: [['netsetup ls --json', 'everything as one JSON document']],
      run: async (a) => (await import('./commands/ls.js')).lsCommand(a),
    }),
  ],
};

export function yargsMain(argv: string[]): Promise<never> {
  return main(tool, argv);
}

// building dist/wiring.blob: main() registers itself to run when the blob is deserialized
if (startupSnapshot?.isBuildingSnapshot()) void main(tool);
