export * from './env.js';
export * from './netns.js';
export * from './rootfs.js';
export * from './bins.js';
export * from './leaks.js';
export * from './wait.js';
export * from './signal.js';
