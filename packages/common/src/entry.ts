/**
 * The entry of a bin with a fast path (the cli.ts of ns-clone, cg,
 * netsetup, run and svcproxy). `route(argv)` returns the work for an
 * ordinary command line, or the argv to hand to the yargs CLI: the bundle
 * next to this one (dist/wiring.cjs), never inlined, since it carries yargs.
 *
 * Built into a V8 startup snapshot (scripts/build-snapshot.mjs), `prepare`
 * runs once while the blob is made (the pure part of a start, so the blob
 * holds it compiled; koffi found), and the entry runs when the blob is
 * deserialized, where `node --snapshot-blob B -- ARGS` leaves
 * argv = [node, ...ARGS].
 */
import { createRequire } from 'node:module';
import { startupSnapshot } from 'node:v8';

export function binEntry(bundle: string, route: (argv: string[]) => (() => unknown) | string[], prepare?: () => unknown): void {
  const entry = (argv: string[]): void => {
    const r = route(argv);
    if (typeof r === 'function') void r();
    else void (createRequire(bundle)('./wiring.cjs') as { yargsMain(argv: string[]): Promise<never> }).yargsMain(r);
  };
  if (startupSnapshot?.isBuildingSnapshot()) {
    void prepare?.();
    startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
  } else entry(process.argv.slice(2));
}

/** The usual route: `parse(argv)` gives the fast path's arguments, or nothing to use yargs. */
export function fastOr<T>(parse: (argv: string[]) => T | undefined, run: (args: T) => unknown): (argv: string[]) => (() => unknown) | string[] {
  return (argv) => {
    const args = parse(argv);
    return args === undefined ? argv : () => run(args);
  };
}

/** A flag's name as the yargs wiring hands it over (strip-dashed): `cpu-shares` -> `cpuShares`. */
export const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Is this word a flag, as yargs reads the word after a flag that takes a
 * value: it starts with '-', but '-' (stdin) and negative numbers are
 * values. The fast parsers and common's flag reader must agree on it.
 */
export const looksLikeFlag = (w: string | undefined): boolean => w !== undefined && /^-[^0-9]/.test(w);
