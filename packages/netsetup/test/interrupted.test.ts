import { describe, expect, it } from 'vitest';
import { interruptedMessage } from '../src/commands/veth.js';

describe("veth -'s line after a signal (interruptedMessage)", () => {
  it('says nothing was made only when nothing is left', () => {
    expect(interruptedMessage('SIGINT')).toEqual({ message: 'veth interrupted (SIGINT): nothing was made' });
    expect(interruptedMessage('SIGINT', { kept: [] })).toEqual({ message: 'veth interrupted (SIGINT): nothing was made' });
    expect(interruptedMessage('SIGTERM', { removed: 1 })).toEqual({ message: 'veth interrupted (SIGTERM): the attachment it made was removed' });
    expect(interruptedMessage('SIGHUP', { removed: 60 })).toEqual({ message: 'veth interrupted (SIGHUP): the 60 attachments it made were removed' });
  });
  it('names the links its undo could not delete, with their count and the down that removes them', () => {
    expect(interruptedMessage('SIGINT', { kept: ['bk1'] })).toEqual({
      message: 'veth interrupted (SIGINT): 1 link could not be deleted and was kept, with its record and lease: bk1',
      hint: 'netsetup down --host-ifname bk1',
    });
    expect(interruptedMessage('SIGINT', { kept: ['bk1', 'bk2'] })).toEqual({
      message: 'veth interrupted (SIGINT): 2 links could not be deleted and were kept, with their records and leases: bk1, bk2',
      hint: 'netsetup down --host-ifname bk1 --host-ifname bk2',
    });
  });
  it('names the attachments its down could not remove, and why', () => {
    expect(interruptedMessage('SIGTERM', { kept: ['bk1'], why: 'down bk1: not removed: x' })).toEqual({
      message: 'veth interrupted (SIGTERM): the attachment it made could not be removed and was kept: bk1 (down bk1: not removed: x)',
      hint: 'netsetup down --host-ifname bk1',
    });
    expect(interruptedMessage('SIGTERM', { kept: ['bk1', 'bk2'], why: 'y' }).message).toBe('veth interrupted (SIGTERM): the 2 attachments it made could not be removed and were kept: bk1, bk2 (y)');
  });
});
