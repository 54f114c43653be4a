/**
 * Lazy loading of koffi, libc and the trampoline library: koffi costs tens of
 * milliseconds to load, so a tool pays for it only when it makes a call.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

type Koffi = typeof import('koffi');
let reqFn: NodeRequire | undefined;
let koffiMod: Koffi | undefined;

// made on first use: a bin's startup snapshot cannot hold a require made at load time
function req(): NodeRequire {
  return (reqFn ??= createRequire(import.meta.url));
}

let koffiPath: string | undefined;
let koffiNative: { path: string; version: string } | undefined;

export function koffi(): Koffi {
  if (koffiMod) return koffiMod;
  // koffi's own loader reads the node binary's ELF headers to pick glibc or
  // musl on every start (several ms); the binary it would pick was found
  // while the snapshot was built, so load it directly while it is still there
  // (process.dlopen is what require does for a .node file, without the
  // CommonJS loader's resolution: ~0.5 ms of code compiled at every start)
  if (koffiNative) {
    try {
      const mod = { exports: {} as Koffi & { version?: string } };
      process.dlopen(mod, koffiNative.path);
      if (mod.exports.version === koffiNative.version) return (koffiMod = mod.exports);
    } catch {
      // gone or another build: fall back to koffi's loader
    }
  }
  if (koffiPath && !existsSync(koffiPath)) koffiPath = undefined; // the tree moved since
  return (koffiMod = req()(koffiPath ?? 'koffi') as Koffi);
}

/** Has koffi been loaded by this process (so binding a function costs no load)? */
export function koffiLoaded(): boolean {
  return koffiMod !== undefined;
}

/**
 * Resolve koffi ahead of use (while a bin's startup snapshot is built), so
 * that the first koffi() loads it without walking node_modules or probing
 * the platform: measured at several ms per start. Paths are used only while
 * they exist.
 */
export function preresolveKoffi(): void {
  try {
    koffiPath = req().resolve('koffi');
    // koffi does not export its package.json: read it beside the resolved entry
    const version = (JSON.parse(readFileSync(join(dirname(koffiPath), 'package.json'), 'utf8')) as { version: string }).version;
    const platformPkg = dirname(req().resolve(`@koromix/koffi-${process.platform}-${process.arch}/package.json`, { paths: [dirname(koffiPath)] }));
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
    const path = join(platformPkg, `${glibc ? process.platform : 'musl'}_${process.arch}`, 'koffi.node');
    if (existsSync(path)) koffiNative = { path, version };
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

/** A program built beside the trampoline library (native/dist): bk-stage, bk-keeper. */
export function nativeProgram(name: string): string {
  return join(dirname(trampolinePath()), name);
}

type LibFn = (...args: unknown[]) => number;
let libcHandle: ReturnType<Koffi['load']> | undefined;

/** Bind a libc function by its C prototype (libc is loaded once, on first use). */
export function libcFn<F = LibFn>(proto: string): F {
  libcHandle ??= koffi().load('libc.so.6');
  return libcHandle.func(proto) as unknown as F;
}

/**
 * A table of libc functions by C prototype, each bound on first use: koffi
 * parses a prototype per binding, and a hot path needs only a few of them.
 */
export function libcTable<T extends object>(protos: { [K in keyof T]: string }): T {
  const table = {} as T;
  for (const [name, proto] of Object.entries(protos)) {
    Object.defineProperty(table, name, {
      configurable: true,
      get() {
        const fn = libcFn(proto as string);
        Object.defineProperty(table, name, { value: fn });
        return fn;
      },
    });
  }
  return table;
}
