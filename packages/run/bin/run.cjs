#!/usr/bin/env node
// Committed so npm links the bin on a fresh install, before dist/ exists.
require('../dist/cli.cjs');
