/**
 * The C integer type behind some 'int' members. Introspection says only 'int' for every integer type,
 * but QEMU's input visitor checks the range of the C type (visit_type_uintN / visit_type_intN) and says
 * e.g. "Parameter 'granularity' expects uint32_t". Keyed by command and the member's own name (at any
 * depth: blockdev-add's inline children, transaction action data); only members whose C type was read in
 * QEMU's schema (qapi/*.json) and whose error was seen on a real QEMU are listed.
 *
 * uint64 and size accept negative numbers (qobject_input_type_uint64 keeps them "for backward
 * compatibility"), int64 accepts every JSON integer: neither needs a row.
 */
export type CIntType = 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32';

export const INT_MEMBER_TYPES: Readonly<Record<string, Readonly<Record<string, CIntType>>>> = {
  'block-dirty-bitmap-add': { granularity: 'uint32' },
  // BlockDirtyBitmapAdd as a transaction action
  transaction: { granularity: 'uint32' },
  'nbd-server-start': { 'max-connections': 'uint32' },
  // BlockdevOptionsCbw.cbw-timeout, BlockdevOptionsNbd.reconnect-delay/open-timeout, blkdebug limits
  'blockdev-add': {
    'cbw-timeout': 'uint32',
    'reconnect-delay': 'uint32',
    'open-timeout': 'uint32',
    'max-transfer': 'int32',
    'opt-write-zero': 'int32',
    'max-write-zero': 'int32',
    'opt-discard': 'int32',
    'max-discard': 'int32',
  },
  'blockdev-mirror': { granularity: 'uint32' },
  'drive-mirror': { granularity: 'uint32' },
};

const RANGES: Record<CIntType, [bigint, bigint]> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
};

/** The values a C integer type holds (for generators of valid arguments). */
export function cIntRange(type: CIntType): readonly [bigint, bigint] {
  return RANGES[type];
}

/** Does a JSON integer fit the C type as QEMU's visitor reads it? (unsigned types read negatives as 2^64 + v) */
export function fitsCInt(type: CIntType, value: number | bigint): boolean {
  let v = BigInt(value);
  if (type.startsWith('u') && v < 0n) v += 1n << 64n;
  const [min, max] = RANGES[type];
  return v >= min && v <= max;
}
