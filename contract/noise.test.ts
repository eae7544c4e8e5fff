import { describe, expect, it } from 'vitest';
import { backgroundTargets, maskMirrorBitmapCounts, maskTargetLengths, mirrorSources } from './noise.ts';

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

describe("noise: a mirror's own bitmap counts what is left to copy", () => {
  const anon = { busy: false, count: 196608, granularity: 65536, recording: false };
  const named = { name: 'b0', busy: false, count: 65536, granularity: 65536, recording: true };
  it("the sources are the mirrors' devices", () => {
    const s = mirrorSources([
      { command: 'blockdev-mirror', args: { device: 'disk-vdb', target: 'copy', sync: 'full' } },
      { command: 'blockdev-backup', args: { device: 'disk-vda', target: 'tmp', sync: 'full' } },
    ]);
    expect([...s]).toEqual(['disk-vdb']);
  });
  it('unnamed bitmaps on mirror_top and on a mirror source are masked; named ones and other nodes keep theirs', () => {
    const nodes = [
      { 'node-name': '#block1', drv: 'mirror_top', 'dirty-bitmaps': [anon] },
      { 'node-name': 'disk-vdb', drv: 'raw', 'dirty-bitmaps': [anon, named] },
      { 'node-name': 'disk-vda', drv: 'raw', 'dirty-bitmaps': [anon] },
    ];
    const r = maskMirrorBitmapCounts('query-named-block-nodes', { return: nodes }, new Set(['disk-vdb'])) as {
      return: { 'dirty-bitmaps': { count: unknown }[] }[];
    };
    expect(r.return.map((n) => n['dirty-bitmaps'].map((b) => b.count))).toEqual([
      ['<n>'],
      ['<n>', 65536],
      [196608],
    ]);
    const block = [
      { device: '', 'dirty-bitmaps': [anon], inserted: { 'node-name': 'disk-vdb', 'dirty-bitmaps': [anon] } },
    ];
    const q = maskMirrorBitmapCounts('query-block', { return: block }, new Set(['disk-vdb'])) as {
      return: {
        'dirty-bitmaps': { count: unknown }[];
        inserted: { 'dirty-bitmaps': { count: unknown }[] };
      }[];
    };
    expect([q.return[0]['dirty-bitmaps'][0].count, q.return[0].inserted['dirty-bitmaps'][0].count]).toEqual([
      '<n>',
      '<n>',
    ]);
    expect(maskMirrorBitmapCounts('query-block', { return: block }, new Set())).toEqual({ return: block });
  });
});
