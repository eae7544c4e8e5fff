import { describe, expect, it } from 'vitest';
import { qcow2FileLength } from './qcow2-file-length.ts';

const K = 1024;
const C = 64 * K;

describe('qcow2FileLength: what qemu-img and qemu-io leave on the host', () => {
  it('a fresh image: three clusters and the L1 entries', () => {
    expect(qcow2FileLength(256 * K, C, [])).toBe(196616);
    expect(qcow2FileLength(3 * 1024 * 1024 * K, C, [])).toBe(196656);
  });
  it('a first write takes an L2 table and a data cluster; a second cluster one more', () => {
    expect(qcow2FileLength(256 * K, C, [{ offset: 0, length: 4 * K, status: 'data' }])).toBe(393216);
    expect(
      qcow2FileLength(256 * K, C, [
        { offset: 0, length: 4 * K, status: 'data' },
        { offset: 128 * K, length: 4 * K, status: 'data' },
      ]),
    ).toBe(458752);
  });
  it('a zero cluster in an existing L2 range takes nothing', () => {
    expect(
      qcow2FileLength(256 * K, C, [
        { offset: 0, length: 4 * K, status: 'data' },
        { offset: 128 * K, length: 4 * K, status: 'data' },
        { offset: 192 * K, length: C, status: 'zero' },
      ]),
    ).toBe(458752);
  });
  it('a write past the first L2 range of a 3 GiB image: its own L2 table', () => {
    expect(
      qcow2FileLength(3 * 1024 * 1024 * K, C, [
        { offset: 2 * 1024 * 1024 * K, length: 4 * K, status: 'data' },
      ]),
    ).toBe(393216);
  });
});
