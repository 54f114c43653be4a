/**
 * Container ids and names. An id is 12 hex digits (docker's short form);
 * a name the user does not choose is `bk-<id prefix>` so it is still a
 * valid path component, netns and hostname.
 */
import { randomBytes } from 'node:crypto';
import { validateName } from '@boxkit/common';

export function newId(): string {
  return randomBytes(6).toString('hex');
}

export function defaultName(id: string): string {
  return `bk-${id.slice(0, 8)}`;
}

/** Names become file names, hostnames (<= 63) and parts of cgroup paths. */
export function checkName(name: string): string {
  return validateName('container', name, 63);
}

/** The host end of a container's veth: `bk` + 10 id chars fits IFNAMSIZ (15). */
export function hostVethName(id: string): string {
  return `bk${id.slice(0, 10)}`;
}
