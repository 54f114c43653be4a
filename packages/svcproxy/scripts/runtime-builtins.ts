/**
 * The builtins a start from svcproxy's cli.blob (apply, add, rm, flush, ls)
 * can compile beyond the hand-off to the yargs wiring (tsup.base.ts
 * HANDOFF_BUILTINS): child_process and what it brings (iptables-save and
 * iptables-restore), zlib (the state file's CRC-32) and process (a UDP service's flows), as
 * NODE_DEBUG_NATIVE=CODE_CACHE lists them for every one of those commands on
 * both backends. The blob keeps the code cache of these only; the other
 * ~214 entries were read, copied and freed by every start.
 */
export const CLI_RUNTIME_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'internal/socket_list', 'zlib', 'process'];
