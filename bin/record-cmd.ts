import fs from 'node:fs';
import { type ConversationTrace, writeConversationTrace } from '../contract/formats/conversation-trace.ts';
import { readJsonFile } from '../contract/json-text.ts';
import { proxyOnce } from '../harness/clients/qmp-proxy.ts';
import {
  assembleTrace,
  commandLineOfQemuLog,
  isFixture,
  traceOfFixture,
  traceOfLibvirtLog,
} from '../harness/libvirt/log-trace.ts';

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: ${(e as { code?: string }).code ?? String(e)}`);
  }
}

/** a process's command line from /proc (the proxied QEMU's, for a replay to start the same) */
function procArgv(pid: string): string[] {
  const text = readText(`/proc/${pid}/cmdline`);
  return text.split('\0').filter((x, i, a) => x !== '' || i < a.length - 1);
}

export interface RecordValues {
  'libvirt-log'?: string;
  'qemu-log'?: string;
  listen?: string;
  upstream?: string;
  'qemu-pid'?: string;
  'wait-client'?: string;
  out?: string;
}

/** `fleece-lab record`: a conversation trace from libvirt's log, or from a proxied client. */
export async function cmdRecord(v: RecordValues): Promise<number> {
  if (!v.out) throw new Error('record: --out TRACE is needed');
  const out = v.out;
  if (v['libvirt-log'] !== undefined) {
    if (v.listen || v.upstream) throw new Error('record: --libvirt-log or --listen/--upstream, not both');
    const file = v['libvirt-log'];
    const text = readText(file);
    let trace: ConversationTrace;
    if (text.trimStart().startsWith('{')) {
      const raw = readJsonFile(file);
      if (!isFixture(raw))
        throw new Error(`${file}: neither a libvirtd log nor a recorded libvirt conversation`);
      trace = traceOfFixture(raw, file);
    } else {
      const commandLine = v['qemu-log'] ? commandLineOfQemuLog(readText(v['qemu-log'])) : undefined;
      trace = traceOfLibvirtLog(text, { file, commandLine });
    }
    writeConversationTrace(out, trace);
    const msgs = trace.connections.reduce((n, c) => n + c.messages.length, 0);
    const noArgv = trace.connections.filter((c) => !c.argv).length;
    console.log(
      `${out}: ${trace.connections.length} connection(s), ${msgs} messages, QEMU ${trace.qemu}` +
        (noArgv ? `; ${noArgv} without a command line (give --qemu-log to replay them)` : ''),
    );
    return 0;
  }
  if (!v.listen || !v.upstream)
    throw new Error('record: --libvirt-log FILE, or --listen SOCK --upstream SOCK');
  const argv = v['qemu-pid'] ? procArgv(v['qemu-pid']) : undefined;
  const waitS = Number(v['wait-client'] ?? '60');
  if (!Number.isFinite(waitS) || waitS <= 0)
    throw new Error(`record: --wait-client ${v['wait-client']}: not a number of seconds`);
  console.error(`record: listening on ${v.listen}, upstream ${v.upstream}`);
  const r = await proxyOnce({ listen: v.listen, upstream: v.upstream, clientWaitMs: waitS * 1000 });
  const trace = assembleTrace({ type: 'proxy' }, [
    { role: 'client', ...(argv ? { argv, argvFrom: 'proc' as const } : {}), messages: r.messages },
  ]);
  writeConversationTrace(out, trace);
  console.log(`${out}: ${r.messages.length} messages, QEMU ${trace.qemu}, ended by the ${r.endedBy}`);
  return 0;
}
