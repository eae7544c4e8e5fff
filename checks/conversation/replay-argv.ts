/**
 * The command line a replay starts QEMU with: the recorded one, with only what ties it to the recording's
 * host changed, each rule for a stated reason:
 * - the binary: the target's (real qemu-system-x86_64 V, or the simulator);
 * - the QMP monitor: a listening unix socket in the replay's folder (libvirt passed an inherited
 *   descriptor, fd=N; a proxied QEMU listened on its own path) — the first control monitor only;
 * - <SCRATCH>: the replay's folder; a secret object's key file outside it (libvirt's master key under
 *   /var/lib/libvirt) moves into it;
 * - -daemonize and -pidfile: dropped, so that the replay owns the process; a masked -uuid gets a fixed one;
 * - the machine: a versioned type of another release (pc-q35-7.2) becomes the alias of the target's newest
 *   (q35), as libvirt expands machine='q35' for a new domain on that binary;
 * - on 5.2, whose -object, -device and -audiodev take no JSON (6.0/6.2), their JSON values become
 *   key=value, as libvirt writes them for a QEMU without the JSON capability.
 */
import { SCRATCH_MARK } from '../../contract/formats/conversation-trace.ts';

export interface ReplayArgvOptions {
  /** the replay's scratch folder (replaces <SCRATCH>) */
  dir: string;
  /** the QMP socket the replay connects to */
  qmpSocket: string;
  /** the version key of the recording and of the target */
  recorded: string;
  target: string;
}

function jsonObject(s: string): Record<string, unknown> | undefined {
  if (!s.startsWith('{')) return undefined;
  try {
    return JSON.parse(s) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** a QemuOpts value: commas doubled */
const optValue = (v: unknown): string =>
  (typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)).replaceAll(',', ',,');

/** {"driver":"x",…} (or "qom-type") as `x,k=v,…` */
export function keyvalOf(o: Record<string, unknown>, typeKey: string): string {
  const rest = Object.entries(o).filter(([k]) => k !== typeKey);
  return [String(o[typeKey]), ...rest.map(([k, v]) => `${k}=${optValue(v)}`)].join(',');
}

/** for a recording whose UUID was masked (<UUID>) */
export const REPLAY_UUID = '0f1ee2ce-1ab0-4000-8000-000000000001';

const JSON_SINCE_6: Readonly<Record<string, string>> = {
  '-object': 'qom-type',
  '-device': 'driver',
  '-audiodev': 'driver',
};

/** the argv after `argv[0]`, rewritten for the target (see the header) */
export function replayArgv(recorded: readonly string[], o: ReplayArgvOptions): string[] {
  const args = recorded.slice(1).map((a) => a.replaceAll(SCRATCH_MARK, o.dir));
  const out: string[] = [];
  let monitorDone = false;
  const controlChardevs = new Set<string>();
  for (let i = 0; i < args.length; i++)
    if (args[i] === '-mon' && /mode=control/.test(args[i + 1] ?? ''))
      controlChardevs.add(/chardev=([^,]+)/.exec(args[i + 1] ?? '')?.[1] ?? '');
  for (let i = 0; i < args.length; i++) {
    const opt = args[i];
    let val = args[i + 1];
    if (opt === '-daemonize') continue;
    if (opt === '-pidfile') {
      i++;
      continue;
    }
    // an option without a value (-S, -nodefaults) is followed by the next option
    if (val === undefined || !opt.startsWith('-') || val.startsWith('-')) {
      out.push(opt);
      continue;
    }
    if (!monitorDone && (opt === '-qmp' || opt === '-chardev')) {
      const id = /(?:^|,)id=([^,]+)/.exec(val)?.[1] ?? '';
      if (opt === '-qmp' && val.startsWith('unix:')) {
        val = `unix:${o.qmpSocket}${val.slice(val.indexOf(','))}`;
        monitorDone = true;
      } else if (opt === '-chardev' && val.startsWith('socket,') && controlChardevs.has(id)) {
        val = `socket,id=${id},path=${o.qmpSocket},server=on,wait=off`;
        monitorDone = true;
      }
    }
    if (opt === '-object') {
      const obj = jsonObject(val);
      if (obj?.['qom-type'] === 'secret' && typeof obj.file === 'string' && !obj.file.startsWith(o.dir))
        val = JSON.stringify({ ...obj, file: `${o.dir}/master-key.aes` });
    }
    if (opt === '-uuid' && !/^[0-9a-f-]{36}$/.test(val)) val = REPLAY_UUID;
    if ((opt === '-machine' || opt === '-M') && o.recorded !== o.target)
      val = val.replace(/^pc-q35-\d+\.\d+/, 'q35').replace(/^pc-i440fx-\d+\.\d+/, 'pc');
    const typeKey = JSON_SINCE_6[opt];
    const obj = typeKey && o.target === '5.2' ? jsonObject(val) : undefined;
    if (obj && typeKey) val = keyvalOf(obj, typeKey);
    out.push(opt, val);
    i++;
  }
  if (!monitorDone) throw new Error('the recorded command line has no QMP monitor on a unix socket');
  return out;
}

/** key files a rewritten command line names (secret objects): the replay writes them */
export function keyFiles(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '-object') continue;
    const v = argv[i + 1] ?? '';
    const obj = jsonObject(v);
    const file = obj ? obj.file : /(?:^|,)file=([^,]+)/.exec(v)?.[1];
    if ((obj?.['qom-type'] === 'secret' || v.startsWith('secret,')) && typeof file === 'string')
      out.push(file);
  }
  return out;
}
