/** How the checker words what it saw: a byte, an error. */

export function hex(n: number | undefined): string {
  return (n ?? 0).toString(16).padStart(2, '0');
}

export function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** "TypeError: x is undefined" for a lowering's own bug, the message alone for a refusal */
export function errorText(e: unknown): string {
  if (e instanceof Error && /^(TypeError|RangeError|ReferenceError|SyntaxError)$/.test(e.name))
    return `${e.name}: ${e.message}`;
  return msg(e);
}
