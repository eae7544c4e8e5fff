import { text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import { IoThread, objectsOf, PlainObject, ThrottleGroup } from '../core/objects.ts';
import { generic } from '../util/qmp-error.ts';

/** qemu-system's objects that are remembered, not simulated: libvirt's master key and the guest's RAM */
const PLAIN_TYPES = new Set(['secret', 'memory-backend-ram']);

/** qmp_object_add (6.0+: the properties flat beside qom-type and id) */
export function objectAdd(core: SimCore, a: Record<string, unknown>): void {
  const type = a['qom-type'] as string;
  const id = a.id as string;
  const plain = core.flavour === 'system' && PLAIN_TYPES.has(type);
  if (type !== 'throttle-group' && type !== 'iothread' && !plain)
    throw generic(`fleece-lab: object type '${type}' is not simulated`);
  const m = objectsOf(core);
  if (m.has(id)) throw generic(`attempt to add duplicate property '${id}' to object (type 'container')`);
  if (plain) {
    const { 'qom-type': _, id: __, ...props } = a;
    m.set(id, new PlainObject(id, type, props));
    return;
  }
  if (type === 'iothread') {
    m.set(id, new IoThread(id));
    return;
  }
  // 5.2's object-add: the properties in 'props'
  if (a.props && typeof a.props === 'object') a = { ...(a.props as Record<string, unknown>), ...a };
  const limits = (a.limits ?? {}) as Record<string, unknown>;
  // the limits struct, or the legacy flat x-bps-* properties (what --object throttle-group,x-bps-total=N sets)
  const num = (k: string) =>
    typeof limits[k] === 'number'
      ? (limits[k] as number)
      : typeof a[`x-${k}`] === 'number'
        ? (a[`x-${k}`] as number)
        : 0;
  m.set(id, new ThrottleGroup(id, num('bps-write'), num('bps-total')));
}

/** qmp_object_del */
export function objectDel(core: SimCore, id: string): void {
  const m = objectsOf(core);
  const g = m.get(id);
  if (!g) throw generic(`object '${id}' not found`);
  if (g instanceof ThrottleGroup && g.users > 0)
    throw generic(text(core.version, 'object.throttleGroupInUse', id));
  m.delete(id);
}
