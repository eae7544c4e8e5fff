/**
 * The text of a new proposal file (`fleece-lab new NAME [--from PROPOSAL]`): a short, commented proposal that
 * imports from 'fleece-lab' and holds every claim it makes as written, or a bundled proposal rewritten to
 * import from 'fleece-lab'. Pure text: bin/ reads and writes the files.
 */
export const NAME_RE = /^[a-z0-9][a-z0-9.-]*$/;

/** A fresh proposal: a job-id API (begin a point in time of some disks, end it by id), every part commented. */
export function proposalTemplate(name: string): string {
  if (!NAME_RE.test(name))
    throw new Error(`'${name}': a proposal name is lower-case letters, digits, dots and dashes`);
  return `/**
 * ${name}: a fleecing API proposal. Check it with \`npx fleece-lab check ./${name}.ts\`; the guide is
 * docs/proposals.md of fleece-lab. Every part below is one field of defineProposal, which names the field
 * that is wrong when the file loads.
 */
import { defineProposal, kit, setup, z } from 'fleece-lab';

// the lowering kit: the QMP building blocks a management layer sends (kit.properties: the property catalogue)
const { addBackupOverlays, addPointsInTime, cancelJob, diskOf, exportNode, hasFeature, removeNode, removePointInTime, unexport } = kit;

/** what the API's implementation keeps of a job (libvirt keeps this in its domain object) */
interface Job {
  disks: string[];
  /** 'cbw': copy-before-write filters in the guest's write path; 'overlay': backup jobs into overlays */
  how: 'cbw' | 'overlay';
  nodes: Record<string, string>;
  files: Record<string, string>;
}

export default defineProposal({
  name: '${name}',
  title: '${name}: fleecing jobs by id',
  summary: 'begin(disks) -> id; end(id); several points in time at once',
  // What the API can say at all: a property it cannot express is "not expressible", with the reason.
  capabilities: { disksPerCall: 'many', jobIds: true, concurrentJobs: true },

  // THE CALLS: what a user of the API sends, and what it returns (zod schemas; the checker validates both).
  calls: {
    begin: {
      doc: 'a point in time of the listed disks, each exported over NBD as <id>-<disk>; returns the job id',
      params: z.object({ disks: z.array(z.string()).min(1) }),
      result: z.string(),
    },
    end: { doc: 'end one job by its id', params: z.object({ id: z.string() }), result: z.void() },
  },

  // THE CLAIMS: the properties of the catalogue (kit.properties) the API promises; check tests each one and
  // exits 1 when one fails or no run reached it. limits: why a property is not claimed.
  claims: [
    'point-in-time',
    'common-point-in-time',
    'isolation',
    'job-identity',
    'concurrent-points-in-time',
    'teardown-accepted',
    'clean-teardown',
    'guest-writes-never-fail',
    'safe-teardown',
    'misuse-refused',
    'end-releases',
  ],
  limits: {},
  // QEMU features a claim needs: where the QEMU lacks one, the claim is not expressible there
  requires: { 'concurrent-points-in-time': ['copy-before-write', 'snapshot-access'] },

  // THE API STATE MACHINE: the states a user of one job sees and which calls each state accepts. Tags:
  // 'pit' (entering it fixes the point in time), 'readable' (its exports may be read), 'pivoted'. A call
  // that the current state does not accept is a misuse: the checker makes them, and the API must refuse
  // them cleanly (misuse-refused).
  machine: setup({}).createMachine({
    id: '${name}',
    initial: 'none',
    states: {
      none: { on: { begin: 'running' } },
      running: { tags: ['pit', 'readable'], on: { end: 'ended' } },
      ended: { type: 'final' },
    },
  }),

  // THE SESSION PLAN: how one client's fleecing is made of the calls. The checker runs many sessions at
  // once, with guest writes between any two QMP commands, readers, and misuses.
  session: {
    start: (disks) => [{ call: 'begin', params: { disks } }],
    handle: (results) => results[0] as string,
    exportName: (id, disk) => \`\${id}-\${disk}\`,
    stop: (id) => [{ call: 'end', params: { id } }],
    // every call the checker may make on a live session, by a label of its own
    request: { end: (id) => ({ call: 'end', params: { id } }) },
  },

  // THE LOWERING: each call as the QMP a management layer would send (ctx.port.qmp), feature-detected.
  // Throwing an Error is a refusal (its message is what the user gets).
  lower: {
    async begin(ctx, p) {
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      const n = ((ctx.state.counter as number | undefined) ?? 0) + 1;
      ctx.state.counter = n;
      const id = \`job\${n}\`;
      // a running VM with copy-before-write (QEMU 7.2+): a filter per disk in the guest's write path;
      // otherwise (a qemu-storage-daemon domain, QEMU 5.2) an overlay and a backup job sync=none per disk
      const cbw =
        ctx.domain === 'vm' && hasFeature(ctx, 'copy-before-write') && hasFeature(ctx, 'snapshot-access');
      const job: Job = { disks, how: cbw ? 'cbw' : 'overlay', nodes: {}, files: {} };
      if (cbw) job.nodes = await addPointsInTime(ctx, disks, id);
      else {
        job.files = await addBackupOverlays(ctx, disks, id);
        for (const d of disks) job.nodes[d] = \`\${id}-\${d}\`;
      }
      for (const d of disks) await exportNode(ctx, \`\${id}-\${d}\`, job.nodes[d], \`\${id}-\${d}\`);
      jobs(ctx.state)[id] = job;
      return id;
    },
    async end(ctx, p) {
      const id = p.id as string;
      const job = jobs(ctx.state)[id];
      if (!job) throw new Error(\`no fleecing job '\${id}'\`);
      // readers first: nobody may see the disk change under their point in time
      for (const d of job.disks) await unexport(ctx, \`\${id}-\${d}\`);
      if (job.how === 'cbw') for (const d of job.disks) await removePointInTime(ctx, d, id);
      else {
        for (const d of job.disks) await cancelJob(ctx, \`\${id}-\${d}\`);
        for (const d of job.disks) await removeNode(ctx, \`\${id}-\${d}\`, job.files[d]);
      }
      delete jobs(ctx.state)[id];
      return undefined;
    },
  },
});

function jobs(state: Record<string, unknown>): Record<string, Job> {
  state.jobs ??= {};
  return state.jobs as Record<string, Job>;
}
`;
}

/** what fleece-lab exports by name; the rest of a bundled proposal's imports come from `kit` */
const PACKAGE_NAMES = new Set(['defineProposal', 'setup', 'z', 'AnyEventObject', 'LowerCtx', 'Proposal']);

/**
 * A bundled proposal's source as a file of the user's: its imports (xstate, zod, ./define.ts,
 * ./lowering-kit.ts) become one import from 'fleece-lab' and the lowering kit's functions are taken from
 * `kit`; its name (and its machine's id) become `name`.
 */
export function rewriteBundled(source: string, from: string, name: string): string {
  if (!NAME_RE.test(name))
    throw new Error(`'${name}': a proposal name is lower-case letters, digits, dots and dashes`);
  const imports = [...source.matchAll(/^import\s+(type\s+)?\{([^}]*)\}\s+from\s+'([^']+)';\n/gm)];
  const named: string[] = [];
  const fromKit: string[] = [];
  for (const m of imports) {
    const names = m[2]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => (m[1] ? `type ${s}` : s));
    if (m[3] === './lowering-kit.ts') fromKit.push(...names);
    else if (['xstate', 'zod', './define.ts'].includes(m[3])) named.push(...names);
    else throw new Error(`${from}: an import from '${m[3]}' has no place in a proposal file of one's own`);
  }
  for (const n of named) {
    const bare = n.replace(/^type\s+/, '');
    if (!PACKAGE_NAMES.has(bare)) throw new Error(`${from}: '${bare}' is not exported by fleece-lab`);
  }
  const bareName = (s: string) => s.replace(/^type\s+/, '');
  const head = [
    `import { ${[...named, ...(fromKit.length > 0 ? ['kit'] : [])].sort((a, b) => bareName(a).localeCompare(bareName(b))).join(', ')} } from 'fleece-lab';`,
    ...(fromKit.length > 0 ? ['', `const { ${fromKit.join(', ')} } = kit;`] : []),
    '',
  ].join('\n');
  let body = source;
  for (const m of imports) body = body.replace(m[0], '');
  body = body.replace(/^\n+/, '');
  const quoted = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  body = body
    .replace(new RegExp(`(\\bname: )'${quoted(from)}'`), `$1'${name}'`)
    .replace(new RegExp(`(\\bid: )'${quoted(from)}'`), `$1'${name}'`);
  return `/** ${name}: started from fleece-lab's bundled proposal ${from} (\`npx fleece-lab check ./${name}.ts\`). */\n${head}\n${body}`;
}
