/**
 * @boxkit/run as a library: containers made of the boxkit tools. The CLI
 * (cli.ts) is a thin layer over these.
 */
export { toSpec, runContainer, type RunArgs } from './commands/run.js';
export { startContainer, resolveLowers, execFailureStatus, type Started, type StartOptions } from './container/create.js';
export { waitForeground, finish, stopContainer } from './container/lifecycle.js';
export { teardown, killContainer } from './container/teardown.js';
export { execInContainer, execProgram, type ExecOptions } from './container/exec.js';
export { containerProgram, DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, type ProgramOptions } from './container/program.js';
export { pipeline } from './container/pipeline.js';
export { parseSize, parsePublish, parseNet, parseEnv, DEFAULT_BRIDGE, type ContainerSpec, type Limits, type NetMode, type Publish } from './container/spec.js';
export { DEFAULT_BRIDGE_CIDR } from './container/network.js';
export { ensureDefaultRootfs, buildBusyboxRootfs, defaultRootfsDir } from './rootfs/default.js';
export { rootfsFromHost, closure, parseLdd, type FromHostResult } from './rootfs/from-host.js';
export { list, load, isAlive, liveStatus, locked } from './state/store.js';
export type { ContainerRecord, NetRecord, Status } from './state/record.js';
