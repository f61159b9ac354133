/**
 * The web view's static files (docs/ui.md), served at `<prefix>/ui/` when the API is started with
 * the view on: the page, its script and its style sheet, bundled from src/ui/ by
 * scripts/build-ui.mjs. A fixed list of files read from the build's folder on each request (so a
 * rebuild shows without a restart); nothing else under /ui/ is served. They hold no data and need no
 * token: the page reads the API with the caller's own credentials.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where scripts/build-ui.mjs writes the bundle (src/ui/public, or dist/src/ui/public when built). */
const UI_BUILD_DIR = fileURLToPath(new URL('../ui/public/', import.meta.url));

const FILES: Record<string, string> = {
  '': 'index.html',
  'app.js': 'app.js',
  'style.css': 'style.css',
};

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** Only the page's own script, style sheet and API calls; no inline code, no framing. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>BOS web view not built</title>' +
  '<p>The web view has not been built in this copy of BOS: run <code>npm run build:ui</code> ' +
  '(<code>npm ci</code>, <code>npm start</code> and <code>npm run build</code> do it too), then reload.</p>\n';

async function send(reply: FastifyReply, dir: string, file: string, ifNoneMatch: string | undefined): Promise<FastifyReply> {
  let body: Buffer;
  try {
    body = await readFile(join(dir, file));
  } catch {
    return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
  }
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  reply
    .header('etag', etag)
    // Revalidated on every load: a rebuilt bundle shows at once.
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', CSP);
  if (ifNoneMatch === etag) return reply.code(304).send();
  return reply.type(TYPES[file.slice(file.lastIndexOf('.') + 1)]!).send(body);
}

/** Serve the view under each prefix: `<prefix>/ui/` (and a redirect from `<prefix>/ui`). */
export function uiRoutes(app: FastifyInstance, prefixes: readonly string[], dir = UI_BUILD_DIR): void {
  for (const prefix of prefixes) {
    // Relative, so it also holds behind a proxy that serves the API under another path.
    app.get(`${prefix}/ui`, (_req, reply) => reply.redirect('ui/', 301));
    for (const [path, file] of Object.entries(FILES)) {
      app.get(`${prefix}/ui/${path}`, (req, reply) => send(reply, dir, file, req.headers['if-none-match']));
    }
  }
}
