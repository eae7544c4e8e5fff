/**
 * The classic JSON parser (json-parser.c of 5.2 to 10.0), run one token at a time; json-streamer.ts
 * feeds it a message's tokens once brackets balance.
 */
import type { Token } from './json-lexer.ts';
import { ParseError, parseNumber, parseString } from './json-literals.ts';
import type { QDict, QValue } from './qobject.ts';

type CFrame =
  | {
      kind: 'dict';
      dict: QDict;
      phase: 'first' | 'key' | 'colon' | 'value' | 'sep';
      key?: string;
      colonTok?: Token;
    }
  | { kind: 'list'; list: QValue[]; phase: 'first' | 'value' | 'sep' };

/**
 * json_parser_parse of 5.2-10.0 run one token at a time: the same first error (and message) as the
 * recursive-descent parser over the whole queue. `end()` is the queue running out ("premature EOI").
 */
export class ClassicParser {
  private stack: CFrame[] = [];
  private err: string | undefined;
  private result: QValue | undefined;
  private done = false;

  /** Feed one token (ignored once an error is recorded: QEMU reports the first). */
  push(t: Token): void {
    if (this.err !== undefined || this.done) return;
    try {
      this.step(t);
    } catch (e) {
      if (e instanceof ParseError) this.err = e.message;
      else throw e;
    }
  }

  /** The queue ends here: the value, or the first error. */
  end(): { value: QValue } | { error: string } {
    if (this.err === undefined && !this.done) this.err = 'premature EOI';
    const r =
      this.err !== undefined ? { error: `JSON parse error, ${this.err}` } : { value: this.result as QValue };
    this.reset();
    return r;
  }

  reset(): void {
    this.stack = [];
    this.err = undefined;
    this.result = undefined;
    this.done = false;
  }

  private fail(msg: string): never {
    throw new ParseError(msg);
  }

  private top(): CFrame | undefined {
    return this.stack[this.stack.length - 1];
  }

  private step(t: Token): void {
    const f = this.top();
    if (!f) {
      this.beginValue(t);
      return;
    }
    if (f.kind === 'dict') {
      switch (f.phase) {
        case 'first':
          if (t.type === 'rcurly') {
            this.stack.pop();
            this.complete(f.dict);
            return;
          }
          f.phase = 'key';
          {
            this.beginValue(t);
            return;
          }
        case 'key': {
          this.beginValue(t);
          return;
        }
        case 'colon':
          if (t.type !== 'colon') this.fail('missing : in object pair');
          f.phase = 'value';
          f.colonTok = t;
          return;
        case 'value': {
          this.beginValue(t);
          return;
        }
        case 'sep':
          if (t.type === 'rcurly') {
            this.stack.pop();
            this.complete(f.dict);
            return;
          }
          if (t.type !== 'comma') this.fail('expected separator in dict');
          f.phase = 'key';
          return;
      }
    }
    switch (f.phase) {
      case 'first':
        if (t.type === 'rsquare') {
          this.stack.pop();
          this.complete(f.list);
          return;
        }
        f.phase = 'value';
        {
          this.beginValue(t);
          return;
        }
      case 'value': {
        this.beginValue(t);
        return;
      }
      case 'sep':
        if (t.type === 'rsquare') {
          this.stack.pop();
          this.complete(f.list);
          return;
        }
        if (t.type !== 'comma') this.fail('expected separator in list');
        f.phase = 'value';
        return;
    }
  }

  /** parse_value at token t */
  private beginValue(t: Token): void {
    switch (t.type) {
      case 'lcurly':
        this.stack.push({ kind: 'dict', dict: new Map(), phase: 'first' });
        return;
      case 'lsquare':
        this.stack.push({ kind: 'list', list: [], phase: 'first' });
        return;
      case 'integer':
      case 'float': {
        this.complete(parseNumber(t));
        return;
      }
      case 'string': {
        const s = parseString(t.bytes);
        if (s instanceof ParseError) throw s;
        this.complete(s);
        return;
      }
      case 'keyword': {
        const k = Buffer.from(t.bytes).toString('latin1');
        if (k === 'true') {
          this.complete(true);
          return;
        }
        if (k === 'false') {
          this.complete(false);
          return;
        }
        if (k === 'null') {
          this.complete(null);
          return;
        }
        this.fail(`invalid keyword '${k}'`);
        break;
      }
      default:
        this.fail('expecting value');
    }
  }

  /** a value is complete: hand it to the frame that asked for it */
  private complete(v: QValue): void {
    const f = this.top();
    if (!f) {
      this.result = v;
      this.done = true;
      return;
    }
    if (f.kind === 'list') {
      f.list.push(v);
      f.phase = 'sep';
      return;
    }
    if (f.phase === 'key') {
      if (typeof v !== 'string') this.fail('key is not a string in object');
      f.key = v;
      f.phase = 'colon';
      return;
    }
    // value
    const key = f.key!;
    if (f.dict.has(key)) this.fail('duplicate key');
    f.dict.set(key, v);
    f.phase = 'sep';
  }
}
