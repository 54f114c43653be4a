/** The built boxkit bins, run as a user would run them. */
import { execa, type Options } from 'execa';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '..', '..');

export function binPath(tool: string): string {
  return join(repo, 'packages', tool, 'bin', `${tool}.cjs`);
}

/** Run a boxkit bin as a user would (its stub starts the snapshot); never rejects. */
export async function bk(tool: string, args: string[], opts: Options = {}) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return execa(binPath(tool), args, { reject: false, env, ...opts });
}
