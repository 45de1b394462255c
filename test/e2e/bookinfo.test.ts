/**
 * The bookinfo seed's "Access Control" section end to end ("HashiCorp Consul Service Mesh on
 * Kubernetes Series - Part 4 - Security"), all real processes: a dev agent with
 * `acl.default_policy` deny in its config file, productpage → details, productpage →
 * reviews, reviews → ratings (test/e2e/apps/bookinfo.ts), each with a `trellis connect
 * proxy` sidecar, every service HTTP (service-defaults Protocol http).
 *
 * The page is fetched from productpage itself (in the seed the API gateway may reach it); it
 * always loads, and shows what productpage and reviews could fetch through the mesh:
 * 1. the original intentions (L4 allows): the whole page;
 * 2. those deleted and the deny-all intention (`*` → `*` deny) written: "Error fetching
 *    product details!" and "Error fetching product reviews!";
 * 3. details-viewer (productpage → details, GET): details;
 * 4. reviews-viewer (productpage → reviews, GET): reviews, "Ratings service currently
 *    unavailable";
 * 5. ratings-viewer (reviews → ratings, GET): the stars;
 * then a POST from productpage to reviews is 403 `RBAC: access denied` — still so without the
 * deny-all, by the default policy — and the seed's clean-up (its intentions removed, the
 * originals re-applied) lets it through.
 *
 * Intentions are written as the seed applies its YAML: `trellis config write <file>` (and
 * `trellis config delete -filename <file>`), the originals over the HTTP API.
 */
import test, { type ExecutionContext } from 'ava';
import { APPS, Mesh, http, type Upstream } from './mesh.js';

const mesh = new Mesh('bookinfo', { acl: { enabled: true, default_policy: 'deny' } });
const SERVICES = ['productpage', 'details', 'reviews', 'ratings'] as const;
type Service = (typeof SERVICES)[number];
let pageUrl = '';
/** productpage's local listener for its reviews upstream (productpage's identity). */
let reviewsViaProductpage = '';
let trustDomain = '';

/** The seed's intention files, as config entries. */
const ORIGINALS = [
  {
    Kind: 'service-intentions',
    Name: 'details',
    Sources: [{ Name: 'productpage', Action: 'allow' }],
  },
  {
    Kind: 'service-intentions',
    Name: 'reviews',
    Sources: [{ Name: 'productpage', Action: 'allow' }],
  },
  { Kind: 'service-intentions', Name: 'ratings', Sources: [{ Name: 'reviews', Action: 'allow' }] },
];
const DENY_ALL = {
  Kind: 'service-intentions',
  Name: '*',
  Sources: [{ Name: '*', Action: 'deny' }],
};
const viewer = (destination: Service, source: Service) => ({
  Kind: 'service-intentions',
  Name: destination,
  Sources: [{ Name: source, Permissions: [{ Action: 'allow', HTTP: { Methods: ['GET'] } }] }],
});

interface PageState {
  details: 'shown' | 'error';
  reviews: 'shown' | 'error';
  ratings: 'stars' | 'unavailable' | 'none';
}

function pageState(html: string): PageState {
  const details = html.includes('Publisher: PublisherA')
    ? 'shown'
    : html.includes('Error fetching product details!')
      ? 'error'
      : null;
  const reviews = html.includes('Reviewer1')
    ? 'shown'
    : html.includes('Error fetching product reviews!')
      ? 'error'
      : null;
  if (details === null || reviews === null) throw new Error(`not the product page: ${html}`);
  const ratings = html.includes('★★★★★')
    ? 'stars'
    : html.includes('Ratings service currently unavailable')
      ? 'unavailable'
      : 'none';
  return { details, reviews, ratings };
}

/** Refreshes the page until it shows `want`; returns the page. */
async function pageShows(t: ExecutionContext, want: PageState): Promise<string> {
  let last: PageState | undefined;
  const html = await mesh.eventually(`the page to show ${JSON.stringify(want)}`, async () => {
    const r = await http('GET', pageUrl);
    if (r.status !== 200) throw new Error(`productpage: ${r.status} ${r.text}`);
    last = pageState(r.text);
    return JSON.stringify(last) === JSON.stringify(want) ? r.text : undefined;
  });
  t.deepEqual(last, want);
  return html;
}

/** `trellis config write <file>` of the seed's intention file `name`. */
async function apply(t: ExecutionContext, name: string, entry: unknown): Promise<void> {
  const r = await mesh.cli(['config', 'write'], [mesh.writeJson(`${name}.json`, entry)]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Config entry written: service-intentions\//);
}

test.before(async () => {
  const ports = await mesh.freePorts(11);
  const take = (): number => ports.shift()!;
  const app = Object.fromEntries(SERVICES.map((s) => [s, take()])) as Record<Service, number>;
  const sidecar = Object.fromEntries(SERVICES.map((s) => [s, take()])) as Record<Service, number>;
  const local = { details: take(), reviews: take(), ratings: take() };
  pageUrl = `http://127.0.0.1:${app.productpage}/productpage`;
  reviewsViaProductpage = `http://127.0.0.1:${local.reviews}/reviews/0`;
  // The apps start while the agent does (they do not talk to it).
  await Promise.all([
    mesh.start(),
    ...SERVICES.map((s) =>
      mesh.startApp(s, APPS.bookinfo, app[s], {
        SERVICE: s,
        DETAILS_URL: `http://127.0.0.1:${local.details}`,
        REVIEWS_URL: `http://127.0.0.1:${local.reviews}`,
        RATINGS_URL: `http://127.0.0.1:${local.ratings}`,
        STAR_COLOR: 'black',
      }),
    ),
  ]);
  trustDomain = (
    JSON.parse(await mesh.apiOk('GET', '/v1/connect/ca/roots')) as { TrustDomain: string }
  ).TrustDomain;

  for (const s of SERVICES) {
    await mesh.writeConfig({ Kind: 'service-defaults', Name: s, Protocol: 'http' });
  }
  const upstreams: Record<Service, Upstream[]> = {
    productpage: [
      { DestinationName: 'details', LocalBindPort: local.details },
      { DestinationName: 'reviews', LocalBindPort: local.reviews },
    ],
    details: [],
    reviews: [{ DestinationName: 'ratings', LocalBindPort: local.ratings }],
    ratings: [],
  };
  for (const s of SERVICES) {
    await mesh.registerWithSidecar({
      name: s,
      port: app[s],
      sidecarPort: sidecar[s],
      upstreams: upstreams[s],
    });
  }
  await Promise.all(SERVICES.map((s) => mesh.startSidecar(s)));
});

test.after.always(() => mesh.close());

test.serial('default policy deny; the original intentions show the whole page', async (t) => {
  // acl.default_policy from the config file: no intention, no access.
  const check = await mesh.cli(['intention', 'check'], ['productpage', 'details']);
  t.is(check.stdout.trim(), 'Denied');
  const r = await mesh.api('GET', '/v1/connect/intentions');
  t.is(r.headers.get('x-consul-default-acl-policy'), 'deny');
  await pageShows(t, { details: 'error', reviews: 'error', ratings: 'none' });

  for (const e of ORIGINALS) await mesh.writeConfig(e);
  await pageShows(t, { details: 'shown', reviews: 'shown', ratings: 'stars' });
});

test.serial('deny-all: the page loads but fetches neither details nor reviews', async (t) => {
  // kubectl delete serviceintentions --all; kubectl apply -f service-intention-deny-all.yaml
  for (const e of ORIGINALS) await mesh.apiOk('DELETE', `/v1/config/service-intentions/${e.Name}`);
  await apply(t, 'service-intention-deny-all', DENY_ALL);
  const html = await pageShows(t, { details: 'error', reviews: 'error', ratings: 'none' });
  t.true(html.includes('<h1>The Comedy of Errors</h1>'));
});

test.serial('details-viewer: productpage may GET details', async (t) => {
  await apply(t, 'service-intention-details-viewer', viewer('details', 'productpage'));
  await pageShows(t, { details: 'shown', reviews: 'error', ratings: 'none' });
});

test.serial('reviews-viewer: reviews show, ratings unavailable', async (t) => {
  await apply(t, 'service-intention-reviews-viewer', viewer('reviews', 'productpage'));
  await pageShows(t, { details: 'shown', reviews: 'shown', ratings: 'unavailable' });
});

test.serial('ratings-viewer: reviews may GET ratings, the stars show', async (t) => {
  await apply(t, 'service-intention-ratings-viewer', viewer('ratings', 'reviews'));
  const html = await pageShows(t, { details: 'shown', reviews: 'shown', ratings: 'stars' });
  t.true(html.includes('(black stars)'));
});

test.serial('a POST from productpage to reviews is 403 RBAC: access denied', async (t) => {
  // Through productpage's own upstream listener: the request carries productpage's identity.
  const get = await http('GET', reviewsViaProductpage);
  t.is(get.status, 200);
  t.is(
    (JSON.parse(get.text) as { servedTo: string }).servedTo,
    `spiffe://${trustDomain}/ns/default/dc/dc1/svc/productpage`,
  );
  const post = await http('POST', reviewsViaProductpage, '{"reviewer":"me","stars":1}');
  t.is(post.status, 403);
  t.is(post.text, 'RBAC: access denied');

  // Without the deny-all the default policy (deny) still refuses what no intention allows.
  const before = await mesh.proxyVersion('reviews-sidecar-proxy');
  const del = await mesh.cli(
    ['config', 'delete'],
    ['-filename', mesh.writeJson('service-intention-deny-all.json', DENY_ALL)],
  );
  t.is(del.code, 0, del.stderr);
  await mesh.waitApplied('reviews-sidecar-proxy', before);
  const again = await http('POST', reviewsViaProductpage, '{"reviewer":"me","stars":1}');
  t.is(again.status, 403);
  t.is(again.text, 'RBAC: access denied');
  t.is((await http('GET', reviewsViaProductpage)).status, 200);
});

test.serial('clean-up: the seed’s intentions removed, the originals re-applied', async (t) => {
  for (const name of ['details', 'reviews', 'ratings']) {
    await mesh.apiOk('DELETE', `/v1/config/service-intentions/${name}`);
  }
  await pageShows(t, { details: 'error', reviews: 'error', ratings: 'none' });
  for (const e of ORIGINALS) await mesh.writeConfig(e);
  await pageShows(t, { details: 'shown', reviews: 'shown', ratings: 'stars' });
  // An L4 allow lets every request through, POSTs included.
  const post = await http('POST', reviewsViaProductpage, '{"reviewer":"me","stars":1}');
  t.is(post.status, 201, post.text);
});
