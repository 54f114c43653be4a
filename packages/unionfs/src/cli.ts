import { main } from '@boxkit/common';
import pkg from '../package.json' with { type: 'json' };

void main({
  name: 'unionfs',
  version: pkg.version,
  description: pkg.description,
  commands: [],
});
