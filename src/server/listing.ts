/**
 * Component listings as the API sends them: each stored record's output JSON and status view JSON,
 * kept per record object, and the entity tags of listings (an extension, docs/store.md). Kept per
 * process and per record object, which a store never changes in place: another process's write gives
 * a new object, so nothing here can be older than what the store gives.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { shownStatus } from '../common/status.js';
import { DESIRED_VIEW_LEAVES_OUT, DESIRED_VIEW_MEDIA_TYPE, STATUS_VIEW_MEDIA_TYPE, statusViewShowing, type ListingView } from '../common/status-view.js';
import type { Component } from '../common/types.js';
import { accepts, sendJsonItems } from './context.js';
import { outputPieces } from './record-json.js';

/**
 * What the listings know of each record object listShared() gives: its output JSON and its revision
 * number. Sound because a store never changes such a record in place: a changed value is a new
 * object, so a new key here (and the old entry is collected with the old object). Repeated full
 * listings (operators poll them) then cost little more than fetching the values and joining their
 * texts. Kept as strings, not buffers: a buffer per record is an ArrayBuffer per record, whose
 * allocation and collection cost more than encoding the text once per answer. The strings are the
 * pieces outputPieces() gives: the record's small fields around the remembered texts of its states,
 * which a changed record shares with the one it replaced (record-json.ts).
 *
 * Entity tags of component listings (an extension: upstream sends none) come from the revision
 * numbers. A listing's tag names the exact record objects it shows, in order: each record object
 * gets a revision number when first seen (a changed record is a new object, so a new revision), and
 * the tag is a digest of those numbers and this process's own random prefix (another API process
 * numbers its records on its own, so its tags never match ours). Equal tags therefore mean equal
 * answers, and a GET with `If-None-Match` naming the tag is answered 304 Not Modified, with no body
 * to send or parse: an operator re-reading a page before it writes decisions made from it (the
 * status operator) learns in one small answer that nothing on the page changed.
 */
interface Shown {
  rec: Component;
  revision: number;
  json?: string[];
  /** The status view's JSON (status-view.ts), for listings that ask for it. */
  view?: string[];
}
const shown = new WeakMap<Component, Shown>();
let lastRevision = 0;
const TAG_PREFIX = randomBytes(6).toString('base64url');

function shownOf(c: Component): Shown {
  let s = shown.get(c);
  if (s === undefined) shown.set(c, (s = { rec: c, revision: ++lastRevision }));
  return s;
}

function outputJson(s: Shown): string[] {
  return (s.json ??= outputPieces(s.rec));
}

/** The status view's JSON: `JSON.stringify(statusView(outputView(rec)))`, with one copy of the record instead of two. */
function statusViewJson(s: Shown): string[] {
  return (s.view ??= [JSON.stringify(statusViewShowing(s.rec, shownStatus(s.rec)))]);
}

/**
 * A desired view's JSON: the output JSON without the actual and staged states. Not kept: only
 * power-on asks for them, about twice per record and boot, and the pieces are mostly the record's
 * remembered texts.
 */
function desiredViewJson(s: Shown): string[] {
  return outputPieces(s.rec, DESIRED_VIEW_LEAVES_OUT);
}

/** The tag of a listing of these records; a listing of their status or desired views has another one. */
function listingTag(records: readonly Shown[], view: ListingView | undefined): string {
  const numbers = new Float64Array(records.length);
  for (let i = 0; i < records.length; i++) numbers[i] = records[i]!.revision;
  const kind = view === 'status' ? '.sv' : view === 'desired' ? '.dv' : '';
  return `"${TAG_PREFIX}${kind}.${records.length}.${createHash('sha1').update(numbers).digest('base64url')}"`;
}

/** Whether an If-None-Match header (a list of tags, or `*`) names `tag`; weak tags compare equal to strong ones. */
function noneMatchHas(header: string | string[] | undefined, tag: string): boolean {
  if (header === undefined) return false;
  const list = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim().replace(/^W\//, ''));
  return list.includes('*') || list.includes(tag);
}

/** A listing: 304 when the client already holds it (If-None-Match), else the records' cached JSON; with its tag either way. */
export function sendListing(req: FastifyRequest, reply: FastifyReply, recs: readonly Component[]): FastifyReply {
  const records = recs.map(shownOf);
  // Full records unless a view is asked for (a status view first).
  const view: ListingView | undefined = accepts(req, STATUS_VIEW_MEDIA_TYPE) ? 'status' : accepts(req, DESIRED_VIEW_MEDIA_TYPE) ? 'desired' : undefined;
  const tag = listingTag(records, view);
  reply.header('etag', tag);
  reply.header('vary', 'Accept');
  if (noneMatchHas(req.headers['if-none-match'], tag)) return reply.code(304).send();
  if (view === 'status') return sendJsonItems(reply, 200, records, statusViewJson, STATUS_VIEW_MEDIA_TYPE);
  if (view === 'desired') return sendJsonItems(reply, 200, records, desiredViewJson, DESIRED_VIEW_MEDIA_TYPE);
  return sendJsonItems(reply, 200, records, outputJson);
}

