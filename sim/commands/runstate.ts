import type { SimCore } from '../core/core.ts';

/**
 * The run state of qemu-system (system/runstate.c) as QMP sees it: `-S` starts in prelaunch, `cont` runs
 * the guest (RESUME), `stop` pauses it (STOP). Neither complains when there is nothing to do: `stop` in
 * prelaunch or paused and `cont` while running answer {} without an event, and prelaunch stays prelaunch
 * after a `stop` (seen on 5.2, 7.2, 10.0 and 11.1). The simulated guest runs no code, so no state needs a
 * reset and `cont` never refuses.
 */

/** query-status: StatusInfo in QAPI member order; 'singlestep' is a member until 8.2 */
export function queryStatus(core: SimCore): Record<string, unknown> {
  const running = core.runState === 'running';
  return hasSinglestep(core)
    ? { running, singlestep: false, status: core.runState }
    : { running, status: core.runState };
}

/** qmp_stop: vm_stop does nothing unless the guest runs */
export function stop(core: SimCore): void {
  if (core.runState !== 'running') return;
  core.runState = 'paused';
  core.events.emit('STOP');
}

/** qmp_cont: vm_start from prelaunch or paused; a running guest is left alone */
export function cont(core: SimCore): void {
  if (core.runState === 'running') return;
  core.runState = 'running';
  core.events.emit('RESUME');
  // serve --flavour system: the guest's firmware runs from here
  core.machineState?.onRunning?.();
}

const singlestep = new WeakMap<object, boolean>();
function hasSinglestep(core: SimCore): boolean {
  let has = singlestep.get(core.intro);
  if (has === undefined) {
    const cmd = core.intro.commands.get('query-status');
    const ret = cmd ? core.intro.type(cmd['ret-type']) : undefined;
    has = ret?.['meta-type'] === 'object' && ret.members.some((m) => m.name === 'singlestep');
    singlestep.set(core.intro, has);
  }
  return has;
}
