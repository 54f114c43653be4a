import { describe, expect, it } from 'vitest';
import { isoTime } from '../src/time.js';

describe('isoTime', () => {
  it('writes a record time exactly as toISOString does', () => {
    for (const t of [0, 1, 999, 951782400123, Date.UTC(2026, 10, 27, 1, 9, 53, 120), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.now()]) {
      expect(isoTime(new Date(t))).toBe(new Date(t).toISOString());
    }
    expect(isoTime()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
