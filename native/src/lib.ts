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

let koffiPath: string | undefined;

export function koffi(): Koffi {
  if (koffiPath && !existsSync(koffiPath)) koffiPath = undefined; // the tree moved since
  return (koffiMod ??= req()(koffiPath ?? 'koffi') as Koffi);
}

/**
 * Resolve koffi's path ahead of use (while a bin's startup snapshot is
 * built), so that the first koffi() loads it without walking node_modules:
 * measured at several ms per start. The path is used only while it exists.
 */
export function preresolveKoffi(): void {
  try {
    koffiPath = req().resolve('koffi');
  } catch {
    // resolved at first use instead
  }
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
