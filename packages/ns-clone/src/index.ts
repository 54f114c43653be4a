/**
 * @boxkit/ns-clone as a library: plan a container, start it (held while the
 * caller attaches cgroups and network by pid), supervise it, or enter the
 * namespaces of a running one. `run` imports these in-process.
 */
export type { ContainerSpec, IdRange, NsPath } from './spec.js';
export { NS_ORDER, NS_FLAGS } from './spec.js';
export { planContainer, containerSteps, cloneFlags, type ContainerPlan } from './plan.js';
export { startContainer, stepFailure, nsPaths, type StartOptions, type RunningContainer } from './container.js';
export { superviseContainer, FORWARDED, type SuperviseOptions } from './supervise.js';
export { enterContainer, enterSteps, differentNamespaces, type EnterOptions } from './enter.js';
export { parseRange, mapsFromFlags, writeMaps, mapText, type MapFlags } from './idmap.js';
export { checkSpec, isNamespaceFile } from './check.js';
export { persistNamespace, undoPersist, type Persisted } from './persist.js';
export { createSetupFifo, releaseSetup, setupDir } from './setup-fifo.js';
export { requestFromFlags, netnsPath, type RunFlags, type RunRequest } from './args.js';
export { renderStep } from './render.js';
export { devSteps, procSteps, mountStep, type DevOptions } from './rootfs.js';
