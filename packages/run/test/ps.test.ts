import { describe, expect, it } from 'vitest';
import { exitedStatus, humanSince } from '../src/commands/ps.js';

describe('run ps STATUS of an ended container', () => {
  it("reads as docker's 'Exited (3) 5 seconds ago'", () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    const at = (s: number) => new Date(now - s * 1000).toISOString();
    expect(exitedStatus({ exitCode: 3, finished: at(5) }, now)).toBe('exited (3) 5 seconds ago');
    expect(exitedStatus({ exitCode: 137, finished: at(0.2) }, now)).toBe('exited (137) less than a second ago');
    expect(exitedStatus({ exitCode: 0, finished: at(70) }, now)).toBe('exited (0) about a minute ago');
    // ended with nobody to learn its status (no keeper): no code
    expect(exitedStatus({ finished: at(7200) }, now)).toBe('exited 2 hours ago');
    expect(exitedStatus({}, now)).toBe('exited');
    expect([1, 59, 600, 3600, 86400 * 3, 86400 * 20].map((s) => humanSince(s * 1000))).toEqual(['1 second', '59 seconds', '10 minutes', 'about an hour', '3 days', '2 weeks']);
  });
});
