/** The yargs CLI: help, validation messages, anything the fast path in cli.ts declines. A bundle of its own (dist/wiring.cjs). */
import { command, main, type ToolSpec } from '@boxkit/common';
import { startupSnapshot } from 'node:v8';
import type { Argv } from 'yargs';
import pkg from '../package.json' with { type: 'json' };

/** Flags every command shares: which chains (prefix) and which iptables. */
function withTarget<T>(y: Argv<T>) {
  return y
    .option('prefix', { type: 'string', default: 'BKSVC', describe: 'chain name prefix (BKSVC-SERVICES, BKSVC-SVC-…)' })
    .option('backend', { choices: ['auto', 'nft', 'legacy'] as const, default: 'auto' as const, describe: 'iptables backend (auto: what iptables-restore is)' });
}

/** apply reconciles with the kernel by default; add/rm change one service on the fast path. */
function withSync<T>(y: Argv<T>, partial = false) {
  return withTarget(y)
    .option('explain', { type: 'boolean', default: false, describe: 'print the change as iptables -t nat -N/-A commands (implies --dry-run)' })
    .option('partial', {
      type: 'boolean',
      default: partial,
      describe: 'write only what changed since the stored state, without reading iptables-save first (kube-proxy\'s partial sync; --no-partial reads the kernel and repairs it)',
    })
    .option('nodeport-range', { type: 'string', default: '30000-32767', describe: 'allowed NodePorts' });
}

const tool: ToolSpec = {
  name: 'svcproxy',
  dryRun: 'print the iptables-restore input it would load and change nothing (--explain: as iptables commands)',
  version: pkg.version,
  description: pkg.description,
  commands: [
    command({
      command: 'apply <file>',
      describe: 'make the kernel hold exactly the services in FILE (YAML or JSON; - for stdin)',
      builder: (y) => withSync(y).positional('file', { type: 'string', demandOption: true, describe: 'services file, or - for stdin' }),
      examples: [
        ['svcproxy apply services.yaml', 'sync the Service chains with the file'],
        ['svcproxy apply --dry-run services.yaml', 'print the iptables-restore --noflush input and change nothing'],
        ["echo '[{name: web, vip: 10.96.0.10:80, endpoints: [10.88.0.2:8080]}]' | svcproxy apply -", 'services from stdin'],
      ],
      run: async (a) => (await import('./commands/apply.js')).apply(a),
    }),
    command({
      command: 'add <name>',
      describe: 'add or replace one service',
      builder: (y) =>
        withSync(y, true)
          .positional('name', { type: 'string', demandOption: true })
          .option('vip', { type: 'string', demandOption: true, describe: 'virtual IP:PORT' })
          .option('endpoint', { type: 'string', array: true, default: [] as string[], describe: 'endpoint IP:PORT (repeat; none: connections are rejected)' })
          .option('nodeport', { type: 'number', describe: 'also serve the service on this port of every local address' })
          .option('affinity', { type: 'string', describe: 'clientip[:SECONDS] session affinity (default 10800 s)' })
          .option('protocol', { type: 'string', default: 'tcp', describe: 'tcp or udp' }),
      examples: [
        ['svcproxy add web --vip 2.2.2.2:88 --endpoint 10.10.63.2:12345 --endpoint 10.10.14.2:12345', 'the article\'s Service'],
        ['svcproxy add web --vip 2.2.2.2:88 --endpoint 10.10.63.2:12345 --nodeport 30001', 'with a NodePort: port 30001 on the node\'s addresses'],
        ['svcproxy add web --vip 10.96.0.10:80 --endpoint 10.88.0.2:8080 --dry-run --explain', 'show it as iptables commands'],
      ],
      run: async (a) => (await import('./commands/add.js')).add(a),
    }),
    command({
      command: 'rm <names..>',
      describe: 'remove services (removing what is gone succeeds)',
      builder: (y) => withSync(y, true).positional('names', { type: 'string', array: true, demandOption: true }),
      examples: [['svcproxy rm web', 'remove the web service and its chains']],
      run: async (a) => (await import('./commands/rm.js')).rm(a),
    }),
    command({
      command: ['ls', 'list'],
      describe: 'list services, endpoints and packet counters',
      builder: (y) => withTarget(y),
      examples: [['svcproxy ls --json | jq ".services[].endpoints"', 'endpoints with counters']],
      run: async (a) => (await import('./commands/ls.js')).ls(a),
    }),
    command({
      command: 'flush',
      describe: 'remove every chain and hook rule of this prefix and forget the services',
      builder: (y) => withTarget(y).option('explain', { type: 'boolean', default: false, describe: 'print the change as iptables commands (implies --dry-run)' }),
      examples: [
        ['svcproxy flush', 'back to the nat table as it was before svcproxy'],
        ['svcproxy flush --dry-run', 'show what would be removed'],
      ],
      run: async (a) => (await import('./commands/flush.js')).flush(a),
    }),
  ],
};

export const yargsMain = (argv: string[]): Promise<never> => main(tool, argv);

// building dist/wiring.blob: main() registers itself to run when the blob is deserialized
if (startupSnapshot?.isBuildingSnapshot()) void main(tool);
