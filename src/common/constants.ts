import type { ActualState, BootArtifacts, DesiredState, StagedState } from './types.js';

/**
 * Fresh copies of the EMPTY states (docs/data-model.md, "Empty states"); never share one object between
 * records.
 */
export function emptyBootArtifacts(): Required<Omit<BootArtifacts, 'timestamp'>> {
  return { kernel: '', kernel_parameters: '', initrd: '' };
}
export function emptyActualState(): ActualState {
  return { boot_artifacts: emptyBootArtifacts(), bss_token: '' };
}
export function emptyDesiredState(): DesiredState {
  return { configuration: '', boot_artifacts: emptyBootArtifacts(), bss_token: '' };
}
export function emptyStagedState(): StagedState {
  return { configuration: '', boot_artifacts: emptyBootArtifacts() };
}

/** The request header that names the caller's tenant (docs/api.md, "Tenancy"). */
export const TENANT_HEADER = 'Cray-Tenant-Name';

/**
 * Asked for in `Accept` on a bulk component write, the answer is the ids written, a JSON array of
 * strings, not their records (docs/api.md, "Ids of the records written").
 */
export const IDS_MEDIA_TYPE = 'application/vnd.bos.ids+json';

/** Name pattern shared by sessions, session templates and boot sets. */
export const NAME_PATTERN = /^[a-zA-Z0-9](?:[-._a-zA-Z0-9]{0,125}[a-zA-Z0-9])?$/;

/** The error text written when a component reaches its retry limit with no specific error. */
export const RETRY_LIMIT_ERROR =
  'The retry limit has been hit for this component, but no services have reported specific errors';

/** API version served (major/minor/patch are strings on the wire). */
export const API_VERSION = { major: '2', minor: '50', patch: '0' } as const;
