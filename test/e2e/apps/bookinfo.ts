/**
 * Bookinfo-like services (the seed's Istio sample, much reduced), one script for the four:
 * productpage calls details and reviews, reviews calls ratings, each through its sidecar's
 * local upstream listener (the `*_URL` variables), never directly.
 *
 *     SERVICE=productpage PORT=9080 DETAILS_URL=http://127.0.0.1:9081 \
 *       REVIEWS_URL=http://127.0.0.1:9082 node test/dist/e2e/apps/bookinfo.js
 *     SERVICE=reviews PORT=9083 RATINGS_URL=http://127.0.0.1:9084 STAR_COLOR=black …
 *     SERVICE=details PORT=9085 …      SERVICE=ratings PORT=9086 …
 *
 * - productpage: `GET /productpage` (and `/`) → 200, an HTML page with the book, its details
 *   (or `Error fetching product details!`) and its reviews (or `Error fetching product
 *   reviews!`); a review whose rating could not be fetched says `Ratings service currently
 *   unavailable`. The page itself never fails, as the seed shows.
 * - details: `GET /details/<id>` → the book's details (JSON).
 * - reviews: `GET /reviews/<id>` → reviews with their ratings (JSON); `POST /reviews/<id>` →
 *   201 (adds a review), so that a 403 on a POST is the mesh's, not the app's.
 * - ratings: `GET /ratings/<id>` → stars per reviewer (JSON).
 * details and reviews report the caller the mesh authenticated (`servedTo`, the URI of the
 * `x-forwarded-client-cert` header their sidecar sets).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { envPort, fetchText, listenOn, log } from './common.js';

const SERVICES = ['productpage', 'details', 'reviews', 'ratings'] as const;
type Service = (typeof SERVICES)[number];

const service = process.env['SERVICE'] as Service;
if (!SERVICES.includes(service)) {
  process.stderr.write(`SERVICE must be one of ${SERVICES.join(', ')}\n`);
  process.exit(2);
}
const port = envPort('PORT');
const starColor = process.env['STAR_COLOR'] ?? 'black';
const UPSTREAM_TIMEOUT_MS = 5000;

const PRODUCT = { id: 0, title: 'The Comedy of Errors' };
const DETAILS = {
  id: 0,
  author: 'William Shakespeare',
  year: 1595,
  type: 'paperback',
  pages: 200,
  publisher: 'PublisherA',
  language: 'English',
  'ISBN-10': '1234567890',
};
const REVIEWS = [
  {
    reviewer: 'Reviewer1',
    text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
  },
];
const RATINGS: Record<string, number> = { Reviewer1: 5, Reviewer2: 4 };

/** The URI part of x-forwarded-client-cert: the caller's SPIFFE ID, as the sidecar saw it. */
function servedTo(req: IncomingMessage): string | null {
  const xfcc = req.headers['x-forwarded-client-cert'];
  const m = typeof xfcc === 'string' ? /(?:^|;)URI=([^;,]+)/.exec(xfcc) : null;
  return m?.[1] ?? null;
}

function upstream(name: string): string | undefined {
  const v = process.env[`${name.toUpperCase()}_URL`];
  return v === undefined || v === '' ? undefined : v.replace(/\/+$/, '');
}

async function callUpstream(name: string, path: string): Promise<unknown> {
  const base = upstream(name);
  if (base === undefined) throw new Error(`${name} is not configured`);
  const r = await fetchText(base + path, {}, UPSTREAM_TIMEOUT_MS);
  if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.body.trim()}`);
  return JSON.parse(r.body) as unknown;
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c,
  );
}

interface Review {
  reviewer: string;
  text: string;
  rating: { stars: number; color: string } | { error: string };
}

async function productpage(): Promise<string> {
  const [details, reviews] = await Promise.allSettled([
    callUpstream('details', `/details/${PRODUCT.id}`),
    callUpstream('reviews', `/reviews/${PRODUCT.id}`),
  ]);
  const parts = [`<h1>${PRODUCT.title}</h1>`];
  if (details.status === 'fulfilled') {
    const d = details.value as typeof DETAILS;
    parts.push(
      `<div id="details"><h2>Book Details</h2>Type: ${d.type}, Pages: ${d.pages}, ` +
        `Publisher: ${d.publisher}, Language: ${d.language}, ISBN-10: ${d['ISBN-10']}</div>`,
    );
  } else {
    log(`details: ${(details.reason as Error).message}`);
    parts.push('<div id="details"><h2>Error fetching product details!</h2></div>');
  }
  if (reviews.status === 'fulfilled') {
    const list = (reviews.value as { reviews: Review[] }).reviews;
    const rows = list.map((r) => {
      const rating =
        'error' in r.rating
          ? r.rating.error
          : `<span class="${r.rating.color}">${'★'.repeat(r.rating.stars)}${'☆'.repeat(5 - r.rating.stars)}</span> (${r.rating.color} stars)`;
      return `<p>${escapeHtml(r.text)} — ${r.reviewer} ${rating}</p>`;
    });
    parts.push(`<div id="reviews"><h2>Book Reviews</h2>${rows.join('')}</div>`);
  } else {
    log(`reviews: ${(reviews.reason as Error).message}`);
    parts.push('<div id="reviews"><h2>Error fetching product reviews!</h2></div>');
  }
  return `<!doctype html><html><head><title>Simple Bookstore App</title></head><body>${parts.join('\n')}</body></html>\n`;
}

async function reviews(req: IncomingMessage): Promise<unknown> {
  let ratings: Record<string, number> | null = null;
  try {
    ratings = (
      (await callUpstream('ratings', `/ratings/${PRODUCT.id}`)) as {
        ratings: Record<string, number>;
      }
    ).ratings;
  } catch (e) {
    log(`ratings: ${(e as Error).message}`);
  }
  return {
    id: PRODUCT.id,
    servedTo: servedTo(req),
    reviews: REVIEWS.map((r): Review => ({
      ...r,
      rating:
        ratings?.[r.reviewer] !== undefined
          ? { stars: ratings[r.reviewer] ?? 0, color: starColor }
          : { error: 'Ratings service currently unavailable' },
    })),
  };
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', `http://${service}`);
  const send = (status: number, body: string, type: string): void => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
    log(`${req.method} ${url.pathname} → ${status}`);
  };
  const json = (status: number, v: unknown): void =>
    send(status, JSON.stringify(v) + '\n', 'application/json');
  // Drain request bodies (POST /reviews) before answering.
  req.resume();
  void (async () => {
    const path = url.pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (service === 'productpage' && get && (path === '/' || path === '/productpage')) {
      return send(200, await productpage(), 'text/html; charset=utf-8');
    }
    if (service === 'details' && get && path === `/details/${PRODUCT.id}`) {
      return json(200, { ...DETAILS, servedTo: servedTo(req) });
    }
    if (service === 'reviews' && path === `/reviews/${PRODUCT.id}`) {
      if (get) return json(200, await reviews(req));
      if (req.method === 'POST') return json(201, { saved: true, servedTo: servedTo(req) });
    }
    if (service === 'ratings' && get && path === `/ratings/${PRODUCT.id}`) {
      return json(200, { id: PRODUCT.id, ratings: RATINGS });
    }
    return json(404, { error: 'not found' });
  })().catch((e: unknown) => send(500, `${(e as Error).message}\n`, 'text/plain'));
});

await listenOn(server, port);
log(`${service}: listening on 127.0.0.1:${port}`);
