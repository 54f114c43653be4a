import { afterEach, describe, expect, it, vi } from 'vitest';

// the switch is read once, at the first mark: each case loads the module afresh
async function fresh(env: string | undefined) {
  vi.resetModules();
  if (env === undefined) delete process.env.BOXKIT_PHASES;
  else process.env.BOXKIT_PHASES = env;
  return import('../src/phases.js');
}

describe('phases (BOXKIT_PHASES)', () => {
  const saved = process.env.BOXKIT_PHASES;
  afterEach(() => {
    vi.restoreAllMocks();
    if (saved === undefined) delete process.env.BOXKIT_PHASES;
    else process.env.BOXKIT_PHASES = saved;
  });

  it('=1: one line on stderr with each mark, in order, ms since the start; printed once', async () => {
    const { mark, printPhases } = await fresh('1');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    mark('entry');
    mark('done');
    printPhases();
    printPhases();
    expect(write).toHaveBeenCalledTimes(1);
    const line = String(write.mock.calls[0]![0]);
    const m = /^phases: entry=(\d+\.\d) done=(\d+\.\d)\n$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(Number(m![2]));
    expect(Number(m![2])).toBeLessThanOrEqual(performance.now());
  });

  it('unset or another value: nothing is printed', async () => {
    for (const env of [undefined, '0', 'yes']) {
      const { mark, printPhases } = await fresh(env);
      const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      mark('entry');
      printPhases();
      expect(write).not.toHaveBeenCalled();
      vi.restoreAllMocks();
    }
  });
});
