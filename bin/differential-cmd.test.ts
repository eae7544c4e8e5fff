import { describe, expect, it } from 'vitest';
import type { Observed } from '../checks/model/observe.ts';
import { missingCommand } from './differential-cmd.ts';

describe('differential replay: what a version lacks', () => {
  const real = { key: 'real:7.2', kind: 'real' as const, version: '7.2' };
  const sent = (commands: string[]): Observed => ({
    side: 'sim:7.2',
    version: '7.2',
    steps: [],
    events: [],
    commands,
    trace: [],
  });

  it('reads the schema of the domain the run was made on: a VM has stop and cont, qemu-storage-daemon not', () => {
    expect(missingCommand(real, sent(['stop', 'cont', 'blockdev-add']), 'vm')).toBeUndefined();
    expect(missingCommand(real, sent(['stop', 'cont', 'blockdev-add']), 'qsd')).toBe(
      'QEMU 7.2 lacks stop, cont',
    );
    expect(missingCommand(real, sent(['blockdev-reopen']), 'vm')).toBeUndefined();
  });
});
