import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Profile } from '../versions.ts';

/**
 * What a real qemu-system-x86_64 of each profile said about itself, beyond the QAPI schema
 * (contract/qemu-system/<version>.json, captured by harness/qemu/capture-system.ts): what its command
 * line prints for -h, -machine help and -accel help; its machines, QOM types, CPU models and the
 * properties of the machine and device types the simulator creates; and its replies to the requests
 * real libvirt 9.0 sends while probing an emulator and starting a domain, per context (the QEMU command
 * line they were answered under). Loaded once, checked by zod and against itself.
 */
const propertyInfo = z
  .object({ name: z.string(), type: z.string(), description: z.string().optional() })
  .passthrough();

const machineInfo = z
  .object({
    name: z.string(),
    alias: z.string().optional(),
    'is-default': z.boolean().optional(),
    deprecated: z.boolean(),
    'cpu-max': z.number(),
    'default-cpu-type': z.string().optional(),
  })
  .passthrough();

const request = z.object({ execute: z.string(), arguments: z.record(z.unknown()).optional() }).strict();
const reply = z.union([
  z.object({ return: z.unknown() }).strict(),
  z.object({ error: z.object({ class: z.string(), desc: z.string() }).strict() }).strict(),
]);
export type CannedReply = z.infer<typeof reply>;

/** The QEMU command lines the replies were captured under: libvirt's probes and a libvirt q35 domain. */
export const CONTEXTS = ['probe-kvm', 'probe-tcg', 'q35-tcg'] as const;
export type ReplyContext = (typeof CONTEXTS)[number];

export const systemDataSchema = z
  .object({
    /** the version and package the binary reported: "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" */
    qemu: z.string(),
    cli: z.object({ help: z.string(), machineHelp: z.string(), accelHelp: z.string() }).strict(),
    machines: z.array(machineInfo),
    types: z.array(
      z.object({ name: z.string(), parent: z.string().optional(), abstract: z.boolean().optional() }),
    ),
    machineProps: z.record(z.array(propertyInfo)),
    deviceProps: z.record(z.array(propertyInfo)),
    cpus: z.array(z.object({ name: z.string() }).passthrough()),
    replies: z.array(z.object({ context: z.enum(CONTEXTS), request, reply }).strict()),
  })
  .strict();
export type SystemData = z.infer<typeof systemDataSchema>;
export type MachineInfo = z.infer<typeof machineInfo>;
export type PropertyInfo = z.infer<typeof propertyInfo>;

const cache = new Map<Profile, SystemData>();

export function loadSystemData(profile: Profile): SystemData {
  let d = cache.get(profile);
  if (!d) {
    const file = fileURLToPath(new URL(`./${profile}.json`, import.meta.url));
    const parsed = systemDataSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`contract/qemu-system/${profile}.json: ${issue.path.join('.')}: ${issue.message}`);
    }
    d = parsed.data;
    // the table checks itself: every machine's type and every property list's type is a QOM type
    const types = new Set(d.types.map((t) => t.name));
    for (const name of [...Object.keys(d.machineProps), ...Object.keys(d.deviceProps)])
      if (!types.has(name))
        throw new Error(`contract/qemu-system/${profile}.json: '${name}' is not a QOM type`);
    const defaults = d.machines.filter((m) => m['is-default']);
    if (defaults.length !== 1)
      throw new Error(`contract/qemu-system/${profile}.json: ${defaults.length} default machines`);
    cache.set(profile, d);
  }
  return d;
}

/** canonical text of a request, for looking replies up */
export function requestKey(execute: string, args: Record<string, unknown> | undefined): string {
  return JSON.stringify([execute, args ?? {}]);
}
