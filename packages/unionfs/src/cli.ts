/**
 * unionfs: yargs wiring only. Each command's work lives in commands/<verb>.ts
 * and is imported lazily, so a run pays only for the command it uses.
 */
import { command, main } from '@boxkit/common';
import pkg from '../package.json' with { type: 'json' };

// nargs 1: each --lower takes one value, so a mount point after it stays positional
const arr = { type: 'string', array: true, nargs: 1, requiresArg: true } as const;

// -o given twice is joined, as mount(8) joins them (an array option: common's cli keeps only the last of a
// one-value option given twice, as mount(8) takes -t)
const joined = { coerce: (v: string | string[]): string => (Array.isArray(v) ? v.join(',') : v) } as const;

// which whiteouts an upper holds: a mounted union's driver is read from mountinfo
const layerDriver = {
  type: 'string', requiresArg: true,
  describe: "for an upper dir that is not mounted: the driver that made it, overlay (0/0 devices) or aufs (.wh. files); default: aufs if aufs marked it, else overlay",
} as const;

void main({
  name: 'unionfs',
  version: pkg.version,
  description: pkg.description,
  commands: [
    command({
      command: 'mount [paths..]',
      describe: 'mount a union of layers (overlay; aufs where the kernel has it). paths: [SOURCE] MOUNTPOINT',
      builder: (y) =>
        y.positional('paths', { type: 'string', array: true, describe: "[SOURCE] MOUNTPOINT: the mount point, optionally after mount(8)'s dummy source (none, overlay, aufs)" })
          .option('lower', { ...arr, alias: 'l', describe: 'a read-only lower layer; repeat, topmost first' })
          .option('lower-tar', { ...arr, describe: 'a layer tarball (unionfs commit), extracted under $BOXKIT_DATA_DIR/unionfs/layers and stacked above the --lower dirs' })
          .option('upper', { alias: 'u', type: 'string', requiresArg: true, describe: 'the writable layer (made if missing); without it the union is read-only' })
          .option('work', { alias: 'w', type: 'string', requiresArg: true, describe: "overlay's work dir on the upper's filesystem (default: UPPER.work beside the upper)" })
          .option('branch', { ...arr, alias: 'b', describe: 'aufs style: DIR=rw|ro (repeat, topmost first)' })
          .option('o', {
            ...arr, ...joined,
            describe: "options as mount(8) takes them: overlay's lowerdir=DIR[:DIR...],upperdir=DIR,workdir=DIR[,volatile] (what --dry-run prints), or aufs style br=./tmp=rw:./image=ro[,udba=reval]; and ro, nodev, nosuid, noexec, noatime with either",
          })
          .option('udba', { type: 'string', requiresArg: true, describe: "aufs's user-direct-branch-access: none|reval|notify (overlay has none: ignored there)" })
          .option('driver', { alias: 't', type: 'string', default: 'auto', describe: "auto (aufs if the kernel has it, else overlay; overlay for -o lowerdir=), overlay or aufs; -t as mount(8)'s type" })
          .option('readonly', { alias: 'r', type: 'boolean', default: false, describe: 'mount read-only (MS_RDONLY)' })
          .option('volatile', {
            type: 'boolean', default: false,
            describe: "overlay's volatile: the upper is never synced, not even at unmount (saves an ext4 journal commit per unmount: for throwaway unions, as run --rm uses it); after it the upper cannot be mounted again until WORK/work/incompat/volatile is removed",
          }),
      examples: [
        ['unionfs mount --lower ./image --upper ./tmp ./mnt', 'image below, writes land in ./tmp'],
        ['unionfs mount -o br=./tmp=rw:./image=ro none ./mnt', "the article's aufs command (overlay carries it out here)"],
        ['unionfs mount -t overlay overlay -o lowerdir=./image,upperdir=./tmp,workdir=./tmp.work ./mnt', 'a mount(8) line (as --dry-run prints it) with unionfs in front'],
        ['unionfs mount -l ./app -l ./base --dry-run ./mnt', 'print the mount(8) line: read-only union of two layers'],
        ['unionfs mount -l ./image -u ./tmp --volatile ./mnt', 'a throwaway union: no sync of ./tmp, not even at unmount'],
      ],
      // strip-dashed: yargs hands over lowerTar, its typings still say lower-tar
      run: async (a) => (await import('./commands/mount.js')).runMount({ ...a, paths: (a.paths ?? []).map(String), lowerTar: a['lower-tar'] ?? (a as { lowerTar?: string[] }).lowerTar }),
    }),
    command({
      command: 'umount <mountpoint>',
      describe: 'unmount a union (nothing mounted there: success)',
      builder: (y) =>
        y.positional('mountpoint', { type: 'string', demandOption: true })
          .option('lazy', { type: 'boolean', default: false, describe: 'detach now, free when no longer busy (umount -l)' }),
      examples: [['unionfs umount ./mnt', 'unmount the union at ./mnt']],
      run: async (a) => (await import('./commands/umount.js')).runUmount(a),
    }),
    command({
      command: 'ls',
      describe: 'list union mounts: mount point, driver, upper, lower layers (from /proc/self/mountinfo)',
      examples: [['unionfs ls --json', 'the union mounts as JSON']],
      run: async (a) => (await import('./commands/show.js')).runLs(a),
    }),
    command({
      command: 'show <mountpoint>',
      describe: 'show one union mount: its layers, upper, work dir and driver',
      builder: (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
      examples: [['unionfs show ./mnt', 'the layers of ./mnt']],
      run: async (a) => (await import('./commands/show.js')).runShow(a),
    }),
    command({
      command: 'diff <target>',
      describe: 'what a union changed against its lower layers: A added, C changed, D deleted (like docker diff)',
      builder: (y) =>
        y.positional('target', { type: 'string', demandOption: true, describe: 'a union mount point or an upper dir' })
          .option('lower', { ...arr, alias: 'l', describe: "the lower layers of an upper dir that is not mounted (topmost first)" })
          .option('driver', layerDriver),
      examples: [
        ['unionfs diff ./mnt', 'changes made through ./mnt'],
        ['unionfs diff ./tmp --lower ./image', 'changes recorded in an unmounted upper dir'],
      ],
      run: async (a) => (await import('./commands/diff.js')).runDiff(a),
    }),
    command({
      command: 'commit <target> <output>',
      describe: 'write the upper layer as an OCI layer tarball (whiteouts as .wh. files)',
      builder: (y) =>
        y.positional('target', { type: 'string', demandOption: true, describe: 'a union mount point or an upper dir' })
          .positional('output', { type: 'string', demandOption: true, describe: 'the tarball to write' })
          .option('driver', layerDriver),
      examples: [['unionfs commit ./mnt layer.tar', 'the changes in ./mnt as a layer; stack it: unionfs mount --lower-tar layer.tar ...']],
      run: async (a) => (await import('./commands/commit.js')).runCommit(a),
    }),
    command({
      command: 'extract <tarball> <dir>',
      describe: 'extract a layer tarball into a dir usable as an overlay lower (.wh. files become whiteouts)',
      builder: (y) =>
        y.positional('tarball', { type: 'string', demandOption: true })
          .positional('dir', { type: 'string', demandOption: true, describe: 'a new directory' }),
      examples: [['unionfs extract layer.tar ./layer1', 'then: unionfs mount --lower ./layer1 --lower ./image ./mnt']],
      run: async (a) => (await import('./commands/commit.js')).runExtract(a),
    }),
  ],
});
