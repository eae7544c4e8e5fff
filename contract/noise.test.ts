import { describe, expect, it } from 'vitest';
import { backgroundTargets, maskTargetLengths } from './noise.ts';

describe('noise: a background job target grows as its coroutine runs', () => {
  const nodes = [
    { 'node-name': 'copy', drv: 'qcow2', file: '/s/copy.qcow2', image: { 'virtual-size': 262144 } },
    { 'node-name': '#block1', drv: 'file', file: '/s/copy.qcow2', image: { 'virtual-size': 393216 } },
    { 'node-name': 'tmp', drv: 'qcow2', file: '/s/tmp.qcow2', image: { 'virtual-size': 262144 } },
    { 'node-name': '#block2', drv: 'file', file: '/s/tmp.qcow2', image: { 'virtual-size': 197120 } },
  ];
  it('mirror and sync=full backup targets are background; sync=none is in step with the guest', () => {
    const t = backgroundTargets([
      { command: 'blockdev-mirror', args: { target: 'copy', sync: 'full' } },
      { command: 'blockdev-backup', args: { target: 'tmp', sync: 'none' } },
      { command: 'blockdev-backup', args: { target: 'full', sync: 'full' } },
    ]);
    expect([...t].sort()).toEqual(['copy', 'full']);
  });
  it("only the length of the background target's file node is masked, inside a reply too", () => {
    const r = maskTargetLengths({ return: nodes }, new Set(['copy'])) as { return: typeof nodes };
    expect(r.return.map((n) => n.image['virtual-size'])).toEqual([262144, '<n>', 262144, 197120]);
    expect(maskTargetLengths(nodes, new Set())).toBe(nodes);
  });
});
