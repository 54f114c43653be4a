import { describe, expect, it } from 'vitest';
import { readFlags } from '../src/cli.js';

// the options of a command, as yargs' getOptions() lists them
const o = {
  key: { prefix: true, lower: true, l: true, json: true, nodeport: true, partial: true, backend: true },
  alias: { lower: ['l'] },
  boolean: ['json', 'partial'],
  string: ['prefix', 'lower', 'l'],
  number: ['nodeport'],
  array: ['lower', 'l'],
  narg: {},
  choices: { backend: ['auto', 'nft'] },
};

describe('readFlags: the words as typed, as yargs reads them', () => {
  it('an unknown flag does not take the next word (mount --bogus ./m)', () => {
    expect(readFlags(['mount', '--bogus', './m'], o)).toEqual([{ flag: '--bogus', key: undefined }]);
  });
  it('a flag that takes a value, followed by a flag or nothing, has none', () => {
    expect(readFlags(['apply', 'f', '--prefix', '--json'], o)).toEqual([
      { flag: '--prefix', key: 'prefix', takesValue: true }, { flag: '--json', key: 'json' },
    ]);
    expect(readFlags(['apply', '--backend'], o)).toEqual([{ flag: '--backend', key: 'backend', takesValue: true }]);
  });
  it("values: the next word, after '=', in the same short word, '-' and negative numbers", () => {
    const values = (argv: string[]) => readFlags(argv, o).map((f) => [f.flag, f.key, f.value]);
    expect(values(['--prefix', 'X', '--nodeport=-1', '-l/usr', '-l', '-', '--no-partial', '--nodeport', '-5'])).toEqual([
      ['--prefix', 'prefix', 'X'], ['--nodeport', 'nodeport', '-1'], ['-l', 'lower', '/usr'], ['-l', 'lower', '-'],
      ['--no-partial', 'partial', undefined], ['--nodeport', 'nodeport', '-5'],
    ]);
  });
  it('stops at --', () => {
    expect(readFlags(['--json', '--', '--bogus'], o)).toEqual([{ flag: '--json', key: 'json' }]);
  });
});
