/**
 * @boxkit/unionfs: union mounts (overlay; aufs where the kernel has it, and
 * aufs syntax everywhere), their diffs and their layers, as a library.
 * `run` uses planUnion/mountUnion/umountUnion in-process and renderMount for
 * its --dry-run pipeline; plan.mount holds the exact mount(2) arguments for
 * a MOUNT step inside a new mount namespace.
 */
export { planUnion, type UnionPlan, type UnionStep, type MountCall, type PlanEnv } from './plan.js';
export { applyUnion, mountUnion, lockedUnion, describeMount, type UnionMount, type MountRunOptions } from './apply.js';
export { umountUnion, umountShell, type UmountResult, type UmountOptions } from './umount.js';
export { renderMount, renderShell, stepShell } from './render.js';
export { listUnions, findUnion, isMountpoint, parseMountinfo, overlayLayers, type UnionInfo, type MountEntry } from './mountinfo.js';
export { normalize, parseMountOptions, parseBranch, DRIVER_CHOICES, type UnionOptions, type DriverName, type NormalSpec } from './spec.js';
export { DRIVERS, kernelFilesystems, pickDriver, MAX_OPTIONS, MAX_LOWERS } from './drivers.js';
export { diffLayers, lowerLookup, type Change, type ChangeKind } from './diff.js';
export { commitLayer, type CommitResult } from './commit.js';
export { extractLayer, type ExtractResult } from './extract.js';
export { sweepStaleLayers } from './sweep.js';
export { resolveTarget, type LayerTarget } from './target.js';
export { TarWriter, paxRecord, type TarEntry, type TarType } from './tar.js';
export { TarReader, type ReadEntry } from './tarread.js';
