/**
 * The package's public face (`import { defineProposal, kit, z, setup } from 'fleece-lab'`): what a proposal
 * file needs and nothing else. `z` and `setup` are the zod and xstate that fleece-lab itself runs with, so a
 * proposal's schemas and machine are the checker's own kind whatever else the proposal's folder has installed.
 */
import { setup } from 'xstate';
import { z } from 'zod';
import { PROPERTY_IDS, PROPERTY_INFO } from '../properties.ts';
import * as lowering from '../proposals/lowering-kit.ts';
import { STATE_TAGS } from '../proposals/machine-shape.ts';
import { MISUSE_KINDS } from '../proposals/ops.ts';
import { FEATURES } from '../versions.ts';

export type { AnyEventObject } from 'xstate';
export type { DomainKind, Port } from '../port.ts';
export { QmpCallError } from '../port.ts';
export type { PropertyId } from '../properties.ts';
export {
  type ApiCall,
  defineProposal,
  type LowerCtx,
  type Proposal,
  ProposalError,
  type ProposalInput,
  type SessionPlan,
} from '../proposals/define.ts';
export type { MachineShape, StateTag } from '../proposals/machine-shape.ts';
export type { Feature } from '../versions.ts';
export { setup, z };

/**
 * The lowering kit (the QMP building blocks the bundled proposals are made of) and the catalogues a
 * proposal names things from: properties it may claim, the tags of its machine's states, the misuses the
 * checker makes, the QEMU features a claim may require.
 */
export const kit = {
  ...lowering,
  properties: PROPERTY_INFO,
  propertyIds: PROPERTY_IDS,
  stateTags: STATE_TAGS,
  misuses: MISUSE_KINDS,
  features: FEATURES,
};
