/**
 * Run while a bin's startup snapshot is built (scripts/build-snapshot.mjs
 * appends this function's text to the snapshot's source): it calls the
 * functions of Node's own fs and Buffer that a start of a boxkit tool uses,
 * so the blob holds them compiled. Left cold, each is parsed and compiled at
 * its first call on every start (--log-function-events: writeFileSync,
 * statSync, readUInt32LE, ... are most of what a start still compiles).
 * Only harmless calls: /dev/null, reads of /, and paths that do not exist.
 */
function warmNode(require) {
  const fs = require('node:fs');
  const fd = fs.openSync('/dev/null', 'r+');
  fs.writeSync(fd, 'x');
  fs.writeSync(fd, Buffer.from('x'));
  fs.readSync(fd, Buffer.alloc(1));
  fs.fstatSync(fd);
  fs.closeSync(fd);
  fs.writeFileSync('/dev/null', 'x');
  fs.readFileSync('/proc/self/stat', 'utf8');
  fs.statSync('/');
  fs.lstatSync('/');
  fs.existsSync('/');
  fs.readdirSync('/');
  fs.readdirSync('/', { withFileTypes: true });
  fs.readlinkSync('/proc/self/exe');
  const missing = '/nonexistent/boxkit-warm';
  for (const call of [
    () => fs.mkdirSync('/'),
    () => fs.mkdirSync(missing, 0o755),
    () => fs.linkSync(missing, `${missing}.b`),
    () => fs.renameSync(missing, `${missing}.b`),
    () => fs.unlinkSync(missing),
    () => fs.rmdirSync(missing),
    () => fs.rmSync(missing),
    () => fs.openSync(missing, 'wx'),
  ]) {
    try {
      call();
    } catch {
      // the error path is what a start takes too (EEXIST, ENOENT)
    }
  }
  const b = Buffer.alloc(16);
  b.writeUInt32LE(1, 0);
  b.readUInt32LE(0);
  b.readInt32LE(0);
  b.writeUInt16LE(1, 4);
  b.readUInt16LE(4);
  b.writeBigUInt64LE(1n, 8);
  b.writeBigInt64LE(1n, 8);
  b.readBigUInt64LE(8);
  b.subarray(1, 2);
  b.toString('utf8', 0, 1);
  Buffer.byteLength('x');
  Buffer.concat([b, Buffer.from([1]), Buffer.from('x')]);
}

module.exports = { warmNode };
