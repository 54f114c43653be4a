import { describe, expect, it } from 'vitest';
import { normalize, parseMountOptions, parseBranch } from '../src/spec.js';

/** normalize() refuses these options with a usage error (exit 2) saying `re`. */
function rejects(o: Parameters<typeof normalize>[0] extends infer T ? Omit<T, 'mountpoint'> : never, re: RegExp): void {
  try {
    normalize({ mountpoint: 'm', ...o });
    expect.unreachable();
  } catch (e) {
    expect((e as Error).message).toMatch(re);
    expect((e as { exitCode: number }).exitCode).toBe(2);
  }
}

describe('aufs syntax', () => {
  it('parses the article command br=./tmp=rw:./dira=ro:./dirb=ro', () => {
    expect(parseMountOptions('br=./tmp=rw:./dira=ro:./dirb=ro')).toEqual({ branches: ['./tmp=rw', './dira=ro', './dirb=ro'], flags: [] });
    const s = normalize({ mountpoint: './mnt', mountOptions: 'br=./tmp=rw:./dira=ro:./dirb=ro,udba=reval' });
    expect(s).toMatchObject({ upper: './tmp', lowers: ['./dira', './dirb'], udba: 'reval', aufsSyntax: true, readonly: false });
  });

  it('defaults branch permissions as aufs does (first rw, others ro)', () => {
    expect(parseBranch('./a', 0)).toEqual({ dir: './a', perm: 'rw' });
    expect(parseBranch('./b', 1)).toEqual({ dir: './b', perm: 'ro' });
    expect(parseBranch('./c=rr+wh', 2)).toEqual({ dir: './c', perm: 'rr+wh' });
  });

  it('--branch means the same union as -o br=', () => {
    const a = normalize({ mountpoint: 'm', branches: ['./tmp=rw', './image=ro'] });
    const b = normalize({ mountpoint: 'm', mountOptions: 'br=./tmp=rw:./image=ro' });
    expect(a).toEqual(b);
  });

  it('keeps an escaped colon in a branch path', () => {
    expect(parseMountOptions('br=./a\\:b=rw:./c').branches).toEqual(['./a:b=rw', './c']);
  });

  it('all-ro branches make a read-only union; ro option too', () => {
    expect(normalize({ mountpoint: 'm', mountOptions: 'br=./a=ro:./b=ro' })).toMatchObject({ lowers: ['./a', './b'], aufsSyntax: true });
    expect(normalize({ mountpoint: 'm', mountOptions: 'br=./a=ro:./b=ro' }).upper).toBeUndefined();
    expect(normalize({ mountpoint: 'm', mountOptions: 'br=./a=rw:./b,ro' }).readonly).toBe(true);
  });

  it.each([
    [{ mountOptions: 'br=./a=ro:./b=rw' }, /rw branch .* is not the first/],
    [{ mountOptions: 'br=./a=rw:./b=rw:./c' }, /more than one rw branch/],
    [{ mountOptions: 'br=./a=xx' }, /invalid branch permission 'xx'/],
    [{ mountOptions: 'br=./a=rw:./b,udba=sometimes' }, /invalid udba 'sometimes'/],
    [{ mountOptions: 'br=./a=rw:./b,noplink' }, /unsupported mount option 'noplink'/],
    [{ mountOptions: 'udba=none' }, /no branches in -o/],
    [{ mountOptions: 'br=./a=rw:./b', lowers: ['./c'] }, /either as branches/],
    [{ lowers: ['./a'], driver: 'zfs' }, /unknown driver 'zfs'/],
    [{}, /at least one lower layer/],
    [{ lowers: ['./a'], work: './w' }, /--work needs --upper/],
  ])('rejects %j with exit 2', rejects);
});

describe("overlay's own -o options (what --dry-run prints, as mount(8) takes them)", () => {
  it('lowerdir= (topmost first), upperdir=, workdir= mean --lower, --upper, --work', () => {
    const o = normalize({ mountpoint: './mnt', mountOptions: 'lowerdir=./dira:./dirb,upperdir=./tmp,workdir=./tmp.work' });
    const f = normalize({ mountpoint: './mnt', lowers: ['./dira', './dirb'], upper: './tmp', work: './tmp.work', driver: 'overlay' });
    expect(o).toEqual(f);
    expect(o).toMatchObject({ driver: 'overlay', aufsSyntax: false });
  });

  it('takes the flags --dry-run puts before them, and volatile', () => {
    expect(normalize({ mountpoint: 'm', mountOptions: 'ro,nodev,nosuid,lowerdir=/a:/b' })).toMatchObject({ lowers: ['/a', '/b'], readonly: true, flags: ['nodev', 'nosuid'] });
    expect(normalize({ mountpoint: 'm', mountOptions: 'lowerdir=/a,upperdir=/u,workdir=/w,volatile' })).toMatchObject({ volatile: true, upper: '/u', work: '/w' });
  });

  it("reads overlay's escapes: '\\:' and '\\,' stay in a path", () => {
    expect(parseMountOptions('lowerdir=/x/a\\:b\\,c:/y,upperdir=/u\\,1,workdir=/w\\:2')).toEqual({
      branches: [], flags: [], lowerdir: ['/x/a:b,c', '/y'], upperdir: '/u,1', workdir: '/w:2',
    });
  });

  it.each([
    [{ mountOptions: 'lowerdir=./a', lowers: ['./b'] }, /either in -o \(lowerdir=, upperdir=, workdir=\) or as --lower\/--upper\/--work/],
    [{ mountOptions: 'lowerdir=./a', upper: './u' }, /either in -o/],
    [{ mountOptions: 'lowerdir=./a,br=./u=rw' }, /either as aufs branches/],
    [{ mountOptions: 'lowerdir=./a,udba=none' }, /udba= is an aufs option/],
    [{ mountOptions: 'lowerdir=./a,lowerdir=./b' }, /lowerdir= is given twice/],
    [{ mountOptions: 'lowerdir=./a::./b' }, /an empty layer/],
    [{ mountOptions: 'lowerdir=' }, /an empty layer/],
    [{ mountOptions: 'upperdir=./u,workdir=./w' }, /^at least one lower layer is required$/],
    [{ mountOptions: 'lowerdir=./a,workdir=./w' }, /^workdir= needs upperdir=$/],
    [{ mountOptions: 'lowerdir=./a,redirect_dir=on' }, /unsupported mount option 'redirect_dir=on'/],
    [{ mountOptions: 'lowerdir=./a,userxattr' }, /unsupported mount option 'userxattr'/],
  ])('rejects %j with exit 2', rejects);
});
