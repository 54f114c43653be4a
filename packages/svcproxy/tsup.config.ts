import { defineConfig } from 'tsup';
import { binConfig } from '../../tsup.base';

export default defineConfig(binConfig({ cli: 'src/cli.ts', wiring: 'src/wiring.ts' }));
