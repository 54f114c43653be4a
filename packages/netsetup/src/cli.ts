import { main } from '@boxkit/common';
import pkg from '../package.json' with { type: 'json' };

void main({
  name: 'netsetup',
  version: pkg.version,
  description: pkg.description,
  commands: [],
});
