import { describe, expect, it } from 'vitest';
import { fastParse } from '../src/fastargs.js';
import { render } from '../src/rules.js';
import { diff, restoreChunks, restoreLines, restoreText } from '../src/diff.js';
import type { Service } from '../src/model.js';

describe('fast argv parser', () => {
  it('reads the ordinary flags with yargs\' keys and defaults', () => {
    expect(fastParse(['apply', '--partial', '--backend=legacy', '-v', 'f.json'])!.args).toEqual({
      prefix: 'BKSVC', backend: 'legacy', dryRun: false, json: false, verbose: true, explain: false, nodeportRange: '30000-32767', partial: true, file: 'f.json',
    });
    expect(fastParse(['apply', '-'])!.args.file).toBe('-');
    expect(fastParse(['add', 'web', '--vip', '2.2.2.2:88', '--endpoint', 'a:1', '--endpoint=b:2', '--nodeport', '30001', '--no-partial'])!.args).toMatchObject({
      name: 'web', vip: '2.2.2.2:88', endpoint: ['a:1', 'b:2'], nodeport: 30001, partial: false, protocol: 'tcp',
    });
    expect(fastParse(['rm', 'a', 'b'])!.args).toMatchObject({ names: ['a', 'b'], partial: true });
    expect(fastParse(['list', '--json'])!.args.json).toBe(true);
  });

  it.each([
    [[]], [['--help']], [['--version']], [['apply', '--help']], [['apply']], [['apply', 'a', 'b']], [['apply', '--bogus', 'f']],
    [['apply', '--backend', 'iptables', 'f']], [['add', 'web']], [['add', 'w', '--vip', 'x', '--endpoint', 'a', 'b']],
    [['add', 'w', '--vip', 'x', '--nodeport', 'abc']], [['rm']], [['flush', 'x']], [['apply', '--partial', 'false', 'f']], [['apply', '--', 'f']],
  ])('leaves %j to yargs', (argv) => {
    expect(fastParse(argv as string[])).toBeUndefined();
  });
});

describe('streamed restore text', () => {
  const svc = (i: number): Service => ({ name: `s${i}`, protocol: 'tcp', vip: `10.96.${i >> 8}.${(i & 255) + 1 > 255 ? 1 : (i & 255) + 1}`, port: 80, endpoints: [{ ip: `10.88.0.${(i % 250) + 1}`, port: 80 }] });
  const d = diff(render('BKSVC', Array.from({ length: 3000 }, (_, i) => svc(i))), render('BKSVC', []));

  it('is the same text in chunks, with the line count known up front', () => {
    const chunks = [...restoreChunks(d, { zeroCounters: true })];
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.join('')).toBe(restoreText(d, { zeroCounters: true }));
    expect(restoreLines(d, { zeroCounters: true })).toBe(restoreText(d, { zeroCounters: true }).split('\n').length - 1);
  });

  it('with the nat section already opened: no *nat line, and a bare COMMIT when nat does not change', () => {
    expect([...restoreChunks(d, { natOpen: true })].join('')).toBe(restoreText(d).replace(/^\*nat\n/, ''));
    const none = diff(render('BKSVC', []), render('BKSVC', []));
    expect([...restoreChunks(none, { natOpen: true })].join('')).toBe('COMMIT\n');
    expect(restoreText(none)).toBe('');
  });
});
