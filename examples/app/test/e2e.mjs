// End-to-end test of the example application in headless Chromium
// (Debian's chromium, driven by playwright-core), against a database that
// examples/app/schema.sql has prepared. Prints one "ok - ..." or
// "not ok - ..." line per step (test/t/040_example_app.pl counts them) and
// exits non-zero when a step failed. Never prints a token or a key.
//
//   PGHOST=... PGPORT=... PGDATABASE=... PGUSER=example_app \
//   CHROMIUM=/usr/bin/chromium SCREENSHOT_DIR=/tmp node test/e2e.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { createApp, retryAfterSeconds } from '../server.mjs';

const started = Date.now();
let failed = 0;
async function step(name, fn) {
	try {
		await fn();
		console.log(`ok - ${name}`);
	} catch (e) {
		failed++;
		// assertion messages name values the test chose, never a secret
		console.log(`not ok - ${name}`);
		console.log(`# ${String(e.message).replace(/[a-z0-9]{2,16}_[A-Za-z0-9_-]{40,}/g, '[redacted]').split('\n').join('\n# ')}`);
	}
}

const pool = new pg.Pool({ max: 8 });
const logs = [];
const server = createApp({ pool, log: (line) => logs.push(line) });
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
	chromiumSandbox: false,          // no user namespaces in containers and CI
	args: ['--disable-gpu', '--disable-dev-shm-usage'],
});
const run = Date.now().toString(36);
const ann = `ann-${run}@example.com`, bob = `bob-${run}@example.com`, cat = `cat-${run}@example.com`;

async function signUp(page, email, password) {
	await page.goto(`${base}/signup`);
	await page.fill('input[name=name]', email.split('-')[0]);
	await page.fill('input[name=email]', email);
	await page.fill('input[name=password]', password);
	await Promise.all([page.waitForURL(`${base}/`), page.click('text=Sign up >> nth=-1')]);
}
async function addNote(page, body) {
	await page.fill('input[name=body]', body);
	await Promise.all([page.waitForURL(`${base}/`), page.click('text=Add note')]);
}
const noteTexts = (page) => page.locator('#notes li').allTextContents();
const sessionCookie = async (ctx) => (await ctx.cookies()).find((c) => c.name === 'sid');

const annCtx = await browser.newContext();
const ann1 = await annCtx.newPage();
const bobCtx = await browser.newContext();
const bob1 = await bobCtx.newPage();
let oldCookie;

try {
	await step('sign up opens a session in an HttpOnly, SameSite cookie', async () => {
		await signUp(ann1, ann, 'ann password 1');
		const c = await sessionCookie(annCtx);
		assert.ok(c, 'a session cookie');
		assert.equal(c.httpOnly, true);
		assert.equal(c.sameSite, 'Lax');
		assert.match(c.value, /^ses_/);
		assert.equal(await ann1.textContent('#workspace'), 'Personal');
	});
	await step('notes are created and read back under RLS', async () => {
		await addNote(ann1, 'ann buys milk');
		await addNote(ann1, 'ann <b>not bold</b>');
		assert.deepEqual(await noteTexts(ann1), ['ann <b>not bold</b>', 'ann buys milk']);
	});
	await step('another user signs up and cannot see them', async () => {
		await signUp(bob1, bob, 'bob password 1');
		assert.deepEqual(await noteTexts(bob1), []);
		await addNote(bob1, 'bob note');
		assert.deepEqual(await noteTexts(bob1), ['bob note']);
		await ann1.reload();
		assert.deepEqual(await noteTexts(ann1), ['ann <b>not bold</b>', 'ann buys milk']);
	});
	await step('sign out, then sign in with the password', async () => {
		await Promise.all([bob1.waitForURL(`${base}/signin`), bob1.click('#signout')]);
		assert.equal(await sessionCookie(bobCtx), undefined);
		await bob1.fill('form[action="/signin"] input[name=email]', bob);
		await bob1.fill('form[action="/signin"] input[name=password]', 'bob password 1');
		await Promise.all([bob1.waitForURL(`${base}/`), bob1.click('text=Sign in >> nth=-1')]);
		assert.deepEqual(await noteTexts(bob1), ['bob note']);
	});
	await step('a wrong password is 401, and the sixth attempt 429 with Retry-After', async () => {
		const tries = [];
		for (let i = 0; i < 6; i++) {
			const r = await fetch(`${base}/signin`, { method: 'POST', redirect: 'manual',
				body: new URLSearchParams({ email: cat, password: 'wrong password' }) });
			tries.push(r.status);
			if (r.status === 429) {
				const after = Number(r.headers.get('retry-after'));
				assert.ok(after > 0 && after <= 15 * 60, `Retry-After ${after}`);
			}
		}
		assert.deepEqual(tries, [401, 401, 401, 401, 401, 429]);
	});
	await step('a magic link (printed, not mailed) signs a new user in', async () => {
		const ctx = await browser.newContext();
		const p = await ctx.newPage();
		await p.goto(`${base}/signin`);
		await p.fill('#link-email', cat);
		await p.click('text=Email me a sign-in link');
		await p.waitForSelector('text=a link is on its way');
		assert.ok(logs.some((l) => l.startsWith(`magic link for ${cat}: `)), 'the link is printed');
		await p.goto(`${base}/dev/outbox`);
		await Promise.all([p.waitForURL(`${base}/`), p.click('a.magic >> nth=0')]);
		assert.match((await sessionCookie(ctx)).value, /^ses_/);
		await addNote(p, 'cat came by link');
		assert.deepEqual(await noteTexts(p), ['cat came by link']);
		// the link is used up
		const again = await fetch(logs.find((l) => l.startsWith(`magic link for ${cat}: `)).split(': ')[1], { redirect: 'manual' });
		assert.equal(again.status, 401);
		await ctx.close();
	});
	await step('a magic link into an account never verified says its password is gone', async () => {
		const dan = cat.replace('cat-', 'dan-');
		const up = await fetch(`${base}/signup`, { method: 'POST', redirect: 'manual',
			body: new URLSearchParams({ name: 'Dan', email: dan, password: 'dan password 1' }) });
		assert.equal(up.status, 303);
		await fetch(`${base}/magic-link`, { method: 'POST', body: new URLSearchParams({ email: dan }) });
		const link = logs.find((l) => l.startsWith(`magic link for ${dan}: `)).split(': ')[1];
		const ctx = await browser.newContext();
		const p = await ctx.newPage();
		await p.goto(link);
		assert.match(await p.textContent('#password-removed'), /no longer works/);
		assert.match((await sessionCookie(ctx)).value, /^ses_/);
		await ctx.close();
		const old = await fetch(`${base}/signin`, { method: 'POST', redirect: 'manual',
			body: new URLSearchParams({ email: dan, password: 'dan password 1' }) });
		assert.equal(old.status, 401);
	});
	await step('organizations: create one, switch to it and back', async () => {
		await ann1.goto(`${base}/orgs`);
		await ann1.fill('input[name=name]', `Acme ${run}`);
		await Promise.all([ann1.waitForURL(`${base}/orgs`), ann1.click('text=Create organization')]);
		await ann1.selectOption('#org', { label: `Acme ${run} (owner)` });
		await Promise.all([ann1.waitForURL(`${base}/`), ann1.click('text=Switch')]);
		assert.equal(await ann1.textContent('#workspace'), `Acme ${run}`);
		assert.deepEqual(await noteTexts(ann1), []);
		await addNote(ann1, 'acme plan');
		assert.deepEqual(await noteTexts(ann1), ['acme plan']);
		await ann1.goto(`${base}/orgs`);
		await ann1.selectOption('#org', { label: 'Personal' });
		await Promise.all([ann1.waitForURL(`${base}/`), ann1.click('text=Switch')]);
		assert.equal(await ann1.textContent('#workspace'), 'Personal');
		assert.deepEqual(await noteTexts(ann1), ['ann <b>not bold</b>', 'ann buys milk']);
		// bob is not a member: switching there is refused with 403
		const orgId = await (async () => {
			await ann1.goto(`${base}/orgs`);
			return ann1.locator('#org option', { hasText: `Acme ${run}` }).getAttribute('value');
		})();
		const r = await bob1.request.post(`${base}/orgs/switch`, { form: { org_id: orgId }, maxRedirects: 0 });
		assert.equal(r.status(), 403);
	});
	let key;
	await step('an API key is shown once, listed by its start, and used like curl', async () => {
		await ann1.goto(`${base}/keys`);
		await ann1.fill('input[name=name]', 'laptop');
		await Promise.all([ann1.waitForURL(`${base}/keys`), ann1.click('text=Create key')]);
		key = (await ann1.textContent('#new-key')).trim();
		assert.match(key, /^ak_/);
		await ann1.goto(`${base}/keys`);
		const listed = await ann1.textContent('#keys');
		assert.ok(listed.includes('laptop') && !listed.includes(key), 'listed without the secret');
		const r = await fetch(`${base}/api/notes`, { headers: { authorization: `Bearer ${key}` } });
		assert.equal(r.status, 200);
		assert.deepEqual((await r.json()).map((n) => n.body), ['ann buys milk', 'ann <b>not bold</b>']);
		const bad = await fetch(`${base}/api/notes`, { headers: { authorization: 'Bearer ak_nope' } });
		assert.equal(bad.status, 401);
		assert.equal(bad.headers.get('www-authenticate'), 'Bearer');
	});
	await step('a revoked API key is 401', async () => {
		await ann1.goto(`${base}/keys`);
		await Promise.all([ann1.waitForURL(`${base}/keys`), ann1.click('#keys >> text=Revoke')]);
		assert.equal(await ann1.locator('#keys tr').count(), 0);
		const r = await fetch(`${base}/api/notes`, { headers: { authorization: `Bearer ${key}` } });
		assert.equal(r.status, 401);
	});
	await step('bad input is 400', async () => {
		const r = await ann1.request.post(`${base}/orgs`, { form: { name: 'x'.repeat(300) }, maxRedirects: 0 });
		assert.equal(r.status(), 400);
	});
	await step('screenshot saved', async () => {
		await ann1.goto(`${base}/`);
		const file = path.join(process.env.SCREENSHOT_DIR ?? '/tmp', 'example-app.png');
		await ann1.screenshot({ path: file, fullPage: true });
		console.log(`# screenshot: ${file}`);
	});
	await step('after sign-out the old session is 401 and the page asks to sign in', async () => {
		oldCookie = (await sessionCookie(annCtx)).value;
		await Promise.all([ann1.waitForURL(`${base}/signin`), ann1.click('#signout')]);
		assert.equal(await sessionCookie(annCtx), undefined);
		const r = await fetch(`${base}/api/notes`, { headers: { cookie: `sid=${oldCookie}` } });
		assert.equal(r.status, 401);
		const p = await fetch(`${base}/`, { headers: { cookie: `sid=${oldCookie}` }, redirect: 'manual' });
		assert.equal(p.status, 401);
		await ann1.goto(`${base}/`);
		assert.equal(new URL(ann1.url()).pathname, '/signin');
	});
	await step('Retry-After is read from each kind of PT429', async () => {
		const now = Date.parse('2026-01-01T10:00:00Z');
		assert.equal(retryAfterSeconds({ hint: '{"retry_after": 871}', detail: 'Sign-in for this email is locked until 2026-01-01T10:14:30.5+00:00.' }, now), 871);
		assert.equal(retryAfterSeconds({ hint: '{"retry_after": 7}' }, now), 7);
		assert.equal(retryAfterSeconds({ detail: 'Sign-in for this email is locked until 2026-01-01T10:14:30.5+00:00.' }, now), 871);
		assert.equal(retryAfterSeconds({ hint: 'Try again after 2026-01-01 10:00:42+00.' }, now), 42);
		assert.equal(retryAfterSeconds({ hint: 'Retry in 00:01:05.' }, now), 65);
		assert.equal(retryAfterSeconds({ hint: 'Retry in 1 day 02:00:00.' }, now), 93600);
		assert.equal(retryAfterSeconds({ detail: 'Reason: USAGE_EXCEEDED.' }, now), 60);
	});
} finally {
	await browser.close();
	server.close();
	await pool.end();
}
console.log(`# ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
