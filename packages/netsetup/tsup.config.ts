import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { CLI_RUNTIME_BUILTINS, keepOnlyFile, stubBlobFlags } from './scripts/slim-blob';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// `veth` and `down` (no yargs: a smaller snapshot starts faster), wiring.cjs
// the yargs CLI for help, the other commands and anything the small parser
// declines. The bin stub picks the blob by the command word.
const base = binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true });

export default defineConfig({
  ...base,
  // then cli.blob keeps the code cache of only the builtins it can compile (scripts/slim-blob.ts)
  onSuccess: async () => {
    await (base.onSuccess as () => Promise<void>)();
    keepOnlyFile('dist/cli.blob', stubBlobFlags('bin/netsetup.cjs'), CLI_RUNTIME_BUILTINS);
  },
});
