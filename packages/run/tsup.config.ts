import { defineConfig } from 'tsup';
import { binConfig, commonWithoutCli } from '../../tsup.base';

// Two bundles, each with its startup snapshot, as ns-clone: cli.cjs is the
// fast path (no yargs, no execa), wiring.cjs the yargs CLI for help,
// --version, the subcommands and anything the small parser declines. The
// bin stub picks the blob by the first word; cli.cjs hands what it
// declines to wiring.cjs in-process.
//
// The libraries run composes import common's index: commonWithoutCli (tsup.base.ts) keeps
// yargs out of the fast path.
//
// What a start from cli.blob compiles (NODE_DEBUG_NATIVE=CODE_CACHE): nothing on `run --rm`, `-d`,
// `--net bridge -p`, `-it`; rimraf when a start fails and its data dir goes; crypto, os, tty,
// assert and two stream helpers when it hands a command to wiring.cjs (a flag the fast path does
// not know). Only their code cache is kept (of ~196 builtins' entries, 1 MB): run --rm --
// /bin/true 0.95x, 40 rounds interleaved. tests/cli/snapshot.test.ts checks both paths.
const cliRuntimeBuiltins = [
  'internal/fs/rimraf',
  'os',
  'tty',
  'internal/tty',
  'internal/fs/sync_write_stream',
  'internal/streams/lazy_transform',
  'assert',
  'internal/assert/assertion_error',
  'internal/assert/utils',
  'internal/assert/calltracker',
  'crypto',
  ...['certificate', 'cipher', 'diffiehellman', 'hash', 'hashnames', 'hkdf', 'keygen', 'keys', 'pbkdf2', 'random', 'scrypt', 'sig', 'util', 'x509'].map((m) => `internal/crypto/${m}`),
];

export default defineConfig({ ...binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true, cliRuntimeBuiltins }), esbuildPlugins: [commonWithoutCli] });
