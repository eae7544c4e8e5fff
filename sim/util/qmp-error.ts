/** An error reply as QEMU sends it: `{"error": {"class", "desc"}}`. */
export type ErrorClass =
  | 'GenericError'
  | 'CommandNotFound'
  | 'DeviceNotActive'
  | 'DeviceNotFound'
  | 'KVMMissingCap';

export class QmpError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    readonly desc: string,
  ) {
    super(desc);
  }
}

export function generic(desc: string): QmpError {
  return new QmpError('GenericError', desc);
}

/** The simulator's answer where it does not model what QEMU would do (never a guessed success). */
export function notSimulated(what: string): QmpError {
  return generic(`fleece-lab: ${what} is not simulated`);
}
