import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkVolumes, parseVolume, volumeFdBase, volumeMounts, volumeOpens } from '../src/container/volumes.js';
import { ancestry } from '../src/container/program.js';

describe('run --volume (docker -v HOST:CONTAINER[:ro])', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bk-vol-'));
  writeFileSync(join(dir, 'f'), 'x');
  it('parses both forms, a file or a directory, ro or rw', () => {
    expect(parseVolume(`${dir}:/data`)).toEqual({ host: dir, container: '/data', readOnly: false, file: false });
    expect(parseVolume(`${dir}/f:/etc/app.conf:ro`)).toEqual({ host: `${dir}/f`, container: '/etc/app.conf', readOnly: true, file: true });
    expect(parseVolume(`${dir}:/a//b/:rw`).container).toBe('/a/b');
  });
  it("refuses what docker refuses, and what would undo the container's own mounts, before anything is made", () => {
    for (const [v, why] of [
      ['relative:/data', /absolute/], [`${dir}:data`, /absolute/], [`${dir}`, /not HOST:CONTAINER/], [`${dir}:/d:rx`, /unknown option 'rx'/],
      [`${dir}:/`, /over the root/], [`${dir}:/proc/x`, /container's own/], [`${dir}:/sys`, /container's own/], [`${dir}:/a/../b`, /'\.\.'/],
      ['/no/such/dir:/data', /no such file or directory: \/no\/such\/dir/],
    ] as const) {
      expect(() => parseVolume(v), v).toThrow(why);
    }
    expect(() => checkVolumes([parseVolume(`${dir}:/d`), parseVolume(`${dir}/f:/d`)])).toThrow(/\/d is given twice/);
  });
  it('clones each source\'s mount tree on its own fd before pivot_root, and attaches them, parents first, after it, read-only when asked', () => {
    const vs = [parseVolume(`${dir}:/a/b/c:ro`), parseVolume(`${dir}:/a`)];
    // :ro is the copied tree's (read-only as a whole before it is attached), not a remount of the target after
    expect(volumeOpens(vs).map((s) => [s.op, s.ints, s.strs])).toEqual([['OPEN_TREE', [500, 1], [dir]], ['OPEN_TREE', [501, 0], [dir]]]);
    const m = volumeMounts(vs, ancestry).filter((s) => s.op === 'MOVE_MOUNT' || s.op === 'MOUNT');
    expect(m.map((s) => [s.op, s.strs![0], Number(s.ints![0])])).toEqual([['MOVE_MOUNT', '/a', 501], ['MOVE_MOUNT', '/a/b/c', 500]]);
    // under a lower open-file limit the fds go lower; too low is refused with the reason
    expect(volumeFdBase(2, 'Max open files            1048576              1048576              files\n')).toBe(500);
    expect(volumeFdBase(2, 'Max open files            400                  400                  files\n')).toBe(397);
    expect(() => volumeFdBase(2, 'Max open files            64                   64                   files\n')).toThrow(/open-file limit \(64\) leaves no room for 2 volumes/);
    rmSync(dir, { recursive: true, force: true });
  });
});
