/**
 * The builtins a start from netsetup's cli.blob (`veth`, `down`) can compile:
 * child_process and what it brings, when runLite spawns `ip` or
 * iptables-restore (the fallbacks), as NODE_DEBUG_NATIVE=CODE_CACHE lists
 * them for `BOXKIT_NETLINK=0 netsetup veth`. The blob keeps the code cache of
 * these only, with the hand-off to the yargs wiring (tsup.base.ts
 * HANDOFF_BUILTINS; tsup.config.ts, scripts/slim-blob.mjs): the other ~212 entries
 * (1.06 MB) were read, copied and freed by every start: 3.28 -> 2.21 MB, veth
 * 0.95x (100 rounds interleaved). Dropping these five too cost the `ip
 * -batch` fallback ~1 ms of compiling. And os: `veth -` (a batch) imports
 * common/signals for its Ctrl-C handling, which loads node:os.
 */
export const CLI_RUNTIME_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'internal/socket_list', 'os'];
