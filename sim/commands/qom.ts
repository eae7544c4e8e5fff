import { hasFeature, text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import { VIRTIO_BLK_DEVICE_PROPERTIES, VIRTIO_BLK_PCI_PROPERTIES } from '../core/qom-props.ts';
import { type QomObject, resolvePath } from '../core/qom-tree.ts';
import { generic, QmpError } from '../util/qmp-error.ts';

/**
 * qom-set as far as the VM domain uses it: a guest disk's 'drive' (on the virtio-blk-pci proxy, an alias, or
 * on its virtio-backend), which moves the device's BlockBackend to another node (blk_replace_bs). Seen on
 * real 5.2, 7.2, 10.0 and 11.1 for the errors below.
 */
export function qomSet(core: SimCore, path: string, property: string, value: unknown): void {
  const o = resolvePath(core, path);
  if (o === 'absent') throw new QmpError('DeviceNotFound', `Device '${path}' not found`);
  if (o === 'unknown') throw notSimulated(`the QOM path '${path}'`);
  if (property === 'drive' && (o.kind === 'proxy' || o.kind === 'backend')) {
    setDrive(core, o, value);
    return;
  }
  if (hasProperty(o, property)) throw notSimulated(`property '${property}' of ${o.typeName}`);
  // object_property_find: the object's type and the name
  throw generic(`Property '${o.typeName}.${property}' not found`);
}

function notSimulated(what: string): QmpError {
  return generic(`fleece-lab: qom-set of ${what} is not simulated`);
}

/** what qom-list shows (the simulator knows every name of the two device types, and no machine property) */
function hasProperty(o: QomObject, property: string): boolean {
  switch (o.kind) {
    case 'proxy':
      return VIRTIO_BLK_PCI_PROPERTIES.has(property);
    case 'backend':
      return VIRTIO_BLK_DEVICE_PROPERTIES.has(property);
    case 'container':
      return property === 'type' || o.children.includes(property);
    case 'machine':
      return property !== 'drive';
  }
}

/** set_drive on a realized device (realized_set_allowed since 6.0), then blk_replace_bs */
function setDrive(core: SimCore, o: Extract<QomObject, { kind: 'proxy' | 'backend' }>, value: unknown): void {
  // the proxy's 'drive' is an alias: the property set is the anonymous virtio-blk-device's
  if (!hasFeature(core.version, 'qom-set-drive'))
    throw generic(
      "Attempt to set property 'drive' on anonymous device (type 'virtio-blk-device') after it was realized",
    );
  if (typeof value !== 'string') throw generic("Invalid parameter type for 'drive', expected: string");
  const node = core.graph.find(value);
  if (!node) throw generic(text(core.version, 'node.notFoundDeviceOrNode', '', value));
  const root = o.device.blk.root;
  if (!root) throw generic('fleece-lab: a device without a drive is not simulated');
  const prev = root.bs;
  // bdrv_replace_child_noperm asserts old != new: real QEMU aborts (7.2, 10.0, 11.1)
  if (prev === node)
    throw generic(
      `fleece-lab: qom-set of a device's drive to the node it uses is not simulated (QEMU aborts)`,
    );
  core.graph.retarget(root, node);
  try {
    core.refreshPerms();
  } catch (e) {
    core.graph.retarget(root, prev);
    core.refreshPerms();
    throw e;
  }
}
