/**
 * Lazy loading of koffi, libc and the trampoline library: koffi costs tens of
 * milliseconds to load, so a tool pays for it only when it makes a call.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Koffi = typeof import('koffi');
let reqFn: NodeRequire | undefined;
let koffiMod: Koffi | undefined;

// made on first use: a bin's startup snapshot cannot hold a require made at load time
function req(): NodeRequire {
  return (reqFn ??= createRequire(import.meta.url));
}

export function koffi(): Koffi {
  return (koffiMod ??= req()('koffi') as Koffi);
}

/** Where the compiled trampoline lives: BOXKIT_NATIVE_LIB, or native/dist/libboxkit.so. */
export function trampolinePath(): string {
  const fromEnv = process.env.BOXKIT_NATIVE_LIB;
  if (fromEnv) return fromEnv;
  const candidates: string[] = [];
  try {
    candidates.push(join(dirname(req().resolve('@boxkit/native/package.json')), 'dist', 'libboxkit.so'));
  } catch {
    // not resolvable from a relocated bundle; try next to this file
  }
  if (typeof __dirname !== 'undefined') candidates.push(join(__dirname, 'libboxkit.so'));
  return candidates.find((p) => existsSync(p)) ?? candidates[0] ?? 'libboxkit.so';
}
