import { describe, expect, it } from 'vitest';
import { normalize, parseAufsOptions, parseBranch } from '../src/spec.js';

describe('aufs syntax', () => {
  it('parses the article command br=./tmp=rw:./dira=ro:./dirb=ro', () => {
    expect(parseAufsOptions('br=./tmp=rw:./dira=ro:./dirb=ro')).toEqual({ branches: ['./tmp=rw', './dira=ro', './dirb=ro'], flags: [] });
    const s = normalize({ mountpoint: './mnt', aufsOptions: 'br=./tmp=rw:./dira=ro:./dirb=ro,udba=reval' });
    expect(s).toMatchObject({ upper: './tmp', lowers: ['./dira', './dirb'], udba: 'reval', aufsSyntax: true, readonly: false });
  });

  it('defaults branch permissions as aufs does (first rw, others ro)', () => {
    expect(parseBranch('./a', 0)).toEqual({ dir: './a', perm: 'rw' });
    expect(parseBranch('./b', 1)).toEqual({ dir: './b', perm: 'ro' });
    expect(parseBranch('./c=rr+wh', 2)).toEqual({ dir: './c', perm: 'rr+wh' });
  });

  it('--branch means the same union as -o br=', () => {
    const a = normalize({ mountpoint: 'm', branches: ['./tmp=rw', './image=ro'] });
    const b = normalize({ mountpoint: 'm', aufsOptions: 'br=./tmp=rw:./image=ro' });
    expect(a).toEqual(b);
  });

  it('keeps an escaped colon in a branch path', () => {
    expect(parseAufsOptions('br=./a\\:b=rw:./c').branches).toEqual(['./a:b=rw', './c']);
  });

  it('all-ro branches make a read-only union; ro option too', () => {
    expect(normalize({ mountpoint: 'm', aufsOptions: 'br=./a=ro:./b=ro' })).toMatchObject({ lowers: ['./a', './b'], aufsSyntax: true });
    expect(normalize({ mountpoint: 'm', aufsOptions: 'br=./a=ro:./b=ro' }).upper).toBeUndefined();
    expect(normalize({ mountpoint: 'm', aufsOptions: 'br=./a=rw:./b,ro' }).readonly).toBe(true);
  });

  it.each([
    [{ aufsOptions: 'br=./a=ro:./b=rw' }, /rw branch .* is not the first/],
    [{ aufsOptions: 'br=./a=rw:./b=rw:./c' }, /more than one rw branch/],
    [{ aufsOptions: 'br=./a=xx' }, /invalid branch permission 'xx'/],
    [{ aufsOptions: 'br=./a=rw:./b,udba=sometimes' }, /invalid udba 'sometimes'/],
    [{ aufsOptions: 'br=./a=rw:./b,noplink' }, /unsupported mount option 'noplink'/],
    [{ aufsOptions: 'udba=none' }, /no branches in -o/],
    [{ aufsOptions: 'br=./a=rw:./b', lowers: ['./c'] }, /either as branches/],
    [{ lowers: ['./a'], driver: 'zfs' }, /unknown driver 'zfs'/],
    [{}, /at least one lower layer/],
    [{ lowers: ['./a'], work: './w' }, /--work needs --upper/],
  ])('rejects %j with exit 2', (o, re) => {
    try {
      normalize({ mountpoint: 'm', ...o });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(re);
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
  });
});
