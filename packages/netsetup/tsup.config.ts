import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS, slimBlobFile, stubBlobFlags } from './scripts/slim-blob';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// `veth` and `down` (no yargs: a smaller snapshot starts faster), wiring.cjs
// the yargs CLI for help, the other commands and anything the small parser
// declines. The bin stub picks the blob by the command word.
const base = binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true });

export default defineConfig({
  ...base,
  // then the blobs lose the code cache of the builtins they never compile (scripts/slim-blob.ts):
  // cli.blob 4.86 -> 2.21 MB (all but CLI_RUNTIME_BUILTINS' 32 KB), 4678 -> ~3400 page faults
  // per `netsetup veth`; wiring.blob keeps every builtin it has not loaded (5.13 -> 3.53 MB)
  onSuccess: async () => {
    await (base.onSuccess as () => Promise<void>)();
    const flags = stubBlobFlags('bin/netsetup.cjs');
    slimBlobFile('dist/cli.blob', flags, CLI_RUNTIME_BUILTINS);
    slimBlobFile('dist/wiring.blob', flags);
  },
});
