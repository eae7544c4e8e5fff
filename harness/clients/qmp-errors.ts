/**
 * Error types of the QMP client. Distinct classes so callers can tell "QEMU refused the command"
 * (an expected outcome a conformance test compares) from "the transport broke" (a test failure).
 */

/** QEMU answered with `{"error": {...}}`. */
export class QmpError extends Error {
  override readonly name: string = 'QmpError';
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    /** the message exactly as sent, for traces */
    readonly sent: Readonly<Record<string, unknown>>,
  ) {
    super(`${String(sent.execute)}: ${errorClass}: ${desc}`);
  }
}

/** No reply or event within the allotted time. */
export class QmpTimeoutError extends Error {
  override readonly name: string = 'QmpTimeoutError';
}

/** The connection ended (peer closed, socket error, or close() called) while something waited. */
export class QmpConnectionClosedError extends Error {
  override readonly name: string = 'QmpConnectionClosedError';
}

/** The socket could not be opened; `code` (ENOENT, ECONNREFUSED...) lets a starter retry. */
export class QmpConnectError extends QmpConnectionClosedError {
  override readonly name: string = 'QmpConnectError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The server broke the protocol: malformed JSON, wrong shape, over-long line, unexpected reply. */
export class QmpProtocolError extends Error {
  override readonly name: string = 'QmpProtocolError';
}
