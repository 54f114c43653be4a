/**
 * scripts/slim-blob.mjs: a blob it can read loses the code cache it names and
 * still starts; one it cannot read, or a slim blob that would not start as
 * the whole one does, stays whole (a warning, the build goes on); only a blob
 * that does not start at all is an error. Works on a copy of a built blob.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
// @ts-expect-error plain JS without type declarations (build-snapshot.mjs runs it)
import { parseBlob, slimBlobFile, stubBlobFlags } from '../slim-blob.mjs';

// (the wiring blob: it keeps the code cache of every builtin it has not loaded; cli.blob keeps the hand-off's only)
const built = join(import.meta.dirname, '..', '..', 'packages', 'cg', 'dist', 'wiring.blob');
// the flags cg's bin stub starts its blob with (build-snapshot.mjs writes them there)
const flags: string[] = existsSync(built) ? stubBlobFlags(join(built, '..', '..', 'bin', 'cg.cjs')) : [];
const dir = mkdtempSync(join(tmpdir(), 'bk-slim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync(built))(`slim-blob${existsSync(built) ? '' : ' (skipped: packages/cg is not built)'}`, () => {
  const copy = (name: string, edit: (b: Buffer) => Buffer = (b) => b) => {
    const p = join(dir, name);
    writeFileSync(p, edit(readFileSync(built)));
    return p;
  };

  it('keeps only the code cache asked for, and the blob still starts', () => {
    const p = copy('keep.blob');
    const before = parseBlob(readFileSync(p));
    expect(before.entries.map((e: { id: string }) => e.id)).toContain('child_process');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    slimBlobFile(p, flags, ['child_process']);
    log.mockRestore();
    const after = parseBlob(readFileSync(p));
    expect(after.entries.map((e: { id: string }) => e.id)).toEqual(['child_process']);
    expect(after.loaded).toEqual(before.loaded);
    expect(readFileSync(p).length).toBeLessThan(readFileSync(built).length);
  });

  it.each([
    ['one byte more at the end', (b: Buffer) => Buffer.concat([b, Buffer.from([0])])],
    ['cut short', (b: Buffer) => b.subarray(0, b.length - 100)],
    ['another magic', (b: Buffer) => Buffer.concat([Buffer.from([1, 2, 3, 4]), b.subarray(4)])],
  ])('a blob it cannot read (%s) is left byte for byte as it was, with a warning', (_what, edit) => {
    const p = copy('odd.blob', edit);
    const was = readFileSync(p);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    slimBlobFile(p, flags, []);
    expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/left whole/);
    warn.mockRestore();
    expect(readFileSync(p).equals(was)).toBe(true);
    expect(existsSync(`${p}.slim`)).toBe(false);
  });

  it('a blob that does not start with the flags given is a one-line error naming it, and is removed (the stub then starts the bundle)', () => {
    const p = copy('flags.blob');
    expect(() => slimBlobFile(p, ['--max-semi-space-size=64'], [])).toThrow(/^slim-blob: \S+ does not start \(removed\): [^\n]+$/);
    expect(existsSync(p)).toBe(false);
    expect(existsSync(`${p}.slim`)).toBe(false);
  });

  it('warns of kept names it holds loaded or does not know, and keeps the rest', () => {
    const p = copy('names.blob');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    slimBlobFile(p, flags, ['child_process', 'fs', 'no/such/builtin']);
    log.mockRestore();
    expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/holds loaded or does not know: fs, no\/such\/builtin/);
    warn.mockRestore();
    expect(parseBlob(readFileSync(p)).entries.map((e: { id: string }) => e.id)).toEqual(['child_process']);
  });
});
