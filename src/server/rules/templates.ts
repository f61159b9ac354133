/**
 * Session template rules (docs/api.md, "Session templates"; docs/data-model.md, "Session template"):
 * sanitising a template body before it is stored, the PATCH merge, the hardware-specifier and NID
 * checks, xname canonicalisation.
 */
import type { BootSet, SessionTemplate } from '../../common/types.js';
import { check } from '../schema.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The hardware-specifier fields, in the order upstream's frozenset repr shows them. */
const HARDWARE_SPECIFIER_FIELDS = ['node_list', 'node_roles_groups', 'node_groups'] as const;
const FIELD_SET_REPR = `frozenset({${HARDWARE_SPECIFIER_FIELDS.map((f) => `'${f}'`).join(', ')}})`;

/** The hardware-specifier rule: undefined when the boot set names nodes, else the error text. */
export function hardwareSpecifierError(bs: Obj): string | undefined {
  const present = HARDWARE_SPECIFIER_FIELDS.filter((f) => f in bs);
  if (present.length === 0) return `No hardware specifier fields (${FIELD_SET_REPR})`;
  const nonEmpty = present.filter((f) => {
    const v = bs[f];
    return Array.isArray(v) ? v.length > 0 : !!v;
  });
  if (nonEmpty.length === 0) return `No non-empty hardware specifier fields (${FIELD_SET_REPR})`;
  return undefined;
}

/** True when a node list entry looks like a NID. */
export function hasNid(bs: Obj): boolean {
  const list = bs.node_list;
  return Array.isArray(list) && list.some((n) => typeof n === 'string' && n.startsWith('nid'));
}

/** Canonical xname: lower case, leading zeros dropped from the numbers of `x#c#s#b#n#`. */
export function canonicalXname(xname: string): string {
  return xname.toLowerCase().replace(/x0*(\d+)c0*(\d+)s0*(\d+)b0*(\d+)n0*(\d+)/g, 'x$1c$2s$3b$4n$5');
}

/** Remove a `cfs` object that is empty or has an empty/absent configuration. */
function dropEmptyCfs(o: Obj): void {
  if (!('cfs' in o)) return;
  const cfs = o.cfs;
  if (!isObj(cfs) || !cfs.configuration) delete o.cfs;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

export interface SanitizeContext {
  name: string;
  /** Header tenant or '' for none. */
  tenant: string;
  rejectNids: boolean;
  /**
   * IMS image check of one boot set: undefined when fine (or only a warning), else the error text
   * already prefixed with its error kind (`BootSetArchMismatch: ...`).
   */
  imsError?: (bs: BootSet) => Promise<string | undefined>;
  warn?: (msg: string) => void;
}

/**
 * Sanitise a template body (already schema-validated) into the record to store
 * (docs/api.md, "Writing a template", steps 1–3). Works on a copy; throws TemplateError with the
 * reason on failure.
 */
export async function sanitizeTemplate(body: Obj, ctx: SanitizeContext): Promise<SessionTemplate> {
  const t = structuredClone(body) as Obj;
  if (!('boot_sets' in t)) throw new TemplateError("Missing required 'boot_sets' field");
  const bootSets = t.boot_sets;
  if (!isObj(bootSets)) throw new TemplateError("'boot_sets' field has invalid type");
  if (Object.keys(bootSets).length === 0) throw new TemplateError('Session templates must contain at least one boot set');
  for (const [key, bsValue] of Object.entries(bootSets)) {
    if (!isObj(bsValue)) throw new TemplateError(`Boot set ${key}: invalid type`);
    const bs = bsValue;
    if (!('name' in bs)) bs.name = key;
    else if (bs.name !== key) {
      throw new TemplateError(`boot_sets key (${key}) does not match 'name' field of corresponding boot set (${String(bs.name)})`);
    }
    if (!('arch' in bs)) bs.arch = 'X86';
    dropEmptyCfs(bs);
    if (ctx.imsError) {
      const err = await ctx.imsError(bs as unknown as BootSet);
      if (err) throw new TemplateError(err);
    }
    const hw = hardwareSpecifierError(bs);
    if (hw) throw new TemplateError(`Boot set ${key}: ${hw}`);
    if (hasNid(bs)) {
      if (ctx.rejectNids) throw new TemplateError(`Boot set ${key}: Has NID in 'node_list'`);
      ctx.warn?.(`Boot set ${key}: Has NID in 'node_list'`);
    }
    if (Array.isArray(bs.node_list)) bs.node_list = bs.node_list.map((n) => (typeof n === 'string' ? canonicalXname(n) : n));
  }
  t.name = ctx.name;
  dropEmptyCfs(t);
  const invalid = check('V2SessionTemplate', t, 'plain');
  if (invalid) throw new TemplateError(invalid);
  for (const bs of Object.values(bootSets)) delete (bs as Obj).name;
  t.tenant = ctx.tenant || null;
  return t as unknown as SessionTemplate;
}

/**
 * Merge a PATCH body into a stored template (docs/api.md, "Patching a template"): `cfs` shallow-merged,
 * boot sets merged per name (each shallow-merged, its `cfs` shallow-merged; new names added; none
 * removed), other fields replaced. Returns a new object.
 */
export function mergeTemplate(stored: SessionTemplate, patch: Obj): Obj {
  const out = structuredClone(stored) as unknown as Obj;
  for (const [key, value] of Object.entries(structuredClone(patch))) {
    if (key === 'cfs' && isObj(value) && isObj(out.cfs)) {
      Object.assign(out.cfs, value);
    } else if (key === 'boot_sets' && isObj(value) && isObj(out.boot_sets)) {
      const target = out.boot_sets;
      for (const [name, bs] of Object.entries(value)) {
        const existing = target[name];
        if (isObj(existing) && isObj(bs)) {
          for (const [k, v] of Object.entries(bs)) {
            if (k === 'cfs' && isObj(v) && isObj(existing.cfs)) Object.assign(existing.cfs, v);
            else existing[k] = v;
          }
        } else {
          target[name] = bs;
        }
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The fixed example of GET /v2/sessiontemplatetemplate (docs/api.md, "Example template"). */
export function exampleTemplate(): Obj {
  return {
    boot_sets: {
      name_your_boot_set: {
        type: 's3',
        etag: 'boot-image-s3-etag',
        kernel_parameters: 'your-kernel-parameters',
        cfs: { configuration: 'bootset-specific-cfs-override' },
        node_list: ['xname1', 'xname2', 'xname3'],
        path: 's3://boot-images/boot-image-ims-id/manifest.json',
        rootfs_provider: 'sbps',
        rootfs_provider_passthrough: 'sbps:v1:iqn.2023-06.csm.iscsi:_sbps-hsn._tcp.my-system.my-site-domain:300',
      },
    },
    cfs: { configuration: 'default-sessiontemplate-cfs-config' },
    enable_cfs: true,
  };
}
