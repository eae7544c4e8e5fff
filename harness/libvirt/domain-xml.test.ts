import { describe, expect, it } from 'vitest';
import { domainXml, pullBackupXml } from './domain-xml.js';
import { wrapperScript } from './emulator.js';

describe('domain and backup XML', () => {
  it('is a q35 TCG domain with the given disks and nothing libvirt would add a device or helper for', () => {
    const xml = domainXml({
      name: 'd',
      emulator: '/x/qemu wrapper',
      disks: [{ file: '/s/a&b.img', format: 'raw', target: 'vda' }],
    });
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain("machine='q35'");
    expect(xml).toContain('<features><acpi/></features>');
    expect(xml).toContain('<emulator>/x/qemu wrapper</emulator>');
    expect(xml).toContain("<source file='/s/a&amp;b.img'/>");
    expect(xml).toContain("<controller type='usb' model='none'/>");
    expect(xml).toContain("<memballoon model='none'/>");
    expect(xml).not.toContain('<graphics');
  });

  it('asks for a pull backup over a unix socket, incremental when given a checkpoint', () => {
    const full = pullBackupXml('/s/nbd.sock', [{ target: 'vda', scratch: '/s/t.qcow2' }]);
    expect(full).toContain("<server transport='unix' socket='/s/nbd.sock'/>");
    expect(full).not.toContain('<incremental>');
    expect(pullBackupXml('/s/n', [], 'cp1')).toContain('<incremental>cp1</incremental>');
  });

  it('wraps a program as an emulator, quoting what the shell would split', () => {
    expect(
      wrapperScript(['/r/ld.so', '--library-path', '/r/lib', "/r/it's"], { QEMU_MODULE_DIR: '/r/m' }),
    ).toBe(
      `#!/bin/sh\nexport QEMU_MODULE_DIR=/r/m\nexec /r/ld.so --library-path /r/lib '/r/it'\\''s' "$@"\n`,
    );
  });
});
