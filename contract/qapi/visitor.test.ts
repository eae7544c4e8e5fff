import { describe, expect, it } from 'vitest';
import { VERSIONS } from '../versions.ts';
import { Introspection } from './introspection.ts';
import { loadSnapshot } from './schema-data.ts';
import { QapiVisitor } from './visitor.ts';

// Expected texts are what real qemu-storage-daemon 7.2 answered (conformance runbooks keep checking them live).
const v72 = VERSIONS['7.2'];
const visitor = new QapiVisitor(new Introspection(loadSnapshot('7.2', 'qsd').schema), {
  missing: v72.texts['qapi.missing'],
  badType: v72.texts['qapi.badType'],
  badEnum: v72.texts['qapi.badEnum'],
  unexpected: v72.texts['qapi.unexpected'],
});

describe("QEMU's argument visitor over the introspected schema", () => {
  it('accepts a valid blockdev-add', () => {
    expect(
      visitor.checkCommand('blockdev-add', { driver: 'null-co', 'node-name': 'n', size: 1 << 20 }),
    ).toBeNull();
  });
  it('names nested members by path', () => {
    expect(
      visitor.checkCommand('blockdev-add', { driver: 'qcow2', 'node-name': 'x', file: { driver: 'file' } }),
    ).toBe("Parameter 'file.filename' is missing");
    expect(
      visitor.checkCommand('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'x',
        file: { driver: 'file', filename: 3 },
      }),
    ).toBe("Invalid parameter type for 'file.filename', expected: string");
  });
  it('enum errors name only the member', () => {
    expect(
      visitor.checkCommand('blockdev-backup', { 'job-id': 'j', device: 'a', target: 'b', sync: 'bogus' }),
    ).toBe("Parameter 'sync' does not accept value 'bogus'");
  });
  it('unexpected members come after every member was visited', () => {
    expect(
      visitor.checkCommand('blockdev-backup', { device: 'a', target: 'b', sync: 'none', extra: 1 }),
    ).toBe("Parameter 'extra' is unexpected");
    expect(visitor.checkCommand('blockdev-backup', { device: 'a', sync: 'none', extra: 1 })).toBe(
      "Parameter 'target' is missing",
    );
  });
  it('list elements carry their index', () => {
    expect(visitor.checkCommand('transaction', { actions: [{ type: 'abort' }] })).toBe(
      "Parameter 'actions[0].data' is missing",
    );
  });
  it('integers are integers', () => {
    expect(visitor.checkCommand('blockdev-add', { driver: 'null-co', 'node-name': 'n', size: 1.5 })).toBe(
      "Invalid parameter type for 'size', expected: integer",
    );
  });
});
