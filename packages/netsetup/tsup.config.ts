import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';
import { slimBlobFile, stubBlobFlags } from './scripts/slim-blob';

// Two bundles, each with its startup snapshot: cli.cjs is the fast path of
// `veth` and `down` (no yargs: a smaller snapshot starts faster), wiring.cjs
// the yargs CLI for help, the other commands and anything the small parser
// declines. The bin stub picks the blob by the command word.
const base = binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }, { wiringBlob: true });

export default defineConfig({
  ...base,
  // then each blob loses the code cache of the builtins it holds loaded (scripts/slim-blob.ts):
  // cli.blob 4.86 -> 3.28 MB, 4678 -> 3897 page faults per `netsetup veth`; interleaved with
  // the build before, 60 rounds: 26.6 ms vs 30.2 ms (1.22x vs 1.35x a CNI ADD of the same rounds)
  onSuccess: async () => {
    await (base.onSuccess as () => Promise<void>)();
    const flags = stubBlobFlags('bin/netsetup.cjs');
    for (const blob of ['dist/cli.blob', 'dist/wiring.blob']) slimBlobFile(blob, flags);
  },
});
