export * from './errors.js';
export * from './constants.js';
export * from './program.js';
export * from './libc.js';
export * from './children.js';
export * from './trampoline.js';
export { koffi, trampolinePath, preresolveKoffi } from './lib.js';
export * from './xattr.js';
export * from './pty.js';
