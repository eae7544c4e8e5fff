import { describe, expect, it } from 'vitest';
import type { SchemaEntry } from '../contract/qapi/introspection.ts';
import { diffMarkdown, diffMatrices, diffResults } from './diff.ts';
import { diffFeatures, loadSchemaFeatures, schemaFeatures, topLevel } from './features.ts';
import { diffHtml } from './html.ts';
import { buildMatrix } from './matrix.ts';
import { res, tr } from './test-fixtures.ts';
import { errorTextChanges } from './transcripts.ts';

describe('diffResults', () => {
  const a = res('qemu:5.2.0', '5.2.0', [
    ['same', 'pass'],
    ['gone', 'pass'],
    ['worse', 'pass'],
    ['new-feature', 'skip', 'QEMU 5.2 lacks copy-before-write'],
  ]);
  const b = res('qemu:7.2.22', '7.2.22', [
    ['same', 'pass'],
    ['worse', 'fail', '.steps.1: got 1, recorded 2'],
    ['new-feature', 'pass'],
    ['added', 'pass'],
  ]);

  it('lists status changes, added and removed checks', () => {
    const d = diffResults({ a, b, aFile: 'a.json', bFile: 'b.json' });
    expect(d.statusChanges.map((c) => [c.id, c.a, c.b])).toEqual([
      ['worse', 'pass', 'fail'],
      ['new-feature', 'skip', 'pass'],
    ]);
    expect(d.added).toEqual(['added']);
    expect(d.removed).toEqual(['gone']);
    expect(d.unchanged).toBe(1);
    expect(d.transcripts).toBeUndefined();
    expect(diffMarkdown(d)).toContain('Not compared: transcripts of both runs are needed');
  });

  it('finds error texts that changed and other transcript changes', () => {
    const ta = new Map([
      ['same', tr('same', 'Cannot find device=nope nor node_name=nope')],
      [
        'worse',
        tr('worse', undefined, {
          events: [{ event: 'BLOCK_JOB_COMPLETED', data: { error: 'Input/output error' } }],
        }),
      ],
    ]);
    const tb = new Map([
      ['same', tr('same', "Cannot find device='nope' nor node-name='nope'")],
      [
        'worse',
        tr('worse', undefined, {
          events: [{ event: 'BLOCK_JOB_COMPLETED', data: { error: 'Input/output error' } }],
          steps: [],
        }),
      ],
    ]);
    const d = diffResults({
      a,
      b,
      aFile: 'a.json',
      bFile: 'b.json',
      ta: { source: 'A', traces: ta },
      tb: { source: 'B', traces: tb },
    });
    expect(d.transcripts?.compared).toBe(2);
    expect(d.transcripts?.errorTexts).toEqual([
      {
        id: 'same',
        where: 'step 1',
        command: 'blockdev-backup',
        a: 'GenericError: Cannot find device=nope nor node_name=nope',
        b: "GenericError: Cannot find device='nope' nor node-name='nope'",
      },
    ]);
    expect(d.transcripts?.otherChanges.map((o) => o.id)).toEqual(['worse']);
    const md = diffMarkdown(d);
    expect(md).toContain('| same | step 1 | blockdev-backup | GenericError: Cannot find device=nope');
    expect(diffHtml(d)).toContain('<table id="error-texts">');
  });

  it('event errors count as error texts', () => {
    const x = tr('x', undefined, {
      events: [{ event: 'BLOCK_JOB_COMPLETED', data: { error: 'Operation not permitted' } }],
    });
    const y = tr('x', undefined, {
      events: [{ event: 'BLOCK_JOB_COMPLETED', data: { error: 'Permission denied' } }],
    });
    expect(errorTextChanges('x', x, y)).toEqual([
      {
        id: 'x',
        where: 'event 0',
        command: 'BLOCK_JOB_COMPLETED',
        a: 'Operation not permitted',
        b: 'Permission denied',
      },
    ]);
    expect(errorTextChanges('x', x, x)).toEqual([]);
  });
});

describe('features from introspection', () => {
  const schema = (extra: SchemaEntry[], cmdFeatures?: string[]): SchemaEntry[] => [
    { name: 'blockdev-add', 'meta-type': 'command', 'arg-type': '1', 'ret-type': '0' },
    { name: 'old-cmd', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0', features: cmdFeatures },
    { name: '0', 'meta-type': 'object', members: [] },
    {
      name: '1',
      'meta-type': 'object',
      members: [{ name: 'driver', type: '2' }],
      tag: 'driver',
      variants: [{ case: 'raw', type: '3' }],
    },
    { name: '3', 'meta-type': 'object', members: [{ name: 'offset', type: 'int' }] },
    { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
    ...extra,
  ];
  const a = schemaFeatures(schema([{ name: '2', 'meta-type': 'enum', values: ['raw', 'gluster'] }]));
  const b = schemaFeatures(
    schema(
      [
        {
          name: '2',
          'meta-type': 'enum',
          values: ['raw', 'gluster', 'snapshot-access'],
          members: [
            { name: 'raw' },
            { name: 'gluster', features: ['deprecated'] },
            { name: 'snapshot-access' },
          ],
        },
      ],
      ['deprecated'],
    ),
  );

  it('names commands, drivers and members and diffs their flags', () => {
    expect([...a.keys()]).toEqual(
      expect.arrayContaining([
        'command blockdev-add',
        'driver gluster',
        'blockdev-add.driver',
        'blockdev-add[driver=raw].offset',
      ]),
    );
    const d = diffFeatures('5.2', a, '7.2', b);
    expect(d.added).toEqual([{ key: 'driver snapshot-access', kind: 'driver' }]);
    expect(d.deprecated.map((x) => x.key)).toEqual(['command old-cmd', 'driver gluster']);
    expect(d.removed).toEqual([]);
    expect(diffFeatures('7.2', b, '5.2', a).removed).toEqual([
      { key: 'driver snapshot-access', kind: 'driver' },
    ]);
  });

  it('folds the members of a new command into it', () => {
    expect(
      topLevel([
        { key: 'command x', kind: 'command' },
        { key: 'x.a', kind: 'member' },
        { key: 'y.b', kind: 'member' },
        { key: 'y.b.c', kind: 'member' },
        { key: 'y.b.c = v', kind: 'value' },
        { key: 'y.d = w', kind: 'value' },
      ]).map((c) => c.key),
    ).toEqual(['command x', 'y.b', 'y.d = w']);
  });

  it('reads what real QEMU changed between 7.2, 10.0 and 11.1', () => {
    const f72 = loadSchemaFeatures('7.2')!;
    const f100 = loadSchemaFeatures('10.0')!;
    const f111 = loadSchemaFeatures('11.1')!;
    const d1 = diffFeatures('7.2', f72, '10.0', f100);
    expect(d1.added.map((x) => x.key)).toEqual(
      expect.arrayContaining(['command block-job-change', 'blockdev-backup.discard-source']),
    );
    expect(d1.deprecated.map((x) => x.key)).toContain('driver gluster');
    const d2 = diffFeatures('10.0', f100, '11.1', f111);
    expect(d2.added.map((x) => x.key)).toContain('blockdev-backup.on-cbw-error');
    expect(d2.deprecated.map((x) => x.key)).toContain('command block-job-pause');
  });
});

describe('diffMatrices', () => {
  const mk = (simC: 'pass' | 'fail') =>
    buildMatrix({
      createdAt: simC,
      versions: [
        {
          version: '7.2',
          real: {
            results: res('qemu:7.2.22', '7.2.22', [['c', 'pass']]),
            traces: new Map([['c', tr('c', 'x')]]),
          },
          sim: {
            results: res('sim:7.2', '7.2', [['c', simC]]),
            traces: new Map([['c', tr('c', simC === 'pass' ? 'x' : 'y')]]),
          },
        },
      ],
    });
  it('lists the cells that changed', () => {
    const d = diffMatrices(mk('pass'), mk('fail'), 'a', 'b');
    expect(d.cellChanges.map((c) => [c.id, c.version, c.a?.agree, c.b?.agree, c.b?.class])).toEqual([
      ['c', '7.2', true, false, 'simulator-wrong'],
    ]);
    expect(diffMarkdown(d)).toContain('| c | 7.2 | pass | pass/fail ✗ simulator wrong |');
    expect(diffMatrices(mk('pass'), mk('pass'), 'a', 'b').cellChanges).toEqual([]);
  });
});
