/**
 * power-on: enabled components waiting to power on (docs/operators.md, "power-on"). Before anything
 * visible the runner records `last_action = powering_on`; then, per distinct (kernel, kernel
 * parameters, initrd): tag the IMS image for SBPS, set BSS boot parameters and keep the boot-artifact
 * record of the referral token, write the token to BOS; then hand desired configurations to CFS
 * (disabled, state cleared) and ask PCS to power everything on.
 */
import { timestamp } from '../common/clock.js';
import type { Component, ComponentPatch } from '../common/types.js';
import { setCfsDesiredConfig } from './cfs.js';
import { errorService, errorText, wrapError } from './errors.js';
import { bosQuery, hsmState } from './filters.js';
import { imsIdFromKernel } from './rules.js';
import { patchComponents } from './runner.js';
import type { FilterOperator, PassContext } from './types.js';

/** Attempts to store a boot-artifact record before the batch fails (the first plus 5 retries). */
const BOOT_ARTIFACT_RECORD_ATTEMPTS = 6;

interface BootArtifactGroup {
  kernel: string;
  kernelParameters: string;
  initrd: string;
  components: Component[];
}

/** A component's desired (kernel, kernel parameters, initrd), '' for each one missing. */
function desiredArtifacts(c: Component): [kernel: string, kernelParameters: string, initrd: string] {
  const ba = c.desired_state?.boot_artifacts;
  return [ba?.kernel ?? '', ba?.kernel_parameters ?? '', ba?.initrd ?? ''];
}

/**
 * Components grouped by desired (kernel, kernel parameters, initrd), in the order each group first
 * appears; all-empty ones are left out. Looked up by each string in turn rather than by one key made
 * of all three: a batch of thousands has a handful of groups, and its kernel parameters are long.
 */
function groupByBootArtifacts(components: readonly Component[]): BootArtifactGroup[] {
  const groups: BootArtifactGroup[] = [];
  const byKernel = new Map<string, Map<string, Map<string, BootArtifactGroup>>>();
  for (const c of components) {
    const [kernel, kernelParameters, initrd] = desiredArtifacts(c);
    if (!kernel && !kernelParameters && !initrd) continue;
    let byParameters = byKernel.get(kernel);
    if (!byParameters) byKernel.set(kernel, (byParameters = new Map()));
    let byInitrd = byParameters.get(kernelParameters);
    if (!byInitrd) byParameters.set(kernelParameters, (byInitrd = new Map()));
    let g = byInitrd.get(initrd);
    if (!g) {
      byInitrd.set(initrd, (g = { kernel, kernelParameters, initrd, components: [] }));
      groups.push(g);
    }
    g.components.push(c);
  }
  return groups;
}

/**
 * Tag the IMS image of every SBPS group (`sbps-project=true`). A component whose image cannot be
 * named or tagged gets the error at once (base update) and keeps going through BSS, CFS and PCS.
 */
async function tagImages(ctx: PassContext, groups: BootArtifactGroup[], update: (errors: ReadonlyMap<string, string>) => Promise<void>): Promise<Map<string, string>> {
  const errors = new Map<string, string>();
  const sbps = groups.filter((g) => g.kernelParameters.includes('root=sbps-s3'));
  if (sbps.length === 0) return errors;
  try {
    const byImage = new Map<string, Component[]>();
    for (const g of sbps) {
      const r = imsIdFromKernel(g.kernel);
      if ('error' in r) {
        for (const c of g.components) errors.set(c.id, r.error);
        continue;
      }
      const list = byImage.get(r.id) ?? [];
      list.push(...g.components);
      byImage.set(r.id, list);
    }
    for (const [id, components] of byImage) {
      try {
        await ctx.services.ims.tagImage(id, 'sbps-project', 'true', 'set');
      } catch (err) {
        const text = errorText(err);
        ctx.log.error({ image: id, count: components.length, err: text }, `could not tag IMS image ${id}: ${text}`);
        ctx.metrics.componentErrors.inc({ operator: ctx.name, service: errorService(err) }, components.length);
        for (const c of components) errors.set(c.id, text);
      }
    }
    if (errors.size > 0) await update(errors);
    return errors;
  } catch (err) {
    throw wrapError('Error encountered tagging images ', err, '.');
  }
}

/**
 * BSS boot parameters per group; the referral token's boot-artifact record is stored (retried).
 * Returns the token patches for the components' desired states, and the BSS error of each component
 * of a group BSS refused (its nodes keep going: they are still powered on).
 */
async function setBss(ctx: PassContext, groups: BootArtifactGroup[]): Promise<{ tokenPatches: ComponentPatch[]; errors: Map<string, string> }> {
  const tokenPatches: ComponentPatch[] = [];
  const errors = new Map<string, string>();
  for (const g of groups) {
    const ids = g.components.map((c) => c.id);
    let token: string;
    try {
      token = await ctx.services.bss.setBootParameters(ids, g.kernelParameters, g.kernel, g.initrd);
    } catch (err) {
      const text = wrapError('Error encountered setting BSS information: ', err).message;
      ctx.log.error({ count: ids.length, kernel: g.kernel, err: text }, text);
      ctx.metrics.componentErrors.inc({ operator: ctx.name, service: errorService(err) }, ids.length);
      for (const c of g.components) errors.set(c.id, text);
      continue;
    }
    const record = { kernel: g.kernel, kernel_parameters: g.kernelParameters, initrd: g.initrd, timestamp: timestamp(ctx.clock) };
    let stored = false;
    let lastErr: unknown;
    for (let attempt = 0; attempt < BOOT_ARTIFACT_RECORD_ATTEMPTS && !stored; attempt++) {
      try {
        await ctx.services.bootArtifacts.put(token, record);
        stored = true;
      } catch (err) {
        lastErr = err;
        ctx.log.warn({ attempt: attempt + 1, err: errorText(err) }, 'could not store the boot-artifact record; retrying');
      }
    }
    if (!stored) throw wrapError('Error encountered setting BSS information: ', lastErr);
    for (const c of g.components) tokenPatches.push({ id: c.id, session: c.session ?? '', desired_state: { bss_token: token } });
  }
  return { tokenPatches, errors };
}

function sameDesiredArtifacts(a: Component, b: Component): boolean {
  const [x, y] = [desiredArtifacts(a), desiredArtifacts(b)];
  return x[0] === y[0] && x[1] === y[1] && x[2] === y[2];
}

/**
 * Ids of batch components that changed hands while IMS and BSS were being set up: another session
 * took them over (session or desired boot artifacts differ from what this pass read), or they were
 * disabled or deleted. Writing this pass's token and session over them would hand them back to the
 * old session, and powering them on would boot the old image. If BOS cannot be read, none.
 */
async function changedSinceRead(ctx: PassContext, batch: readonly Component[]): Promise<Set<string>> {
  let fresh: Component[];
  try {
    fresh = await reread(ctx, batch);
  } catch (err) {
    ctx.log.warn({ err: errorText(err) }, 'could not re-read the components before powering them on; going ahead');
    return new Set();
  }
  const byId = new Map(fresh.map((c) => [c.id, c]));
  const changed = new Set<string>();
  for (const c of batch) {
    const now = byId.get(c.id);
    if (!now || now.enabled !== true || (now.session ?? '') !== (c.session ?? '') || !sameDesiredArtifacts(now, c)) changed.add(c.id);
  }
  return changed;
}

/** Components of one session in a batch at least this many are re-read as a stretch of the session's listing. */
const STRETCH_MIN = 64;

/**
 * The batch's components as BOS has them now. A GET by ids names about nine of them (the API's
 * `ids` parameter is one component id long, docs/services.md), so 2,800 components would take
 * 300 requests. The components of one session are read instead as the stretch of that session's
 * enabled components that follows the first of them (the batch is in the API's id order), at most
 * the batch and one page more; what that stretch does not show (the first component, any that
 * changed hands, any beyond the stretch) is read by id, as before.
 */
async function reread(ctx: PassContext, batch: readonly Component[]): Promise<Component[]> {
  const bos = ctx.services.bos;
  const bySession = new Map<string, Component[]>();
  for (const c of batch) {
    const list = bySession.get(c.session ?? '');
    if (list) list.push(c);
    else bySession.set(c.session ?? '', [c]);
  }
  const fresh: Component[] = [];
  const unconfirmed: string[] = [];
  for (const [session, members] of bySession) {
    if (session === '' || members.length < STRETCH_MIN || !bos.listComponentPages) {
      for (const c of members) unconfirmed.push(c.id);
      continue;
    }
    const wanted = new Set(members.map((c) => c.id));
    wanted.delete(members[0]!.id);
    const bound = members.length + ctx.batchSize;
    let read = 0;
    for await (const page of bos.listComponentPages({ session, enabled: true }, ctx.batchSize, { startAfter: members[0]!.id, view: 'desired' })) {
      for (const c of page) {
        if (wanted.delete(c.id)) fresh.push(c);
      }
      read += page.length;
      if (wanted.size === 0 || read >= bound) break;
    }
    unconfirmed.push(members[0]!.id, ...wanted);
  }
  if (unconfirmed.length > 0) fresh.push(...(await bos.listComponents({ ids: unconfirmed.join(',') }, ctx.batchSize, { view: 'desired' })));
  return fresh;
}

export const powerOn: FilterOperator = {
  kind: 'filter',
  name: 'power-on',
  action: 'powering_on',
  retryField: 'power_on_attempts',
  presetLastAction: true,
  // Power-on reads desired states only: desired views, where the API makes them, are half the bytes.
  filters: () => [bosQuery({ enabled: true, status: 'power_on_pending' }, 'desired'), hsmState()],
  async act(ctx, selected, { update, leave }) {
    const groups = groupByBootArtifacts(selected);
    // A BSS error of a component's group replaces the error of its image's tagging.
    const errors = await tagImages(ctx, groups, update);
    const bss = await setBss(ctx, groups);
    for (const [id, text] of bss.errors) errors.set(id, text);
    const changed = await changedSinceRead(ctx, selected);
    if (changed.size > 0) {
      ctx.log.info({ count: changed.size, ids: [...changed].slice(0, 20) }, `${changed.size} component(s) changed hands during power-on; left to their new owner`);
      leave(changed);
    }
    const batch = selected.filter((c) => !changed.has(c.id));
    const outcome = { errors };
    await patchComponents(ctx.services, bss.tokenPatches.filter((p) => !changed.has(p.id!)));
    if (batch.length === 0) return outcome;
    try {
      await setCfsDesiredConfig(ctx, batch, { enabled: false, clearState: true });
    } catch (err) {
      throw wrapError('Error encountered setting CFS information: ', err);
    }
    try {
      await ctx.services.pcs.transition('On', batch.map((c) => c.id));
    } catch (err) {
      throw wrapError('Error encountered calling CAPMC to power on: ', err);
    }
    return outcome;
  },
};
