/**
 * @boxkit/netsetup: container networking as a library (used in-process by
 * `run`) and as the `netsetup` CLI. Every function takes ExecOptions
 * ({ dryRun, verbose, print }): a dry run prints the article-style commands
 * and changes nothing.
 */
export { ensureBridge, removeBridge, planBridge, bridgeCidr, type BridgeResult } from './bridge.js';
export { addNetns, removeNetns, listNetns } from './netns.js';
export { attach, attachMany, attachableBridge, attachOps, deriveHostIfname, parseSpecLine, type AttachSpec, type Attachment } from './attach.js';
export { detach, detachMany, linkDelOps, type DetachTarget, type Detached } from './detach.js';
export { ensureNat, removeNat, planNat, natChain, type NatResult } from './nat.js';
export { publish, unpublish, parsePublish, publishString, type PublishSpec, type PublishResult } from './publish.js';
export { addRoute, removeRoute, type RouteSpec } from './route.js';
export { isLocalAddress } from './netlink.js';
export { list, type Listing } from './list.js';
export { renderAttach, renderBridge, renderDetach, renderNat, renderPublish, renderRoute } from './render.js';
export { execute, renderOp, renderOps, type ExecOptions, type NsRef, type Op } from './ops.js';
export { parseCidr, parseHostCidr, parseIp, contains, hosts, type Cidr } from './cidr.js';
export type { NetState, AttachmentRecord, BridgeRecord, NatRecord, PublishRecord } from './state.js';
