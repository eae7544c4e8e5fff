/**
 * The domain every libvirt scenario runs: a q35 machine with virtio disks on image files in the scratch
 * folder and nothing else libvirt would add a device or a helper for (FACTS §11): no graphics, no USB
 * controller, no balloon, no video. libvirt names the disks' devices virtio-disk0, virtio-disk1, … in
 * target order, which is what HMP `qemu-io -d virtio-disk0/virtio-backend` writes through as the guest.
 *
 * ACPI is on (<features><acpi/>): without it libvirt 9.0 passes `-no-acpi`, which QEMU 10.0 no longer
 * knows ("-no-acpi: invalid option"), so the same domain runs on 7.2, 10.0 and 11.1.
 *
 * `type` is 'qemu' (TCG) by default: then nothing in the conversation depends on the host's CPU or on
 * /dev/kvm (under KVM libvirt asks QEMU about every host CPU feature), so a recording is the same on any
 * machine with the same QEMU build.
 */

export interface DiskSpec {
  /** absolute path of the image */
  file: string;
  format: 'raw' | 'qcow2';
  /** vda, vdb, … */
  target: string;
}

export interface DomainSpec {
  name: string;
  /** the emulator libvirt runs: a qemu-system-x86_64 binary or any wrapper script */
  emulator: string;
  disks: DiskSpec[];
  type?: 'qemu' | 'kvm';
  memoryMiB?: number;
  machine?: string;
}

function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll("'", '&apos;');
}

export function domainXml(spec: DomainSpec): string {
  const disks = spec.disks.map(
    (d) =>
      `    <disk type='file' device='disk'>\n` +
      `      <driver name='qemu' type='${d.format}'/>\n` +
      `      <source file='${esc(d.file)}'/>\n` +
      `      <target dev='${esc(d.target)}' bus='virtio'/>\n` +
      `    </disk>`,
  );
  return [
    `<domain type='${spec.type ?? 'qemu'}'>`,
    `  <name>${esc(spec.name)}</name>`,
    `  <memory unit='MiB'>${spec.memoryMiB ?? 128}</memory>`,
    '  <vcpu>1</vcpu>',
    `  <os><type arch='x86_64' machine='${esc(spec.machine ?? 'q35')}'>hvm</type></os>`,
    '  <features><acpi/></features>',
    '  <devices>',
    `    <emulator>${esc(spec.emulator)}</emulator>`,
    ...disks,
    "    <controller type='usb' model='none'/>",
    "    <memballoon model='none'/>",
    "    <video><model type='none'/></video>",
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}

/** The qdev id libvirt gives the disk at `index` (target order): what HMP qemu-io -d names. */
export function diskDevice(index: number): string {
  return `virtio-disk${index}`;
}

export interface BackupDisk {
  target: string;
  scratch: string;
}

/** A pull-mode backup over a unix NBD socket, one qcow2 scratch file per disk; incremental from a checkpoint. */
export function pullBackupXml(socket: string, disks: BackupDisk[], incremental?: string): string {
  return [
    "<domainbackup mode='pull'>",
    ...(incremental ? [`  <incremental>${esc(incremental)}</incremental>`] : []),
    `  <server transport='unix' socket='${esc(socket)}'/>`,
    '  <disks>',
    ...disks.map(
      (d) =>
        `    <disk name='${esc(d.target)}' backup='yes' type='file'><scratch file='${esc(d.scratch)}'/></disk>`,
    ),
    '  </disks>',
    '</domainbackup>',
    '',
  ].join('\n');
}
