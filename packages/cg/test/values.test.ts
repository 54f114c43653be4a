import { describe, expect, it } from 'vitest';
import { UsageError } from '@boxkit/common';
import { cpusToQuota, expandCpuList, formatSize, parseCpuList, parseMemoryLimit, parsePids, parseQuota, parseRate, parseSize } from '../src/values.js';
import { parseLimits } from '../src/limits.js';
import { sharesToWeight, weightToShares, writesFor } from '../src/settings.js';

describe('value parsing', () => {
  it.each([
    ['64M', 64 << 20], ['1G', 1 << 30], ['512K', 512 << 10], ['1048576', 1048576], ['1.5G', 1.5 * 2 ** 30], ['max', 'max'], ['-1', 'max'], ['64MiB', 64 << 20],
  ])('size %s', (s, v) => expect(parseSize('x', s)).toBe(v));

  it.each(['12Q', '', 'M', '-5', '1e3', 'lots'])('bad size %j is a usage error', (s) => expect(() => parseSize('x', s)).toThrow(UsageError));

  it('a memory limit of 0 or below one page is refused (the kernel would take it literally), max and -1 mean no limit', () => {
    expect(() => parseMemoryLimit('memory limit', '0')).toThrow(/^invalid memory limit '0': the kernel takes 0 literally/);
    expect(() => parseMemoryLimit('memory limit', '0M')).toThrow(/takes 0 literally/);
    expect(() => parseMemoryLimit('memory limit', '100')).toThrow(/below one page \(4096 bytes\)/);
    try {
      parseMemoryLimit('memory limit', '0');
    } catch (e) {
      expect((e as UsageError).hint).toMatch(/'max'/);
    }
    expect(parseMemoryLimit('memory limit', '4096')).toBe(4096);
    expect(parseMemoryLimit('memory limit', 'max')).toBe('max');
    expect(parseMemoryLimit('memory limit', '-1')).toBe('max');
  });

  it('pids: 0 is refused with its reason, 1..4194304 and max are taken', () => {
    expect(() => parsePids('pids limit', '0')).toThrow(/^invalid pids limit '0': the kernel takes 0 literally \(no process may fork\)/);
    expect(parsePids('pids limit', '1')).toBe(1);
    expect(parsePids('pids limit', '4194304')).toBe(4194304);
    expect(() => parsePids('pids limit', '4194305')).toThrow(/^invalid pids limit '4194305'$/);
    expect(parsePids('pids limit', 'max')).toBe('max');
  });

  it('I/O rates: 0 and 1 mean different things on v1 and v2 and are refused; iops go up to 2^32-1', () => {
    for (const unit of ['bytes', 'ops'] as const) {
      expect(() => parseRate('rbps rate', '0', unit)).toThrow(/below the smallest rate cgroup v2 accepts/);
      expect(() => parseRate('rbps rate', '1', unit)).toThrow(UsageError);
      expect(parseRate('rbps rate', '2', unit)).toBe(2);
      expect(parseRate('rbps rate', 'max', unit)).toBe('max');
    }
    expect(parseRate('riops rate', '5000000', 'ops')).toBe(5000000);
    expect(() => parseRate('riops rate', String(2 ** 32), 'ops')).toThrow(UsageError);
    expect(parseRate('rbps rate', '1M', 'bytes')).toBe(1 << 20);
  });

  it('quota must be >= 1000 µs', () => {
    expect(parseQuota('50000')).toBe(50000);
    expect(parseQuota('max')).toBe('max');
    expect(() => parseQuota('999')).toThrow(/invalid cpu quota '999'/);
    expect(() => parseQuota('abc')).toThrow(UsageError);
    expect(parseQuota(String(2 ** 44 - 1))).toBe(2 ** 44 - 1);
    expect(() => parseQuota(String(2 ** 44))).toThrow(/invalid cpu quota '17592186044416'/);
  });

  it('--cpus becomes a quota for the period', () => {
    expect(cpusToQuota('1.5', 100000)).toBe(150000);
    expect(cpusToQuota('0.5', 100000)).toBe(50000);
    expect(() => cpusToQuota('0.001', 100000)).toThrow(/below the kernel's 1000 µs minimum/);
    expect(() => cpusToQuota('-1', 100000)).toThrow(UsageError);
  });

  it('cpu lists', () => {
    expect(parseCpuList('c', '0-1,3')).toBe('0-1,3');
    expect(expandCpuList('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(() => parseCpuList('c', '3-1')).toThrow(UsageError);
    expect(() => parseCpuList('c', '0, 1')).toThrow(UsageError);
  });

  it('formats sizes back', () => {
    expect(formatSize(32 << 20)).toBe('32M');
    expect(formatSize(1000)).toBe('1000');
  });
});

describe('docker-style limits', () => {
  it('parses the flags run shares', () => {
    expect(parseLimits({ cpus: '0.5', memory: '64M', pids: '100', cpusetCpus: '0' })).toEqual({
      cpuPeriod: 100000, cpuQuota: 50000, memory: 64 << 20, pids: 100, cpusetCpus: '0',
    });
  });
  it('rejects conflicting or inconsistent flags', () => {
    expect(() => parseLimits({ cpus: '1', cpuQuota: '5000' })).toThrow(/cannot be used together/);
    expect(() => parseLimits({ memorySwap: '1G' })).toThrow(/needs --memory/);
    expect(() => parseLimits({ memory: '1G', memorySwap: '512M' })).toThrow(/smaller than/);
    expect(() => parseLimits({ cpuWeight: '0' })).toThrow(UsageError);
    expect(() => parseLimits({ memory: '0' })).toThrow(/takes 0 literally/);
    expect(() => parseLimits({ pids: '0' })).toThrow(/no process may fork/);
  });
});

describe('the settings table', () => {
  const l = parseLimits({ cpus: '0.5', memory: '32M', memorySwap: '64M', pids: '5', cpusetCpus: '1' });
  it('v1: the article files, period before quota, memory before memsw', () => {
    expect(writesFor(l, () => 1).map((w) => `${w.file}=${w.values.join(';')}`)).toEqual([
      'cpu.cfs_period_us=100000', 'cpu.cfs_quota_us=50000', 'cpuset.cpus=1',
      'memory.limit_in_bytes=33554432', 'memory.memsw.limit_in_bytes=67108864', 'pids.max=5',
    ]);
  });
  it('v2: one cpu.max line; swap.max is swap alone', () => {
    expect(writesFor(l, () => 2).map((w) => `${w.file}=${w.values.join(';')}`)).toEqual([
      'cpu.max=50000 100000', 'cpuset.cpus=1', 'memory.max=33554432', 'memory.swap.max=33554432', 'pids.max=5',
    ]);
  });
  it('io: v1 throttle files per direction, v2 one io.max line', () => {
    const io = { io: [{ device: '8:0', rbps: 1 << 20, wiops: 100 }] };
    expect(writesFor(io, () => 1).map((w) => `${w.file}=${w.values}`)).toEqual([
      'blkio.throttle.read_bps_device=8:0 1048576', 'blkio.throttle.write_iops_device=8:0 100',
    ]);
    expect(writesFor(io, () => 2).map((w) => `${w.file}=${w.values}`)).toEqual(['io.max=8:0 rbps=1048576 wiops=100']);
  });
  it('shares <-> weight map the defaults onto each other', () => {
    expect(sharesToWeight(1024)).toBe(100);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(weightToShares(100)).toBe(1024);
    expect(weightToShares(10000)).toBe(102400);
  });
});
