import type { DomainSpec, Port } from '../contract/port.ts';
import { QemuPort } from './qemu-port.ts';
import { SimPort } from './sim-port.ts';
import type { ResolvedTarget } from './targets/target-spec.ts';

/**
 * A fresh QEMU with a domain's disks, on a target: the simulator in process, or a real program started for
 * it — qemu-system-x86_64 for a VM domain, qemu-storage-daemon for a qsd one.
 */
export async function startPort(t: ResolvedTarget, domain: DomainSpec, seed = 1): Promise<Port> {
  const spec = t.spec(domain.kind === 'vm' ? 'system' : 'qsd');
  if (spec.kind === 'sim') return new SimPort(t.profile, seed, domain);
  if (spec.kind === 'attach')
    throw new Error(`${t.label}: a run needs a QEMU of its own, not an attached one`);
  return QemuPort.start({
    profile: t.profile,
    domain,
    argvPrefix: spec.argvPrefix,
    env: spec.env,
    qemuImg: spec.qemuImg,
    label: t.label,
  });
}
