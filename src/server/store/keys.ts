import { createHash } from 'node:crypto';

const sha1 = (s: string) => createHash('sha1').update(s, 'utf8').digest('hex');

/** The tenant-aware key upstream uses: sha1hex(tenant or '') + '-' + sha1hex(name). */
export function tenantKey(tenant: string | null | undefined, name: string): string {
  return `${sha1(tenant ?? '')}-${sha1(name)}`;
}

/** Logical Redis databases, as upstream lays them out (docs/store.md, "Layout in Redis"). */
export const REDIS_DB = {
  options: 0,
  components: 1,
  templates: 2,
  sessions: 3,
  bootArtifacts: 4,
  sessionStatus: 5,
} as const;
