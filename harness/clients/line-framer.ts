/**
 * Splits a byte stream into LF-terminated lines (a trailing CR is dropped, so CRLF and LF both work).
 * Works on bytes, not strings, so a multi-byte UTF-8 character split across two chunks is never
 * decoded in halves; keeps chunks in a list so a long line costs one copy, not one per chunk.
 */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
}

export class InvalidUtf8Error extends Error {
  override readonly name = 'InvalidUtf8Error';
}

const LF = 0x0a;
const CR = 0x0d;

export class LineFramer {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly maxLineBytes: number) {}

  /** Returns the complete lines in this chunk; throws once the unterminated tail exceeds the bound. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      this.checkBound(piece.length);
      const whole = this.chunks.length === 0 ? piece : Buffer.concat([...this.chunks, piece]);
      this.chunks = [];
      this.pendingBytes = 0;
      lines.push(this.decode(whole));
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.checkBound(rest.length);
      this.chunks.push(rest);
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  /** Bytes received after the last newline (non-zero at EOF means the peer cut a message short). */
  get unterminatedBytes(): number {
    return this.pendingBytes;
  }

  private checkBound(extra: number): void {
    if (this.pendingBytes + extra > this.maxLineBytes) {
      throw new LineTooLongError(
        `QMP server sent a line longer than ${this.maxLineBytes} bytes without a newline`,
      );
    }
  }

  private decode(bytes: Buffer): string {
    const body = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.subarray(0, -1) : bytes;
    try {
      return this.decoder.decode(body);
    } catch {
      throw new InvalidUtf8Error('QMP server sent a line that is not valid UTF-8');
    }
  }
}
