import { describe, expect, it } from 'vitest';
import { runLite } from '@boxkit/common';

// runLite (in @boxkit/common, added for netsetup's hot path) keeps run()'s contract
describe('runLite', () => {
  it('passes argv without a shell, feeds stdin, strips the final newline', async () => {
    expect(await runLite('printf', ['%s|', 'a b', '$HOME'])).toEqual({ stdout: 'a b|$HOME|', stderr: '', exitCode: 0 });
    expect((await runLite('cat', [], { input: 'x\ny\n' })).stdout).toBe('x\ny');
  });
  it('accepts okCodes and reports failures in one line with the command', async () => {
    expect((await runLite('sh', ['-c', 'exit 3'], { okCodes: [3] })).exitCode).toBe(3);
    await expect(runLite('sh', ['-c', 'echo first >&2; echo second >&2; exit 1'])).rejects.toThrow("sh -c 'echo first >&2; echo second >&2; exit 1': first");
    await expect(runLite('no-such-program-here', [])).rejects.toMatchObject({ code: 'EEXEC', hint: "'no-such-program-here' is not installed" });
  });
});
