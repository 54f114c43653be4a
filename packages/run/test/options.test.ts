import { describe, expect, it } from 'vitest';
import { fastParse } from '../src/options.js';

describe('run fastParse', () => {
  it('reads values in every form docker takes', () => {
    expect(fastParse(['--name', 'web', '-e', 'A=1', '-p8080:80', '--cpus=0.5', '--', 'true'])).toMatchObject({
      name: 'web', env: ['A=1'], publish: ['8080:80'], cpus: 0.5, '--': ['true'],
    });
  });
  it('declines a flag whose value is missing or is another flag (yargs then says "--name needs a value")', () => {
    expect(fastParse(['--name', '--rm', '--', 'true'])).toBeUndefined();
    expect(fastParse(['-e', '--', 'true'])).toBeUndefined();
    expect(fastParse(['--rm', '-p'])).toBeUndefined();
    expect(fastParse(['--cpus', 'half', '--', 'true'])).toBeUndefined();
  });
});
