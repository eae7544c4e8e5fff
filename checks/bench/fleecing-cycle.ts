import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startSystem } from '../../harness/targets/qemu-process.ts';
import { createSim } from '../../sim/sim.ts';

/**
 * One fleecing cycle as QMP commands: set up the legacy recipe, `writes` guest writes through HMP
 * qemu-io, reads of the point in time, teardown. The same list runs on the simulator and on qemu-system.
 */
export function cycleCommands(dir: string, writes: number): [string, Record<string, unknown>][] {
  const f = (n: string) => path.join(dir, n);
  const cmds: [string, Record<string, unknown>][] = [
    [
      'blockdev-add',
      { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: f('src.raw') } },
    ],
    [
      'blockdev-add',
      {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: f('temp.qcow2') },
        backing: 'source',
      },
    ],
    [
      'blockdev-backup',
      { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    ],
  ];
  for (let i = 0; i < writes; i++) {
    cmds.push([
      'human-monitor-command',
      { 'command-line': `qemu-io fl "write -P ${i % 250} ${(i * 4096) % (16 << 20)} 4k"` },
    ]);
  }
  for (let i = 0; i < 16; i++)
    cmds.push(['human-monitor-command', { 'command-line': `qemu-io temp "read ${i << 20} 64k"` }]);
  cmds.push(
    ['block-job-cancel', { device: 'fleece' }],
    ['blockdev-del', { 'node-name': 'temp' }],
    ['blockdev-del', { 'node-name': 'source' }],
  );
  return cmds;
}

function makeImages(dir: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path.join(dir, 'src.raw'), '16M']);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'temp.qcow2'), '16M']);
}

export async function benchSimCycle(dir: string, writes: number): Promise<{ commands: number; ms: number }> {
  makeImages(dir);
  const sim = createSim({ profile: '7.2', flavour: 'system', fs: 'real', cwd: dir });
  const cmds = cycleCommands(dir, writes);
  const t0 = performance.now();
  for (const [c, a] of cmds) {
    const r = sim.execute(c, a);
    if ('error' in r) throw new Error(`simulator: ${c}: ${r.error.desc}`);
  }
  sim.advance(10);
  return { commands: cmds.length, ms: performance.now() - t0 };
}

export async function benchQemuCycle(dir: string, writes: number): Promise<{ commands: number; ms: number }> {
  makeImages(dir);
  const q = await startSystem({ machine: 'none' });
  try {
    const cmds = cycleCommands(dir, writes);
    const t0 = performance.now();
    for (const [c, a] of cmds) await q.qmp.execute(c, a);
    return { commands: cmds.length, ms: performance.now() - t0 };
  } finally {
    await q.stop();
    fs.rmSync(path.join(dir, 'src.raw'), { force: true });
  }
}
