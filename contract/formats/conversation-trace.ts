import fs from 'node:fs';
import { z } from 'zod';
import { parseJsonText } from '../json-text.ts';
import { parseWith } from './parse-with.ts';

/**
 * A recorded conversation (`fleece-lab record`): what some other client — libvirt, a management layer's
 * own QMP code — said to a QEMU and what QEMU answered, one QMP connection after another, every message in
 * wire order. `fleece-lab replay TRACE --target T` sends the client's messages again, with the client's own
 * ids and in its order, and compares what comes back.
 *
 * Made from:
 * - `libvirt-log`: libvirtd's monitor log (with the domain's QEMU log for its command line);
 * - `libvirt-fixture`: a conversation the libvirt test recorded (harness/libvirt/fixtures);
 * - `proxy`: `record --listen SOCK --upstream SOCK`, a transparent proxy between a client and QEMU.
 *
 * Paths under the recording's scratch folder are written as `<SCRATCH>`; a replay puts its own folder there.
 */
export const CONVERSATION_TRACE_FORMAT = 1;
export const SCRATCH_MARK = '<SCRATCH>';

export const conversationMessageSchema = z.object({
  dir: z.enum(['send', 'recv']),
  /** the JSON object; a text that did not parse is kept as { unparsed: text } */
  msg: z.unknown(),
  /** milliseconds since the connection opened, where the source knows it (the proxy) */
  ms: z.number().optional(),
});
export type ConversationMessage = z.infer<typeof conversationMessageSchema>;

export const conversationConnectionSchema = z.object({
  /** probe: libvirt's capability probe (-machine none); domain: a VM; client: a proxied connection */
  role: z.enum(['probe', 'domain', 'client', 'unknown']),
  /** libvirt reconnected to a QEMU already running (after its own restart): same process, new connection */
  reconnect: z.boolean().optional(),
  /** the QEMU command line this connection's process ran with (argv[0] the binary as recorded) */
  argv: z.array(z.string()).optional(),
  /**
   * where argv comes from: the domain's QEMU log (libvirt writes the command line there), the fixture's
   * observation of it, the proxied QEMU's /proc/PID/cmdline, or made from the probe's -machine (libvirt's
   * fixed probe command line)
   */
  argvFrom: z.enum(['qemu-log', 'fixture', 'proc', 'probe']).optional(),
  messages: z.array(conversationMessageSchema),
});
export type ConversationConnection = z.infer<typeof conversationConnectionSchema>;

/** an image the conversation's VM had on its command line, as QEMU described it at the start */
export const imageSchema = z.object({ path: z.string(), format: z.string(), size: z.number().int() });
export type TraceImage = z.infer<typeof imageSchema>;

export const conversationTraceSchema = z.object({
  tool: z.literal('fleece-lab'),
  kind: z.literal('conversation'),
  format: z.literal(CONVERSATION_TRACE_FORMAT),
  source: z.object({
    type: z.enum(['libvirt-log', 'libvirt-fixture', 'proxy']),
    /** the file it was made from (log or fixture), as given */
    file: z.string().optional(),
    /** libvirt's version, when the source says it */
    libvirt: z.string().optional(),
  }),
  /** the QEMU that answered, from its greeting: "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" */
  qemu: z.string(),
  createdAt: z.string(),
  /** the disk images the VM was started with (a replay makes them, same format and size) */
  images: z.array(imageSchema).default([]),
  connections: z.array(conversationConnectionSchema).min(1),
});
export type ConversationTrace = z.infer<typeof conversationTraceSchema>;

/** Is this parsed JSON a conversation trace (rather than another file `replay` reads)? */
export function isConversationTrace(raw: unknown): boolean {
  return (raw as { kind?: unknown } | null)?.kind === 'conversation';
}

export function parseConversationTrace(text: string, file: string): ConversationTrace {
  return parseWith(conversationTraceSchema, parseJsonText(text, file), file);
}

/** The version key of the QEMU that answered ("7.2" of "7.2.22 (Debian …)"). */
export function traceVersionKey(t: ConversationTrace): string {
  const m = /^(\d+)\.(\d+)/.exec(t.qemu);
  return m ? `${m[1]}.${m[2]}` : t.qemu;
}

/**
 * Stable JSON with one connection message per line, so two recordings diff line by line (the traces here
 * and the libvirt test's fixtures).
 */
export function messagePerLineJson(
  head: Record<string, unknown>,
  connections: readonly { messages: readonly unknown[] }[],
): string {
  const headText = JSON.stringify(head, null, 2).replace(/\n}$/, '');
  const conns = connections.map((c) => {
    const { messages, ...meta } = c;
    const metaText = JSON.stringify(meta).replace(/}$/, '');
    const lines = messages.map((m) => `        ${JSON.stringify(m)}`).join(',\n');
    return `    ${metaText}${Object.keys(meta).length > 0 ? ',' : ''}"messages": [\n${lines}\n      ]}`;
  });
  return `${headText},\n  "connections": [\n${conns.join(',\n')}\n  ]\n}\n`;
}

export function conversationTraceText(t: ConversationTrace): string {
  const { connections, ...head } = t;
  return messagePerLineJson(head, connections);
}

export function writeConversationTrace(file: string, t: ConversationTrace): void {
  fs.writeFileSync(file, conversationTraceText(parseWith(conversationTraceSchema, t, file)));
}
