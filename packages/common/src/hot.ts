/**
 * Everything of @boxkit/common but cli.ts, which loads yargs: what a bin's
 * fast-path bundle sees as '@boxkit/common' (tsup.base.ts, commonWithoutCli),
 * so a startup snapshot does not carry yargs.
 */
export * from './errors.js';
export * from './exec.js';
export * from './plan.js';
export * from './validate.js';
export * from './state.js';
export * from './output.js';
export * from './stdio.js';
export * from './stdin.js';
export * from './entry.js';
