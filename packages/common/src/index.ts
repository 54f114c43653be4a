export * from './hot.js';
export * from './cli.js';
