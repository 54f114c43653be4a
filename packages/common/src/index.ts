export * from './errors.js';
export * from './exec.js';
export * from './plan.js';
export * from './validate.js';
export * from './state.js';
export * from './output.js';
export * from './stdin.js';
export * from './cli.js';
