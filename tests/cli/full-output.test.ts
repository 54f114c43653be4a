/**
 * Output that cannot be written (`> /dev/full`) is one line on stderr and
 * exit 1, in every tool and both ways output goes: yargs' --help and
 * --version (through process.stdout: a stack trace before) and a command's
 * own output (common's writeAll: 'no space left on device, write' before).
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bk } from '../harness/index.js';

const TOOLS = ['ns-clone', 'cg', 'unionfs', 'netsetup', 'svcproxy', 'run'];
const state = mkdtempSync(join(tmpdir(), 'boxkit-full-'));
const env = { BOXKIT_STATE_DIR: join(state, 'state'), BOXKIT_DATA_DIR: join(state, 'data') };
/** the tool with its stdout on /dev/full itself (execa's { file } would relay it through a pipe) */
async function full(tool: string, args: string[]) {
  const fd = openSync('/dev/full', 'w');
  try {
    return await bk(tool, args, { stdout: fd as never, env: { ...process.env, ...env } }); // (a file descriptor: execa passes it on as it is)
  } finally {
    closeSync(fd);
  }
}
const oneLine = (tool: string) => [`${tool}: cannot write to standard output: no space left on device`];

afterAll(() => rmSync(state, { recursive: true, force: true }));

describe('output to a full device', () => {
  it.each(TOOLS)('%s --help and --version: one line, exit 1', async (tool) => {
    for (const args of [['--help'], ['--version']]) {
      const r = await full(tool, args);
      expect([r.exitCode, String(r.stderr).trim().split('\n')], `${tool} ${args.join(' ')}`).toEqual([1, oneLine(tool)]);
    }
  });

  it('a command\'s own output (netsetup ls --json, unionfs ls --json, run ps): one line, exit 1', async () => {
    for (const [tool, args] of [['netsetup', ['ls', '--json']], ['unionfs', ['ls', '--json']], ['run', ['ps']]] as const) {
      const r = await full(tool, [...args]);
      expect([r.exitCode, String(r.stderr).trim().split('\n')], `${tool} ${args.join(' ')}`).toEqual([1, oneLine(tool)]);
    }
  });
});
