import { describe, expect, it } from 'vitest';
import { checkRanges, describeMaps, mapsFromFlags, mapWriter, parseRange } from '../src/idmap.js';
import { requestFromFlags } from '../src/args.js';

describe('id maps', () => {
  it('parses inner:outer:count and rejects bad ranges', () => {
    expect(parseRange('uid', '0:100000:65536')).toEqual({ inner: 0, outer: 100000, count: 65536 });
    for (const bad of ['0:1', 'a:b:c', '0:1:0', '4294967295:0:1']) expect(() => parseRange('uid', bad)).toThrow(/invalid uid map range/);
    expect(() => checkRanges('uid', [{ inner: 0, outer: 10, count: 5 }, { inner: 4, outer: 100, count: 1 }])).toThrow(/overlapping/);
  });

  it('maps the flags ask for', () => {
    expect(mapsFromFlags({ mapRootUser: true }, 1000, 1000)).toEqual({ uidMap: [{ inner: 0, outer: 1000, count: 1 }], gidMap: [{ inner: 0, outer: 1000, count: 1 }] });
    expect(mapsFromFlags({ mapUser: 5 }, 1000, 1000).uidMap).toEqual([{ inner: 5, outer: 1000, count: 1 }]);
  });

  it('an unprivileged caller writes its own single id, and needs newuidmap for ranges', () => {
    expect(mapWriter([{ inner: 0, outer: 1000, count: 1 }], 1000, 1000)).toBe('direct');
    expect(mapWriter([{ inner: 0, outer: 100000, count: 65536 }], 1000, 1000)).toBe('newuidmap');
    expect(mapWriter([{ inner: 0, outer: 100000, count: 65536 }], 0, 0)).toBe('direct');
    expect(describeMaps('$PID', [{ inner: 0, outer: 1000, count: 1 }], [{ inner: 0, outer: 1000, count: 1 }], 1000, 1000, 1000)).toEqual([
      "echo '0 1000 1' > /proc/$PID/uid_map",
      'echo deny > /proc/$PID/setgroups',
      "echo '0 1000 1' > /proc/$PID/gid_map",
    ]);
  });
});

describe('flags to a spec', () => {
  it('implies namespaces as unshare does', () => {
    const r = requestFromFlags({ hostname: 'web', root: '/r', init: true, mapRootUser: true, '--': ['sh'] });
    expect(r.spec.namespaces).toEqual(['user', 'uts', 'pid', 'mnt']);
    expect(r.spec.mountProc).toBe(true);
  });
  it('rejects bad input before anything happens', () => {
    // no namespace at all is not bad input: CMD runs in ours, as with a bare unshare
    expect(requestFromFlags({ '--': ['sh'] }).spec.namespaces).toEqual([]);
    expect(() => requestFromFlags({ hostname: 'bad name' })).toThrow(/invalid hostname/);
    expect(() => requestFromFlags({ uts: true, persist: ['bogus=/x'] })).toThrow(/unknown namespace 'bogus'/);
    expect(() => requestFromFlags({ uts: true, wd: 'relative' })).toThrow(/absolute/);
    // --mount-proc makes the mount namespace it needs (unshare's --mount-proc does too)
    expect(requestFromFlags({ uts: true, mountProc: true }).spec.namespaces).toContain('mnt');
  });
  it('a bare --netns name is looked up in /var/run/netns', () => {
    expect(requestFromFlags({ netns: 'ns1', '--': ['true'] }).spec.join).toEqual([{ kind: 'net', path: '/var/run/netns/ns1' }]);
  });
});
