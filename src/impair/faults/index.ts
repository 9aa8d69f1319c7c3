/**
 * Every fault type, by the name used in the API, config files and counters. To add a fault: write
 * its file in this folder (see stage.ts for the contract, fault.ts for the description) and add it
 * here. The CLI flags, the API and the config file pick it up from this table.
 */
import type { FaultType } from '../fault.js';
import { corrupt } from './corrupt.js';
import { delay } from './delay.js';
import { drop } from './drop.js';
import { duplicate } from './duplicate.js';
import { limitData } from './limit-data.js';
import { loss } from './loss.js';
import { rate } from './rate.js';
import { reorder } from './reorder.js';
import { resetAfter } from './reset-after.js';
import { slice } from './slice.js';
import { slowClose } from './slow-close.js';
import { stall } from './stall.js';

const ALL = [
  delay,
  rate,
  loss,
  drop,
  duplicate,
  reorder,
  corrupt,
  slice,
  resetAfter,
  stall,
  limitData,
  slowClose,
] as const;

/** By type name. No prototype: a type named `constructor` or `__proto__` is simply not there. */
export const FAULT_TYPES: Readonly<Record<string, FaultType<object>>> = Object.freeze(
  Object.assign(
    Object.create(null) as Record<string, FaultType<object>>,
    Object.fromEntries(ALL.map((t) => [t.type, t as unknown as FaultType<object>])),
  ),
);

export type { DelayParams, Distribution } from './delay.js';
export type { RateParams } from './rate.js';
export type { LossParams } from './loss.js';
export type { DropParams } from './drop.js';
export type { DuplicateParams } from './duplicate.js';
export type { ReorderParams } from './reorder.js';
export type { CorruptParams } from './corrupt.js';
export type { SliceParams } from './slice.js';
export type { ResetAfterParams } from './reset-after.js';
export type { StallParams } from './stall.js';
export type { LimitDataParams } from './limit-data.js';
export type { SlowCloseParams } from './slow-close.js';
