import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSim } from '../sim.ts';

/**
 * The simulator writes real qcow2: an overlay made by `qemu-img create -b`, written through the block graph
 * (guest writes through a copy-before-write filter, which also fills the fleecing target), is accepted by
 * `qemu-img check`, and `qemu-img compare` agrees with what the simulator reads.
 */
function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-qcow2-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const f = (n: string) => path.join(dir, n);
const run = (tool: string, args: string[]) => execFileSync(tool, args, { encoding: 'utf8', stdio: 'pipe' });

describe.skipIf(!have('qemu-img'))(
  'qcow2 written by the simulator, read by qemu-img (skipped without qemu-img)',
  () => {
    it('overlay + fleecing target stay valid and hold what the simulator says', () => {
      run('qemu-img', ['create', '-q', '-f', 'raw', f('base.raw'), '4M']);
      run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 4M', f('base.raw')]);
      run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', f('base.raw'), '-F', 'raw', f('disk.qcow2')]);
      run('qemu-img', ['create', '-q', '-f', 'qcow2', f('temp.qcow2'), '4M']);
      const sim = createSim({ profile: '7.2', flavour: 'system', fs: 'real', cwd: dir });
      sim.run('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'disk',
        file: { driver: 'file', filename: f('disk.qcow2') },
      });
      sim.run('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: f('temp.qcow2') },
      });
      sim.run('blockdev-add', {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'disk',
        target: 'temp',
      });
      const io = (node: string, cmd: string) =>
        sim.run('human-monitor-command', { 'command-line': `qemu-io ${node} "${cmd}"` });
      io('cbw', 'write -P 0x22 0 4k'); // partial cluster: copy-on-write from the backing
      io('cbw', 'write -P 0x33 70000 100000'); // unaligned, across clusters
      io('cbw', 'write -z 1M 128k'); // whole zero clusters
      io('cbw', 'write -P 0x44 3M 64k');
      const disk = sim.core.graph.find('disk')!;
      const temp = sim.core.graph.find('temp')!;
      const expected = disk.read(0, 4 << 20);
      const snapshot = temp.read(0, 4 << 20);
      for (const n of ['cbw', 'temp', 'disk']) sim.run('blockdev-del', { 'node-name': n });
      expect(run('qemu-img', ['check', f('disk.qcow2')])).toMatch(/No errors were found/);
      expect(run('qemu-img', ['check', f('temp.qcow2')])).toMatch(/No errors were found/);
      fs.writeFileSync(f('expected.raw'), expected);
      expect(
        run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', f('disk.qcow2'), f('expected.raw')]),
      ).toMatch(/identical/);
      // the fleecing target holds exactly the old data of the clusters the guest touched
      expect(snapshot[0]).toBe(0x11);
      expect(snapshot[70000]).toBe(0x11);
      expect(snapshot[3 << 20]).toBe(0x11);
      expect(expected[0]).toBe(0x22);
      expect(expected[4096]).toBe(0x11);
      expect(expected[1 << 20]).toBe(0);
    });
  },
);
