/**
 * QEMU's JSON reader, byte for byte: the streamer (qobject/json-streamer.c) that splits a byte stream
 * into messages, over the lexer, with the parser of one of the two generations the profiles need:
 *
 * - classic (5.2, 7.2, 10.0): the streamer queues tokens until brackets balance, then a recursive-descent
 *   parser reads the queue; errors have no position ("JSON parse error, expecting value").
 * - push (11.1): every token goes straight into a state machine; errors carry "LINE:COL: " and wording
 *   changed ("expecting key", "expected ',' or '}'", "premature end of input").
 *
 * The classic parser is run incrementally here (token by token, same first error), so a message never
 * has to be held as a token list: memory is bounded by one token (64 MiB, QEMU's MAX_TOKEN_SIZE).
 */
import { JsonLexer, MAX_NESTING, MAX_TOKEN_COUNT, MAX_TOKEN_SIZE, type Token } from './json-lexer.ts';
import { ClassicParser } from './json-parser-classic.ts';
import { PushParser } from './json-parser-push.ts';
import type { QValue } from './qobject.ts';
import { cStringToJs } from './unicode.ts';

export type Generation = 'classic' | 'push';

export type JsonMessage = { value: QValue } | { error: string };

/**
 * JSONMessageParser: feed bytes, get every complete message (value or error) in order. Bounded like
 * QEMU: a token is cut at 64 MiB, a message at 64 MiB / 2M tokens / nesting 1024.
 */
export class JsonMessageParser {
  private readonly lexer: JsonLexer;
  private brace = 0;
  private bracket = 0;
  private tokenSize = 0;
  private tokenCount = 0;
  private error = false;
  private readonly classic = new ClassicParser();
  private readonly pushp = new PushParser();

  constructor(
    generation: Generation,
    private readonly emit: (m: JsonMessage) => void,
  ) {
    this.lexer = new JsonLexer((t) => (generation === 'classic' ? this.classicToken(t) : this.pushToken(t)));
  }

  feed(data: Uint8Array): void {
    this.lexer.feed(data);
  }

  /** end of input (qobject_from_json); a monitor never flushes, it drops the parser on disconnect */
  flush(): void {
    this.lexer.flush();
  }

  private classicReset(): void {
    this.brace = 0;
    this.bracket = 0;
    this.tokenSize = 0;
    this.tokenCount = 0;
    this.classic.reset();
  }

  private classicToken(t: Token): void {
    switch (t.type) {
      case 'lcurly':
        this.brace++;
        break;
      case 'rcurly':
        this.brace--;
        break;
      case 'lsquare':
        this.bracket++;
        break;
      case 'rsquare':
        this.bracket--;
        break;
      case 'error':
        this.classicReset();
        this.emit({ error: `JSON parse error, stray '${cStringToJs(t.bytes)}'` });
        return;
      case 'eoi':
        if (this.tokenCount === 0) return;
        this.emitClassic();
        return;
      default:
        break;
    }
    let limit: string | undefined;
    if (this.tokenSize + t.bytes.length + 1 > MAX_TOKEN_SIZE) limit = 'JSON token size limit exceeded';
    else if (this.tokenCount + 1 > MAX_TOKEN_COUNT) limit = 'JSON token count limit exceeded';
    else if (this.bracket + this.brace > MAX_NESTING) limit = 'JSON nesting depth limit exceeded';
    if (limit) {
      this.classicReset();
      this.emit({ error: limit });
      return;
    }
    this.tokenSize += t.bytes.length;
    this.tokenCount++;
    this.classic.push(t);
    if ((this.brace > 0 || this.bracket > 0) && this.brace >= 0 && this.bracket >= 0) return;
    this.emitClassic();
  }

  private emitClassic(): void {
    const r = this.classic.end();
    this.classicReset();
    this.emit(r);
  }

  /**
   * 11.1's streamer. Counting and resetting are the classic ones (a closer with nothing open goes
   * negative and ends the message); what changed is that tokens go to the parser as they come, an error
   * is answered at once, and the rest of the message is then skipped up to where brackets balance. A
   * lexical error ends the message at once. (Read off the real 11.1 binary.)
   */
  private pushToken(t: Token): void {
    this.tokenSize += t.bytes.length;
    this.tokenCount++;
    switch (t.type) {
      case 'lcurly':
        this.brace++;
        break;
      case 'rcurly':
        this.brace--;
        break;
      case 'lsquare':
        this.bracket++;
        break;
      case 'rsquare':
        this.bracket--;
        break;
      default:
        break;
    }
    if (!this.error) {
      let limit: string | undefined;
      if (this.tokenSize > MAX_TOKEN_SIZE) limit = 'JSON token size limit exceeded';
      else if (this.tokenCount > MAX_TOKEN_COUNT) limit = 'JSON token count limit exceeded';
      else if (this.bracket + this.brace > MAX_NESTING) limit = 'JSON nesting depth limit exceeded';
      if (limit) {
        this.emit({ error: limit });
        this.error = true;
      } else {
        const r = this.pushp.feed(t);
        if (r) {
          this.emit(r);
          if ('error' in r) this.error = true;
        }
      }
    }
    const open = (this.brace > 0 || this.bracket > 0) && this.brace >= 0 && this.bracket >= 0;
    if (!open || t.type === 'eoi' || t.type === 'error') {
      this.error = false;
      this.brace = 0;
      this.bracket = 0;
      this.tokenCount = 0;
      this.tokenSize = 0;
      this.pushp.reset();
    }
  }
}
