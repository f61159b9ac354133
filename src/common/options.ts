import { ACTUAL_STATE_TTL_PATTERN, AGE_PATTERN, parseDuration } from './duration.js';

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

const LOGGING_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

type Rule =
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'string'; pattern?: RegExp; minLength?: number; maxLength?: number; levels?: boolean };

/** Type and range of every option, as the API schema states them. */
export const OPTION_RULES: Record<OptionName, Rule> = {
  bss_read_timeout: { type: 'integer', min: 10, max: 86400 },
  cfs_read_timeout: { type: 'integer', min: 10, max: 86400 },
  cleanup_completed_session_ttl: { type: 'string', pattern: AGE_PATTERN, minLength: 1, maxLength: 8 },
  clear_stage: { type: 'boolean' },
  component_actual_state_ttl: { type: 'string', pattern: ACTUAL_STATE_TTL_PATTERN, minLength: 2, maxLength: 8 },
  default_retry_policy: { type: 'integer', min: 0, max: 1048576 },
  discovery_frequency: { type: 'integer', min: 0, max: 33554432 },
  hsm_read_timeout: { type: 'integer', min: 10, max: 86400 },
  ims_errors_fatal: { type: 'boolean' },
  ims_images_must_exist: { type: 'boolean' },
  ims_read_timeout: { type: 'integer', min: 10, max: 86400 },
  logging_level: { type: 'string', levels: true },
  max_boot_wait_time: { type: 'integer', min: 0, max: 1048576 },
  max_component_batch_size: { type: 'integer', min: 0, max: 131071 },
  max_power_off_wait_time: { type: 'integer', min: 0, max: 1048576 },
  max_power_on_wait_time: { type: 'integer', min: 0, max: 1048576 },
  pcs_read_timeout: { type: 'integer', min: 10, max: 86400 },
  polling_frequency: { type: 'integer', min: 0, max: 1048576 },
  reject_nids: { type: 'boolean' },
  session_limit_required: { type: 'boolean' },
};

export function isOptionName(k: string): k is OptionName {
  return Object.prototype.hasOwnProperty.call(OPTION_DEFAULTS, k);
}

/**
 * Check one option value against its rule. Returns undefined when valid, else a message that names the
 * option, the value and what is expected.
 */
export function checkOption(name: OptionName, value: unknown): string | undefined {
  const rule = OPTION_RULES[name];
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
      if (rule.levels) {
        return (LOGGING_LEVELS as readonly string[]).includes(value.toUpperCase())
          ? undefined
          : `${name}: ${shown} is not one of ${LOGGING_LEVELS.join(', ')}`;
      }
      if (rule.minLength !== undefined && value.length < rule.minLength) return `${name}: ${shown} is too short`;
      if (rule.maxLength !== undefined && value.length > rule.maxLength) return `${name}: ${shown} is too long`;
      if (rule.pattern && !rule.pattern.test(value)) {
        return `${name}: ${shown} does not match ${rule.pattern.source}`;
      }
      // A value the pattern allows must also be a duration the operators can use.
      if (rule.pattern) parseDuration(value);
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
