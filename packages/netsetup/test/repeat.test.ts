import { describe, expect, it } from 'vitest';
import { undoBridgeOp } from '../src/bridge.js';
import { renderOp } from '../src/ops.js';

describe('bridge undo', () => {
  it('takes back each op planBridge makes', () => {
    const undo = (args: string[]) => renderOp(undoBridgeOp({ kind: 'ip', args }));
    expect(undo(['link', 'add', 'br0', 'type', 'bridge'])).toBe('ip link del br0');
    expect(undo(['addr', 'add', '10.1.2.1/24', 'dev', 'br0'])).toBe('ip addr del 10.1.2.1/24 dev br0');
    expect(undo(['link', 'set', 'br0', 'up'])).toBe('ip link set br0 down');
  });
});