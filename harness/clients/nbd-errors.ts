/** Errors of the NBD client: every failure is one of these, never a bare Error or a hang. */

import { nbdErrorName, repName } from './nbd-wire.js';

export class NbdError extends Error {}

/** The server answered a request with an error (simple reply error or an error chunk). */
export class NbdRequestError extends NbdError {
  /** e.g. 'EINVAL' */
  readonly codeName: string;
  constructor(
    /** the command, e.g. 'read' */
    readonly command: string,
    /** NBD error value (NBD_EINVAL = 22, …) */
    readonly code: number,
    /** the server's own text (structured replies only) */
    readonly serverMessage: string | undefined,
    /** NBD_REPLY_TYPE_ERROR_OFFSET: where it failed */
    readonly offset?: number,
  ) {
    const name = nbdErrorName(code);
    super(`NBD ${command} failed: ${name}${serverMessage ? `: ${serverMessage}` : ''}`);
    this.codeName = name;
  }
}

/** The server refused an option during the handshake (NBD_REP_ERR_*). */
export class NbdOptionError extends NbdError {
  /** e.g. 'NBD_REP_ERR_UNKNOWN' */
  readonly replyName: string;
  constructor(
    readonly option: number,
    readonly optionName: string,
    readonly replyType: number,
    readonly serverMessage: string,
  ) {
    const name = repName(replyType);
    super(`NBD option ${optionName} refused: ${name}${serverMessage ? `: ${serverMessage}` : ''}`);
    this.replyName = name;
  }
}

/** The server sent something the protocol does not allow; the connection is closed. */
export class NbdProtocolError extends NbdError {}

/** No answer in time (a handshake step or a request). */
export class NbdTimeoutError extends NbdError {}

/** The connection ended (or was closed) before the answer came. */
export class NbdConnectionClosedError extends NbdError {}

/** Could not connect at all (ENOENT, ECONNREFUSED, …). */
export class NbdConnectError extends NbdConnectionClosedError {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}
