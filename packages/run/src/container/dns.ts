/**
 * The container's /etc/resolv.conf, as docker makes it (libnetwork's
 * resolvconf): the host's, with `--net host` as it is; in a network
 * namespace of its own, without the nameservers on the host's loopback
 * (127.0.0.53 of systemd-resolved is the host's, not the container's):
 * then systemd-resolved's upstream list, and failing that docker's
 * default public servers.
 */
const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

const loopback = (ip: string): boolean => /^127\./.test(ip) || ip === '::1';

function nameservers(text: string): string[] {
  return text.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
}

/** `host`: the host's /etc/resolv.conf; `upstream`: systemd-resolved's /run/systemd/resolve/resolv.conf, when there is one. */
export function resolvConf(host: string, ownNetns: boolean, upstream?: string): string {
  if (!ownNetns) return host;
  const kept = host.split('\n').filter((l) => {
    const ns = /^\s*nameserver\s+(\S+)/.exec(l)?.[1];
    return ns === undefined || !loopback(ns);
  });
  if (nameservers(kept.join('\n')).length) return kept.join('\n');
  const up = nameservers(upstream ?? '').filter((ip) => !loopback(ip));
  const rest = kept.filter((l) => l.trim() !== '').join('\n');
  return `${rest ? `${rest}\n` : ''}${(up.length ? up : DEFAULT_NAMESERVERS).map((ip) => `nameserver ${ip}`).join('\n')}\n`;
}
