/**
 * A proxy that makes this project's BOS API look like upstream's to a client: it refuses what
 * upstream refuses before its handlers run (every query parameter checked against its schema in the
 * OpenAPI document: upstream's `ids` is one component id, at most 127 characters; this project's API
 * accepts longer lists), and it hides the extensions upstream lacks (entity tags and conditional
 * GETs, status views, `Prefer: return=minimal`), so the client takes its upstream paths. It records
 * every request it refused and every 4xx the API answered.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { load as loadYaml } from 'js-yaml';
import { rewriteRefs } from './api.js';

type Obj = Record<string, any>;

const doc = loadYaml(readFileSync(new URL('../../src/server/bos-v2-openapi.yaml', import.meta.url), 'utf8')) as Obj;
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'openapi', components: doc.components });


interface Param {
  name: string;
  validate: ValidateFunction;
  type: string;
}

/** Query parameters of each path template and method. */
const routes = Object.entries(doc.paths as Obj).map(([template, ops]) => {
  const regex = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$');
  const byMethod = new Map<string, Param[]>();
  for (const [method, op] of Object.entries(ops as Obj)) {
    if (typeof op !== 'object' || !op || !Array.isArray((op as Obj).parameters)) continue;
    const params = ((op as Obj).parameters as Obj[])
      .map((p) => (p.$ref ? (doc.components.parameters as Obj)[String(p.$ref).split('/').pop()!] : p))
      .filter((p: Obj) => p.in === 'query')
      .map((p: Obj) => ({ name: p.name as string, validate: ajv.compile(rewriteRefs(p.schema) as object), type: String(p.schema?.type ?? '') }));
    byMethod.set(method.toUpperCase(), params);
  }
  return { template, regex, byMethod };
});

/** Why upstream's framework would refuse this request's query, or undefined. */
export function queryViolation(method: string, pathAndQuery: string): string | undefined {
  const u = new URL(pathAndQuery, 'http://x');
  const path = u.pathname.replace(/^\/apis\/bos(?=\/)/, '');
  const route = routes.find((r) => r.regex.test(path));
  const params = route?.byMethod.get(method.toUpperCase());
  if (!params) return undefined;
  for (const p of params) {
    for (const raw of u.searchParams.getAll(p.name)) {
      const value = p.type === 'integer' ? Number(raw) : p.type === 'boolean' ? raw.toLowerCase() === 'true' : raw;
      if (!p.validate(value)) return `${method} ${path}: query ${p.name}=${raw.length > 60 ? `${raw.slice(0, 60)}… (${raw.length} characters)` : raw}: ${ajv.errorsText(p.validate.errors)}`;
    }
  }
  return undefined;
}

export interface LimitsProxy {
  /** The proxy's base, to use in place of the API's (`<url>/v2/...`). */
  url: string;
  /** Requests refused for breaking a limit. */
  refused: string[];
  /** 4xx answers of the API (method, path, status). */
  clientErrors: string[];
  close(): Promise<void>;
}

/** Start a proxy to the API at `target` (`http://host:port`, the API answering `/v2/...` there). */
export async function startLimitsProxy(target: string): Promise<LimitsProxy> {
  const refused: string[] = [];
  const clientErrors: string[] = [];
  const to = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const violation = queryViolation(req.method ?? 'GET', req.url ?? '/');
    if (violation) {
      refused.push(violation);
      res.writeHead(400, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Bad Request', status: 400, detail: violation }));
      req.resume();
      return;
    }
    const { prefer: _prefer, 'if-none-match': _tag, accept: _accept, ...headers } = req.headers;
    const up = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...headers, accept: 'application/json', host: to.host }, agent },
      (answer) => {
        const status = answer.statusCode ?? 0;
        if (status >= 400 && status < 500) clientErrors.push(`${req.method} ${(req.url ?? '').split('?')[0]} → ${status}`);
        const { etag: _etag, vary: _vary, ...answerHeaders } = answer.headers;
        res.writeHead(status, answerHeaders);
        answer.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    refused,
    clientErrors,
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
