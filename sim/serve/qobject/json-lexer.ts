/**
 * QEMU's JSON lexer (qobject/json-lexer.c): the same state machine, token types and recovery after an
 * error, and tokens cut at MAX_TOKEN_SIZE.
 */

export const MAX_TOKEN_SIZE = 64 * 1024 * 1024;
export const MAX_TOKEN_COUNT = 2 * 1024 * 1024;
export const MAX_NESTING = 1024;

export type TokType =
  | 'lcurly'
  | 'rcurly'
  | 'lsquare'
  | 'rsquare'
  | 'colon'
  | 'comma'
  | 'integer'
  | 'float'
  | 'keyword'
  | 'string'
  | 'error'
  | 'eoi'
  /** a token cut at MAX_TOKEN_SIZE: QEMU passes the lexer state as its type */
  | 'oversize';

export interface Token {
  type: TokType;
  bytes: Uint8Array;
  x: number;
  y: number;
}

enum S {
  START,
  RECOVERY,
  DQ,
  DQ_ESC,
  SQ,
  SQ_ESC,
  ZERO,
  EXP_DIGITS,
  EXP_SIGN,
  EXP_E,
  MANTISSA,
  MANTISSA_DIGITS,
  DIGITS,
  SIGN,
  KEYWORD,
}

/** A transition: a state (S.*), or a token to emit (string), with LOOK when the byte is not consumed. */
type Next = { state: S; look: boolean } | { tok: TokType | 'error'; look: boolean };

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

function next(state: S, c: number): Next {
  const st = (s: S, look = false): Next => ({ state: s, look });
  const tok = (t: TokType | 'error', look = false): Next => ({ tok: t, look });
  switch (state) {
    case S.RECOVERY:
      if (c === 0x09) return st(S.RECOVERY);
      if (c < 0x20 || c >= 0xfe) return st(S.START, true);
      if (c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x3a || c === 0x2c)
        return st(S.START, true);
      return st(S.RECOVERY);
    case S.DQ:
      if (c === 0x5c) return st(S.DQ_ESC);
      if (c === 0x22) return tok('string');
      return c >= 0x20 && c <= 0xfd ? st(S.DQ) : tok('error');
    case S.DQ_ESC:
      return c >= 0x20 && c <= 0xfd ? st(S.DQ) : tok('error');
    case S.SQ:
      if (c === 0x5c) return st(S.SQ_ESC);
      if (c === 0x27) return tok('string');
      return c >= 0x20 && c <= 0xfd ? st(S.SQ) : tok('error');
    case S.SQ_ESC:
      return c >= 0x20 && c <= 0xfd ? st(S.SQ) : tok('error');
    case S.ZERO:
      if (isDigit(c)) return tok('error');
      if (c === 0x2e) return st(S.MANTISSA);
      return tok('integer', true);
    case S.EXP_DIGITS:
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('float', true);
    case S.EXP_SIGN:
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('error');
    case S.EXP_E:
      if (c === 0x2d || c === 0x2b) return st(S.EXP_SIGN);
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('error');
    case S.MANTISSA_DIGITS:
      if (isDigit(c)) return st(S.MANTISSA_DIGITS);
      if (c === 0x65 || c === 0x45) return st(S.EXP_E);
      return tok('float', true);
    case S.MANTISSA:
      return isDigit(c) ? st(S.MANTISSA_DIGITS) : tok('error');
    case S.DIGITS:
      if (isDigit(c)) return st(S.DIGITS);
      if (c === 0x65 || c === 0x45) return st(S.EXP_E);
      if (c === 0x2e) return st(S.MANTISSA);
      return tok('integer', true);
    case S.SIGN:
      if (c === 0x30) return st(S.ZERO);
      return c >= 0x31 && c <= 0x39 ? st(S.DIGITS) : tok('error');
    case S.KEYWORD:
      return c >= 0x61 && c <= 0x7a ? st(S.KEYWORD) : tok('keyword', true);
    default:
      // START
      switch (c) {
        case 0x22:
          return st(S.DQ);
        case 0x27:
          return st(S.SQ);
        case 0x30:
          return st(S.ZERO);
        case 0x2d:
          return st(S.SIGN);
        case 0x7b:
          return tok('lcurly');
        case 0x7d:
          return tok('rcurly');
        case 0x5b:
          return tok('lsquare');
        case 0x5d:
          return tok('rsquare');
        case 0x2c:
          return tok('comma');
        case 0x3a:
          return tok('colon');
        case 0x20:
        case 0x09:
        case 0x0d:
        case 0x0a:
          return st(S.START);
        default:
          if (c >= 0x31 && c <= 0x39) return st(S.DIGITS);
          if (c >= 0x61 && c <= 0x7a) return st(S.KEYWORD);
          return tok('error');
      }
  }
}

/** A growable byte buffer for the token being lexed. */
class ByteBuf {
  private buf = new Uint8Array(64);
  len = 0;
  push(c: number): void {
    if (this.len === this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.len++] = c;
  }
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.clear();
    return out;
  }
  clear(): void {
    this.len = 0;
    if (this.buf.length > 4096) this.buf = new Uint8Array(64);
  }
}

/** json-lexer.c; `positions` tracks LINE:COL the way 11.1 reports them. */
export class JsonLexer {
  private state = S.START;
  private readonly tok = new ByteBuf();
  private curX = 1;
  private curY = 1;
  private x = 1;
  private y = 1;

  constructor(private readonly emit: (t: Token) => void) {}

  feed(data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.feedChar(data[i], false);
  }

  flush(): void {
    this.feedChar(0, true);
    this.emit({ type: 'eoi', bytes: this.tok.take(), x: this.x, y: this.y });
  }

  private emitTok(type: TokType): void {
    this.emit({ type, bytes: this.tok.take(), x: this.x, y: this.y });
  }

  private feedChar(c: number, flush: boolean): void {
    this.curX++;
    if (c === 0x0a) {
      this.curX = 1;
      this.curY++;
    }
    let consumed = false;
    while (flush ? this.state !== S.START : !consumed) {
      const n = next(this.state, c);
      consumed = !flush && !n.look;
      if (consumed) this.tok.push(c);
      if ('tok' in n) {
        if (n.tok === 'error') {
          this.emitTok('error');
          this.state = S.RECOVERY;
          continue;
        }
        this.emitTok(n.tok);
        this.toStart();
        continue;
      }
      if (n.state === S.START) {
        this.toStart();
        continue;
      }
      if (n.state === S.RECOVERY) this.tok.clear();
      this.state = n.state;
    }
    if (this.tok.len > MAX_TOKEN_SIZE) {
      // back to the start state without passing through it: the position is not updated (11.1)
      this.emitTok('oversize');
      this.tok.clear();
      this.state = S.START;
    }
  }

  private toStart(): void {
    this.tok.clear();
    this.state = S.START;
    this.x = this.curX;
    this.y = this.curY;
  }
}
