import { describe, expect, it } from 'vitest';
import { Introspection } from './qapi/introspection.ts';
import { loadSnapshot } from './qapi/schema-data.ts';
import { type Feature, PROFILES, VERSIONS } from './versions.ts';

/**
 * The version table against reality: every feature that shows in QMP introspection is present in a
 * profile exactly when that version's own query-qmp-schema (captured from the real binary) says so.
 */
const probes: Partial<Record<Feature, (i: Introspection) => boolean>> = {
  'blockdev-backup': (i) => i.commands.has('blockdev-backup'),
  'drive-backup': (i) => i.commands.has('drive-backup'),
  'job-commands': (i) =>
    ['job-cancel', 'job-pause', 'job-resume', 'job-complete', 'job-finalize', 'job-dismiss'].every((c) =>
      i.commands.has(c),
    ),
  'block-export': (i) => i.commands.has('block-export-add') && i.events.has('BLOCK_EXPORT_DELETED'),
  'nbd-server-add': (i) => i.commands.has('nbd-server-add'),
  'transaction-completion-mode': (i) => i.hasMember('transaction', ['properties', 'completion-mode']),
  'copy-before-write': (i) => i.enumValues('blockdev-add', ['driver']).includes('copy-before-write'),
  'snapshot-access': (i) => i.enumValues('blockdev-add', ['driver']).includes('snapshot-access'),
  'cbw-on-cbw-error': (i) => i.hasMember('blockdev-add', ['on-cbw-error'], { '': 'copy-before-write' }),
  'cbw-timeout': (i) => i.hasMember('blockdev-add', ['cbw-timeout'], { '': 'copy-before-write' }),
  'cbw-min-cluster-size': (i) =>
    i.hasMember('blockdev-add', ['min-cluster-size'], { '': 'copy-before-write' }),
  'block-job-change': (i) => i.commands.has('block-job-change'),
  'backup-discard-source': (i) => i.hasMember('blockdev-backup', ['discard-source']),
  'backup-on-cbw-error': (i) => i.hasMember('blockdev-backup', ['on-cbw-error']),
};

describe('version table against the introspection of each real QEMU', () => {
  for (const profile of PROFILES) {
    for (const flavour of ['qsd', 'system'] as const) {
      it(`${profile} (${flavour}): every schema-visible feature matches`, () => {
        const intro = new Introspection(loadSnapshot(profile, flavour).schema);
        for (const [feature, probe] of Object.entries(probes) as [Feature, (i: Introspection) => boolean][]) {
          expect([feature, VERSIONS[profile].features.has(feature)]).toEqual([feature, probe(intro)]);
        }
      });
    }
    it(`${profile}: the greeting's version is the profile`, () => {
      const g = loadSnapshot(profile, 'qsd').greeting.QMP.version.qemu;
      expect(`${g.major}.${g.minor}`).toBe(profile);
    });
  }
});
