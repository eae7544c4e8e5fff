import { z } from 'zod';
import { parseWith } from './parse-with.ts';

/**
 * The proposals file of `fleece-lab check --json`: one report per proposal, with a verdict per property.
 * Read as far as merging shards needs (the proposal and its verdicts); every other member is kept.
 */
const proposalReports = z.array(
  z
    .object({
      proposal: z.string(),
      verdicts: z.array(z.object({ property: z.string(), status: z.string() }).passthrough()),
    })
    .passthrough(),
);
export type ProposalReportsFile = z.infer<typeof proposalReports>;

/** a proposals file, with a one-line error naming the field */
export function parseProposalReports(raw: unknown, where: string): ProposalReportsFile {
  return parseWith(proposalReports, raw, where);
}
