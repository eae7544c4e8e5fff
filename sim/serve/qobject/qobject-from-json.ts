import { type Generation, JsonMessageParser } from './json-streamer.ts';
import type { QValue } from './qobject.ts';

/**
 * qobject_from_json: exactly one value from a string, or QEMU's error ("Expecting at most one JSON
 * value" when more follow).
 */
export function qobjectFromJson(text: string, generation: Generation): { value: QValue } | { error: string } {
  let result: QValue | undefined;
  let err: string | undefined;
  const p = new JsonMessageParser(generation, (m) => {
    if (result !== undefined) {
      result = undefined;
      err = 'Expecting at most one JSON value';
    }
    if (err !== undefined) return;
    if ('error' in m) err = m.error;
    else result = m.value;
  });
  p.feed(Buffer.from(text, 'utf8'));
  p.flush();
  if (result === undefined && err === undefined) err = 'JSON parse error, expecting value';
  return err !== undefined ? { error: err } : { value: result as QValue };
}
