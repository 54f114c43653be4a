/**
 * @boxkit/common as run's bundles see it (tsup.config.ts maps the bare
 * import here): everything but cli.ts, which loads yargs. Keep in step
 * with common's index; a name missing here fails the build.
 */
export * from '@boxkit/common/errors';
export * from '@boxkit/common/exec';
export * from '@boxkit/common/plan';
export * from '@boxkit/common/validate';
export * from '@boxkit/common/state';
export * from '@boxkit/common/output';
export * from '@boxkit/common/stdin';
export * from '@boxkit/common/stdio';
