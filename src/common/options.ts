import { BOS_LOG_LEVELS } from '../log.js';
import { contractSchemas, type SchemaObject } from './contract.js';
import { parseDuration } from './duration.js';

/** The BOS options (docs/data-model.md, "Options") with their defaults. One place; every side reads it. */
export interface Options {
  bss_read_timeout: number;
  cfs_read_timeout: number;
  cleanup_completed_session_ttl: string;
  clear_stage: boolean;
  component_actual_state_ttl: string;
  default_retry_policy: number;
  discovery_frequency: number;
  hsm_read_timeout: number;
  ims_errors_fatal: boolean;
  ims_images_must_exist: boolean;
  ims_read_timeout: number;
  logging_level: string;
  max_boot_wait_time: number;
  max_component_batch_size: number;
  max_power_off_wait_time: number;
  max_power_on_wait_time: number;
  pcs_read_timeout: number;
  polling_frequency: number;
  reject_nids: boolean;
  session_limit_required: boolean;
}

export const OPTION_DEFAULTS: Readonly<Options> = Object.freeze({
  bss_read_timeout: 20,
  cfs_read_timeout: 20,
  cleanup_completed_session_ttl: '7d',
  clear_stage: false,
  component_actual_state_ttl: '4h',
  default_retry_policy: 3,
  discovery_frequency: 300,
  hsm_read_timeout: 20,
  ims_errors_fatal: false,
  ims_images_must_exist: false,
  ims_read_timeout: 20,
  logging_level: 'INFO',
  max_boot_wait_time: 1200,
  max_component_batch_size: 2800,
  max_power_off_wait_time: 300,
  max_power_on_wait_time: 120,
  pcs_read_timeout: 20,
  polling_frequency: 15,
  reject_nids: false,
  session_limit_required: false,
});

export type OptionName = keyof Options;
export const OPTION_NAMES = Object.keys(OPTION_DEFAULTS) as OptionName[];

type Rule =
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'string'; pattern?: RegExp; minLength?: number; maxLength?: number };

let rules: Record<OptionName, Rule> | undefined;

/** Type and range of one option, as the OpenAPI document's V2Options states them. */
export function optionRule(name: OptionName): Rule {
  rules ??= rulesFromContract();
  return rules[name];
}

function rulesFromContract(): Record<OptionName, Rule> {
  const properties = (contractSchemas().V2Options as SchemaObject).properties as Record<string, SchemaObject>;
  const out = {} as Record<OptionName, Rule>;
  for (const name of OPTION_NAMES) {
    const p = properties[name];
    if (!p) throw new Error(`the OpenAPI document's V2Options has no ${name}`);
    if (p.type === 'integer') out[name] = { type: 'integer', min: p.minimum as number, max: p.maximum as number };
    else if (p.type === 'boolean') out[name] = { type: 'boolean' };
    else {
      out[name] = {
        type: 'string',
        ...(typeof p.pattern === 'string' ? { pattern: new RegExp(p.pattern) } : {}),
        ...(typeof p.minLength === 'number' ? { minLength: p.minLength } : {}),
        ...(typeof p.maxLength === 'number' ? { maxLength: p.maxLength } : {}),
      };
    }
  }
  return out;
}

/** The options holding a duration the operators parse. */
const DURATION_OPTIONS: ReadonlySet<OptionName> = new Set(['cleanup_completed_session_ttl', 'component_actual_state_ttl']);

export function isOptionName(k: string): k is OptionName {
  return Object.prototype.hasOwnProperty.call(OPTION_DEFAULTS, k);
}

/**
 * Check one option value against its rule. Returns undefined when valid, else a message that names the
 * option, the value and what is expected.
 */
export function checkOption(name: OptionName, value: unknown): string | undefined {
  const rule = optionRule(name);
  const shown = JSON.stringify(value);
  switch (rule.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${name}: ${shown} is not an integer`;
      if (value < rule.min || value > rule.max) return `${name}: ${shown} is outside ${rule.min}..${rule.max}`;
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${name}: ${shown} is not a boolean`;
    case 'string': {
      if (typeof value !== 'string') return `${name}: ${shown} is not a string`;
      if (name === 'logging_level') {
        return rule.pattern?.test(value) === false ? `${name}: ${shown} is not one of ${BOS_LOG_LEVELS.join(', ')}` : undefined;
      }
      if (rule.minLength !== undefined && value.length < rule.minLength) return `${name}: ${shown} is too short`;
      if (rule.maxLength !== undefined && value.length > rule.maxLength) return `${name}: ${shown} is too long`;
      if (rule.pattern && !rule.pattern.test(value)) {
        return `${name}: ${shown} does not match ${rule.pattern.source}`;
      }
      // A value the pattern allows must also be a duration the operators can use.
      if (DURATION_OPTIONS.has(name)) parseDuration(value);
      return undefined;
    }
  }
}

/**
 * Options as an operator or the server uses them: every known key present, stored values that are
 * invalid replaced by the default. Unknown keys are dropped.
 */
export function resolveOptions(stored: Record<string, unknown> | null | undefined): Options {
  const out: Record<string, unknown> = { ...OPTION_DEFAULTS };
  if (stored && typeof stored === 'object') {
    for (const name of OPTION_NAMES) {
      if (name in stored && checkOption(name, stored[name]) === undefined) out[name] = stored[name];
    }
  }
  return out as unknown as Options;
}
