import { describe, expect, it } from 'vitest';
import { InvalidUtf8Error, LineFramer, LineTooLongError } from './line-framer.js';

describe('LineFramer', () => {
  it('splits CRLF and LF lines across chunk boundaries', () => {
    const f = new LineFramer(100);
    expect(f.push(Buffer.from('{"a":1}\r\n{"b"'))).toEqual(['{"a":1}']);
    expect(f.unterminatedBytes).toBe(4);
    expect(f.push(Buffer.from(':2}\n\r\n'))).toEqual(['{"b":2}', '']);
    expect(f.unterminatedBytes).toBe(0);
  });

  it('keeps a multi-byte character split between chunks intact', () => {
    const f = new LineFramer(100);
    const bytes = Buffer.from('"é€"\r\n');
    expect(f.push(bytes.subarray(0, 2))).toEqual([]);
    expect(f.push(bytes.subarray(2, 5))).toEqual([]);
    expect(f.push(bytes.subarray(5))).toEqual(['"é€"']);
  });

  it('fails once an unterminated line passes the bound, counting all chunks', () => {
    const f = new LineFramer(10);
    f.push(Buffer.from('123456'));
    expect(() => f.push(Buffer.from('78901'))).toThrow(LineTooLongError);
    expect(() => new LineFramer(4).push(Buffer.from('12345\n'))).toThrow(/longer than 4 bytes/);
  });

  it('rejects invalid UTF-8', () => {
    expect(() => new LineFramer(10).push(Buffer.from([0xff, 0x0a]))).toThrow(InvalidUtf8Error);
  });
});
