/**
 * The builtins a start from unionfs's cli.blob (every command: it has no
 * separate wiring blob) can compile, as NODE_DEBUG_NATIVE=CODE_CACHE lists
 * them for mount (overlay, aufs syntax, --lower-tar, --dry-run), umount, ls,
 * show, diff, commit (to a file, .gz, stdout), extract (file, .gz, stdin),
 * --help, --version and a usage error: os (common/signals, a Ctrl-C's undo),
 * crypto and what a sha256 of a layer brings (tar.ts, plan.ts), rimraf
 * (extract's and a failed mount's undo) and sync_write_stream (stderr). The
 * blob keeps the code cache of these only; the others were read, copied and
 * freed by every start.
 */
export const CLI_RUNTIME_BUILTINS = [
  'os', 'crypto', 'internal/crypto/random', 'internal/crypto/pbkdf2', 'internal/crypto/util', 'internal/crypto/hashnames',
  'internal/crypto/scrypt', 'internal/crypto/hkdf', 'internal/crypto/keys', 'internal/crypto/keygen', 'internal/crypto/diffiehellman',
  'internal/crypto/cipher', 'internal/crypto/sig', 'internal/crypto/hash', 'internal/crypto/x509', 'internal/crypto/certificate',
  'internal/streams/lazy_transform', 'internal/fs/rimraf', 'internal/fs/sync_write_stream',
];
