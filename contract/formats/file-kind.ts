/**
 * Which format a JSON file is, before it is parsed as one: results and matrix files name their kind
 * (`"kind": "conformance"`, `"matrix"`), a proposals file (check --json) is a list; '?' when it says nothing.
 */
export function fileKind(raw: unknown): string {
  if (Array.isArray(raw)) return 'proposals';
  const kind = (raw as { kind?: unknown } | null)?.kind;
  return kind === undefined || kind === null ? '?' : String(kind);
}
