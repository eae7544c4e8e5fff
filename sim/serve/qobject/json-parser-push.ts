/**
 * The push JSON parser of 11.1 (json-parser.c's json_parser_feed): every token goes straight into a
 * state machine; errors carry "LINE:COL: " and 11.1's wording.
 */
import type { Token } from './json-lexer.ts';
import { ParseError, parseNumber, parseString } from './json-literals.ts';
import type { QDict, QValue } from './qobject.ts';
import { cStringToJs } from './unicode.ts';

type PState =
  | 'after_lcurly'
  | 'after_lsquare'
  | 'before_key'
  | 'before_value'
  | 'end_of_key'
  | 'end_of_value';
type PEntry = { partial: QDict | QValue[] | { key: string }; state: PState };

export class PushParser {
  private stack: PEntry[] = [];
  private err: string | undefined;

  reset(): void {
    this.stack = [];
    this.err = undefined;
  }

  /** json_parser_feed: a complete top-level value, an error text, or nothing yet */
  feed(t: Token): { value: QValue } | { error: string } | undefined {
    if (this.err !== undefined) return undefined;
    try {
      if (t.type === 'error') {
        this.fail(t, `stray '${cStringToJs(t.bytes)}'`);
      } else if (t.type === 'eoi') {
        if (this.stack.length > 0) this.fail(t, 'premature end of input');
        return undefined;
      }
      const v = this.parseToken(t);
      return v === undefined ? undefined : { value: v };
    } catch (e) {
      if (e instanceof ParseError) {
        this.err = e.message;
        return { error: e.message };
      }
      throw e;
    }
  }

  private fail(t: Token, msg: string): never {
    throw new ParseError(`${t.y}:${t.x}: JSON parse error, ${msg}`);
  }

  private cur(): PEntry | undefined {
    return this.stack[this.stack.length - 1];
  }

  private parseToken(t: Token): QValue | undefined {
    let entry = this.cur();
    const state: PState = entry ? entry.state : 'before_value';
    let value: QValue | undefined;
    switch (state) {
      case 'after_lcurly':
      case 'before_key':
        if (state === 'after_lcurly') {
          if (t.type === 'rcurly') {
            value = this.stack.pop()!.partial as QDict;
            entry = this.cur();
            break;
          }
          entry!.state = 'before_key';
        }
        if (t.type === 'string') {
          const k = parseString(t.bytes);
          if (k instanceof ParseError) this.fail(t, k.message);
          this.stack.push({ partial: { key: k }, state: 'end_of_key' });
        } else {
          this.fail(t, 'expecting key');
        }
        return undefined;
      case 'end_of_key':
        if (t.type === 'colon') entry!.state = 'before_value';
        else this.fail(t, "expecting ':'");
        return undefined;
      case 'after_lsquare':
      case 'before_value':
        if (state === 'after_lsquare') {
          if (t.type === 'rsquare') {
            value = this.stack.pop()!.partial as QValue[];
            entry = this.cur();
            break;
          }
          entry!.state = 'before_value';
        }
        value = this.beginValue(t);
        if (value === undefined) return undefined;
        break;
      case 'end_of_value': {
        const partial = entry!.partial;
        if (Array.isArray(partial)) {
          if (t.type !== 'rsquare') {
            if (t.type === 'comma') entry!.state = 'before_value';
            else this.fail(t, "expected ',' or ']'");
            return undefined;
          }
        } else if (partial instanceof Map) {
          if (t.type !== 'rcurly') {
            if (t.type === 'comma') entry!.state = 'before_key';
            else this.fail(t, "expected ',' or '}'");
            return undefined;
          }
        }
        value = this.stack.pop()!.partial as QValue;
        entry = this.cur();
        break;
      }
    }
    if (!entry) return value;
    const p = entry.partial;
    if (!(p instanceof Map) && !Array.isArray(p)) {
      this.stack.pop();
      entry = this.cur()!;
      const dict = entry.partial as QDict;
      if (dict.has(p.key)) this.fail(t, 'duplicate key');
      dict.set(p.key, value as QValue);
    } else {
      (p as QValue[]).push(value as QValue);
    }
    entry.state = 'end_of_value';
    return undefined;
  }

  private beginValue(t: Token): QValue | undefined {
    switch (t.type) {
      case 'lcurly':
        this.stack.push({ partial: new Map(), state: 'after_lcurly' });
        return undefined;
      case 'lsquare':
        this.stack.push({ partial: [], state: 'after_lsquare' });
        return undefined;
      case 'integer':
      case 'float':
        return parseNumber(t);
      case 'string': {
        const s = parseString(t.bytes);
        if (s instanceof ParseError) this.fail(t, s.message);
        return s;
      }
      case 'keyword': {
        const k = Buffer.from(t.bytes).toString('latin1');
        if (k === 'true') return true;
        if (k === 'false') return false;
        if (k === 'null') return null;
        this.fail(t, `invalid keyword '${k}'`);
        break;
      }
      default:
        this.fail(t, 'expecting value');
    }
    return undefined;
  }
}
