import fs from 'node:fs';

/**
 * JSON text read from a file, with a one-line error naming the file, line and column when it is not JSON.
 * (V8's own message names neither, and quotes the text around the error, newlines included.)
 */
export function readJsonFile(file: string): unknown {
  return parseJsonText(fs.readFileSync(file, 'utf8'), file);
}

export function parseJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(describeJsonError(text, e, where));
  }
}

/** One line of a JSONL file: its value, or one line of error naming the file and the line (FILE:LINE:COLUMN). */
export function parseJsonLine(line: string, where: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new Error(describeJsonError(line, e, 'L').replace(/^L:1:/, `${where}:${n}:`));
  }
}

export function describeJsonError(text: string, e: unknown, where: string): string {
  const raw = e instanceof Error ? e.message : String(e);
  // "Unexpected token 'x', "…text…" is not valid JSON" -> "Unexpected token 'x'"; drop "in JSON at position N"
  const m = /^(.*?), ".*" is not valid JSON$/s.exec(raw);
  let reason = (m ? m[1] : raw)
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ after JSON at position \d+.*$/s, ' after the value')
    .replace(/ of JSON input$/, '');
  reason = JSON.stringify(reason).slice(1, -1);
  if (text.trim() === '') return `${where}: empty, not JSON`;
  const at = jsonErrorOffset(text);
  let line = 1;
  let col = 1;
  for (let i = 0; i < at && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `${where}:${line}:${col}: not valid JSON: ${reason}`;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Offset of the first character where `text` stops being JSON (text.length when it ends too soon). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && WS.has(text.charCodeAt(i))) i++;
  };
  // a stack of containers: '[' or '{'; after a value inside one, a ',' or the closer is expected
  const stack: string[] = [];
  const string = (): boolean => {
    i++; // the opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const d = text[i + 1];
        if (d === undefined) return false;
        if (d === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i += 2;
            return false;
          }
          i += 6;
        } else if ('"\\/bfnrt'.includes(d)) i += 2;
        else {
          i++;
          return false;
        }
      } else i++;
    }
    return false;
  };
  const scalar = (): boolean => {
    const c = text[i];
    if (c === '"') return string();
    for (const w of ['true', 'false', 'null']) {
      if (text.startsWith(w, i)) {
        i += w.length;
        return true;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m && m[0] !== '' && m[0] !== '-') {
      i += m[0].length;
      return true;
    }
    if (c === '-') i++;
    return false;
  };
  // value := scalar | '[' (value (',' value)*)? ']' | '{' (string ':' value (',' ...)*)? '}'
  const value = (): boolean => {
    // iterative over opening brackets, so deep nesting costs no stack
    for (;;) {
      ws();
      if (i >= n) return false;
      const c = text[i];
      if (c !== '[' && c !== '{') return scalar();
      i++;
      ws();
      if (text[i] === (c === '[' ? ']' : '}')) {
        i++;
        return true;
      }
      stack.push(c);
      if (c === '{') {
        if (text[i] !== '"' || !string()) return false;
        ws();
        if (text[i] !== ':') return false;
        i++;
      }
    }
  };
  const member = (): boolean => {
    ws();
    if (text[i] !== '"' || !string()) return false;
    ws();
    if (text[i] !== ':') return false;
    i++;
    return value();
  };
  if (!value()) return i;
  for (;;) {
    ws();
    const top = stack[stack.length - 1];
    if (top === undefined) return i; // trailing text after the value (or the end: then JSON.parse agreed)
    const closer = top === '[' ? ']' : '}';
    if (text[i] === closer) {
      i++;
      stack.pop();
      continue;
    }
    if (text[i] !== ',') return i;
    i++;
    if (!(top === '[' ? value() : member())) return i;
  }
}
