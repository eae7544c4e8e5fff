import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupFiles, diffFootprint, listFootprint, removeAdded, restoreChanged } from './host-footprint.js';

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('host footprint', () => {
  it('puts a folder back as it was: added entries gone, rewritten files and every time restored', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-footprint-'));
    const root = path.join(tmp, 'etc');
    fs.mkdirSync(path.join(root, 'nwfilter'), { recursive: true });
    fs.writeFileSync(path.join(root, 'nwfilter', 'a.xml'), '<filter/>\n', { mode: 0o600 });
    fs.writeFileSync(path.join(root, 'qemu.conf'), '# defaults\n');
    fs.utimesSync(
      path.join(root, 'qemu.conf'),
      new Date('2024-10-21T11:51:48Z'),
      new Date('2024-10-21T11:51:48Z'),
    );
    const before = listFootprint([root]);
    backupFiles(before, path.join(tmp, 'backup'));

    // what libvirtd does: rewrite a file, change another's mode, add files and folders
    fs.writeFileSync(
      path.join(root, 'nwfilter', 'a.xml'),
      '<!-- AUTO-GENERATED -->\n<filter><uuid/></filter>\n',
    );
    fs.chmodSync(path.join(root, 'qemu.conf'), 0o600);
    fs.mkdirSync(path.join(root, 'qemu', 'checkpoint'), { recursive: true });
    fs.writeFileSync(path.join(root, 'qemu', 'checkpoint', 'cp1.xml'), 'x');
    fs.writeFileSync(path.join(root, 'secrets'), '');
    expect(diffFootprint(before, listFootprint([root])).changed.sort()).toEqual(
      [path.join(root, 'nwfilter', 'a.xml'), path.join(root, 'qemu.conf')].sort(),
    );

    expect(removeAdded(before, [root])).toEqual([]);
    const back = restoreChanged(before, path.join(tmp, 'backup'), [root]);
    expect(back.failed).toEqual([]);
    expect(back.restored.sort()).toEqual(
      [path.join(root, 'nwfilter', 'a.xml'), path.join(root, 'qemu.conf')].sort(),
    );
    expect(listFootprint([root])).toEqual(before);
    expect(fs.readFileSync(path.join(root, 'nwfilter', 'a.xml'), 'utf8')).toBe('<filter/>\n');
  });

  it('never removes anything outside its roots', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-footprint-'));
    const root = path.join(tmp, 'r');
    fs.mkdirSync(root);
    const before = listFootprint([root]);
    fs.writeFileSync(path.join(tmp, 'outside'), '');
    fs.writeFileSync(path.join(root, 'inside'), '');
    removeAdded(before, [root]);
    expect(fs.existsSync(path.join(tmp, 'outside'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'inside'))).toBe(false);
  });
});
