import type { FuzzTarget } from '../core.ts';
import { nbdClient } from './nbd-client.ts';
import { nbdServer } from './nbd-server.ts';
import { proposals } from './proposals.ts';
import { qmpClient } from './qmp-client.ts';
import { qmpServer } from './qmp-server.ts';
import { resultsFiles } from './results-files.ts';
import { traceFiles } from './trace-files.ts';

/** Every fuzz target, in the order `npm run fuzz` runs them. */
// biome-ignore lint/suspicious/noExplicitAny: a list of targets of different input and state types
export const TARGETS: FuzzTarget<any, any>[] = [
  proposals,
  resultsFiles,
  traceFiles,
  qmpServer,
  qmpClient,
  nbdServer,
  nbdClient,
];
