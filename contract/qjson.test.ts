import { describe, expect, it } from 'vitest';
import { qdictOrder, toQemuJson } from './qjson.ts';

describe('QEMU JSON text', () => {
  // Lines below were read off a real qemu-storage-daemon 7.2 greeting and replies.
  it('orders a greeting like QEMU', () => {
    const greeting = {
      QMP: {
        version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' },
        capabilities: ['oob'],
      },
    };
    expect(toQemuJson(greeting)).toBe(
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}',
    );
  });
  it('puts id before error and after return', () => {
    expect(toQemuJson({ error: { class: 'GenericError', desc: 'x' }, id: 7 })).toBe(
      '{"id": 7, "error": {"class": "GenericError", "desc": "x"}}',
    );
    expect(toQemuJson({ return: {}, id: 7 })).toBe('{"return": {}, "id": 7}');
  });
  it('escapes like qjson.c', () => {
    expect(toQemuJson('a"b\\c\n\u0001é😀')).toBe('"a\\"b\\\\c\\n\\u0001\\u00E9\\uD83D\\uDE00"');
  });
  it('newest key first within one bucket', () => {
    expect(qdictOrder(['major', 'minor', 'micro'])).toEqual(['micro', 'minor', 'major']);
  });
});
