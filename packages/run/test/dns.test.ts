import { describe, expect, it } from 'vitest';
import { resolvConf } from '../src/container/dns.js';

describe("run: the container's /etc/resolv.conf (docker's rules)", () => {
  it('is the host\'s with --net host, and without its loopback nameservers in a namespace of its own', () => {
    const host = 'search lan\nnameserver 127.0.0.53\nnameserver 10.255.255.53\noptions edns0\n';
    expect(resolvConf(host, false)).toBe(host);
    expect(resolvConf(host, true)).toBe('search lan\nnameserver 10.255.255.53\noptions edns0\n');
  });
  it("takes systemd-resolved's upstream list when only the stub was left, else docker's default servers", () => {
    const stub = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n';
    expect(resolvConf(stub, true, 'nameserver 10.0.0.2\nnameserver ::1\n')).toBe('options edns0 trust-ad\nsearch .\nnameserver 10.0.0.2\n');
    expect(resolvConf(stub, true)).toBe('options edns0 trust-ad\nsearch .\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    expect(resolvConf('', true)).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });
});
