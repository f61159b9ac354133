/**
 * The shapes an operator declares and the context a pass runs in. An operator is either
 * - a filter operator: which components (a list of filters, the first one a BOS query) and what to do
 *   with each batch of them (`act`); the runner owns everything else, or
 * - a pass operator: one whole pass of its own (status, discovery, the session operators).
 */
import type { Clock } from '../common/clock.js';
import type { Options } from '../common/options.js';
import type { Action, AttemptField, Component } from '../common/types.js';
import type { Services } from '../clients/types.js';
import type { Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';
import type { GateTurn } from './pass-gate.js';

export const OPERATOR_NAMES = [
  'discovery',
  'session-setup',
  'rollout',
  'power-on',
  'power-off-graceful',
  'power-off-forceful',
  'configuration',
  'status',
  'actual-state-cleanup',
  'session-completion',
  'session-cleanup',
] as const;
export type OperatorName = (typeof OPERATOR_NAMES)[number];

/** Everything one pass may use. Options are fetched once at the start of the pass. */
export interface PassContext {
  readonly name: string;
  readonly services: Services;
  readonly options: Options;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** `max_component_batch_size` of this pass (0 = everything in one batch). */
  readonly batchSize: number;
}

/** One selection step. The first filter of a list gets `[]` and queries BOS. */
export interface Filter {
  readonly name: string;
  run(ctx: PassContext, input: Component[]): Promise<Component[]>;
  /**
   * A first filter that can give its selection page by page (a BOS query: pages where the client
   * pages, else one page). See selectPages() in filters.ts.
   */
  pages?(ctx: PassContext): AsyncIterable<Component[]>;
}

/** What one pass did, for metrics, logs and tests. */
export interface PassCounts {
  /** Components (or sessions, for session operators) the pass selected. */
  selected: number;
  /** Components (or sessions) the pass acted on. */
  acted: number;
  /** Components marked failed at their retry limit. */
  failedAtLimit?: number;
  /** Components (or sessions) that ended the pass with a new error. */
  errored?: number;
}

interface OperatorBase {
  readonly name: OperatorName | string;
  /** Which option sets the pause between passes. */
  readonly frequency?: 'polling_frequency' | 'discovery_frequency';
  /** When its large passes run among those waiting at the pass gate (pass-gate.ts); default `between`. */
  readonly gateTurn?: GateTurn;
}

export interface FilterOperator extends OperatorBase {
  readonly kind: 'filter';
  /** `last_action.action` written after acting; undefined for operators that do not record one. */
  readonly action?: Action;
  /** Attempt counter checked against the retry limit and incremented per action. */
  readonly retryField?: AttemptField;
  /** Record `last_action` before acting (power-on: a node may come up before the action returns). */
  readonly presetLastAction?: boolean;
  /** The filters, built per pass (some read options). */
  filters(ctx: PassContext): Filter[];
  /**
   * Act on one batch (the components as selected: read them, never change them) and give the errors
   * specific to some components (nothing: no error). Throwing records the error on every component of
   * the batch it did not leave alone.
   */
  act(ctx: PassContext, batch: readonly Component[], with_: ActHelpers): Promise<ActOutcome | void>;
}

/** What an action may ask of the runner while it acts. */
interface ActHelpers {
  /** Write the base update (error, last_action, attempts) of the components named, at once (power-on's image-tagging failures). */
  update(errors: ReadonlyMap<string, string>): Promise<void>;
  /** Leave these components alone (they changed hands meanwhile): no base update for them, whatever follows. */
  leave(ids: Iterable<string>): void;
}

/** What an action says of its batch. */
interface ActOutcome {
  /** Errors specific to some components, by id. */
  errors?: ReadonlyMap<string, string>;
}

export interface PassOperator extends OperatorBase {
  readonly kind: 'pass';
  pass(ctx: PassContext): Promise<PassCounts | void>;
}

export type OperatorDefinition = FilterOperator | PassOperator;
