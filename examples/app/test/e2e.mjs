// End-to-end test of the example application in headless Chromium
// (Debian's chromium, driven by playwright-core), against a database that
// examples/app/schema.sql has prepared. Prints one "ok - ..." or
// "not ok - ..." line per step (test/t/040_example_app.pl counts them) and
// exits non-zero when a step failed. Never prints a token or a key.
//
//   PGHOST=... PGPORT=... PGDATABASE=... PGUSER=example_app \
//   CHROMIUM=/usr/bin/chromium SCREENSHOT_DIR=/tmp node test/e2e.mjs
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
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
// TOTP (RFC 6238: HOTP of RFC 4226 over 30-second steps, HMAC-SHA1, 6
// digits) from the base32 secret the page shows, written here from the RFCs.
function base32Decode(s) {
	const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = '';
	for (const ch of s.replace(/=+$/, '').toUpperCase()) {
		const v = alphabet.indexOf(ch);
		assert.ok(v >= 0, 'a base32 secret');
		bits += v.toString(2).padStart(5, '0');
	}
	return Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
}
function totp(secret, step) {
	const msg = Buffer.alloc(8);
	msg.writeBigUInt64BE(BigInt(step));
	const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
	const o = h[h.length - 1] & 0xf;
	return String((h.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 1000 / 30);
// Six digits that are no code of the factor anywhere near now.
function wrongCode(secret) {
	const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => totp(secret, stepNow() + d)));
	return ['000000', '123456', '999999'].find((c) => !near.has(c));
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
	// ------------------------------------------------- second factor
	const eve = cat.replace('cat-', 'eve-');
	const eveCtx = await browser.newContext();
	const e1 = await eveCtx.newPage();
	let secret, uri, enrolledStep, recovery;
	const signInWithPassword = async (p, email, password, to) => {
		await p.goto(`${base}/signin`);
		await p.fill('form[action="/signin"] input[name=email]', email);
		await p.fill('form[action="/signin"] input[name=password]', password);
		await Promise.all([p.waitForURL(to), p.click('text=Sign in >> nth=-1')]);
	};
	// Submits the code form; returns the HTTP status of the answer.
	const submitCode = async (p, code) => {
		await p.fill('#mfa-code', code);
		const [r] = await Promise.all([
			p.waitForResponse((r) => r.url() === `${base}/mfa` && r.request().method() === 'POST'),
			p.click('text=Verify'),
		]);
		await p.waitForLoadState();
		return r.status();
	};
	const signOut = (p) => Promise.all([p.waitForURL(`${base}/signin`), p.click('#signout')]);
	// Enrolls TOTP on /security and confirms it with the current step.
	async function enroll(p, label) {
		await p.goto(`${base}/security`);
		await p.fill('input[name=label]', label);
		await Promise.all([p.waitForURL(`${base}/security/totp`), p.click('text=Add authenticator app')]);
		const s = (await p.textContent('#totp-secret')).trim();
		const u = (await p.textContent('#totp-uri')).trim();
		const st = stepNow();
		await p.fill('#totp-code', totp(s, st));
		await Promise.all([p.waitForURL(`${base}/security`), p.click('text=Confirm')]);
		return { s, u, st };
	}

	await step('mfa: a user enrolls an authenticator app (TOTP computed per RFC 6238) and the session is aal2', async () => {
		await signUp(e1, eve, 'eve password 1');
		assert.equal(await e1.textContent('#aal'), 'aal1');
		({ s: secret, u: uri, st: enrolledStep } = await enroll(e1, 'phone'));
		assert.match(secret, /^[A-Z2-7]{32}$/);
		assert.ok(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), 'an otpauth URI with the secret');
		const row = await e1.textContent('#factors');
		assert.ok(row.includes('phone') && row.includes('totp') && row.includes('verified') && !row.includes('not confirmed'), 'listed, verified');
		assert.equal(await e1.textContent('#aal'), 'aal2');
		await e1.goto(`${base}/`);
		assert.equal(await e1.textContent('#aal'), 'aal2');
	});
	await step('mfa: a wrong code does not confirm an enrollment', async () => {
		await e1.goto(`${base}/security`);
		await e1.fill('input[name=label]', 'tablet');
		await Promise.all([e1.waitForURL(`${base}/security/totp`), e1.click('text=Add authenticator app')]);
		const other = (await e1.textContent('#totp-secret')).trim();
		assert.notEqual(other, secret);
		await e1.fill('#totp-code', wrongCode(other));
		const [r] = await Promise.all([e1.waitForResponse((r) => r.url().endsWith('/security/totp/verify')), e1.click('text=Confirm')]);
		assert.equal(r.status(), 400);
		await e1.goto(`${base}/security`);
		assert.match(await e1.textContent('#factors'), /tablet.*not confirmed/s);
		// an unconfirmed factor goes (aal2 session)
		await Promise.all([e1.waitForURL(`${base}/security`), e1.click('#factors tr:has-text("tablet") >> text=Remove')]);
		assert.equal(await e1.locator('#factors tr').count(), 1);
	});
	await step('mfa: recovery codes are shown once', async () => {
		await e1.goto(`${base}/security`);
		await Promise.all([e1.waitForURL(`${base}/security/recovery-codes`), e1.click('text=Generate recovery codes')]);
		recovery = (await e1.locator('#recovery-codes li').allTextContents()).map((x) => x.trim());
		assert.equal(recovery.length, 10);
		for (const c of recovery) assert.match(c, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/i);
	});
	await step('mfa: no page shows the secret, the URI or a recovery code again', async () => {
		for (const where of ['/security', '/', '/keys', '/orgs']) {
			await e1.goto(`${base}${where}`);
			const html = await e1.content();
			assert.ok(!html.includes(secret) && !html.includes(uri.replace(/&/g, '&amp;')) && !html.includes('secret='), `no secret on ${where}`);
			assert.ok(!recovery.some((c) => html.includes(c)), `no recovery code on ${where}`);
		}
	});
	await step('mfa: sign out, sign in with the password: asked for a code, the challenge in an HttpOnly cookie', async () => {
		await signOut(e1);
		await signInWithPassword(e1, eve, 'eve password 1', `${base}/mfa`);
		assert.equal(e1.url(), `${base}/mfa`, 'no challenge in the URL');
		assert.equal(await sessionCookie(eveCtx), undefined, 'no session yet');
		const c = (await eveCtx.cookies(`${base}/mfa`)).find((x) => x.name === 'mfa');
		assert.ok(c && c.httpOnly && c.path === '/mfa' && c.value.startsWith('mfc_'), 'the challenge cookie');
		assert.ok(!(await e1.content()).includes(c.value), 'the challenge is not in the page');
		// without a code nothing is signed in
		const home = await e1.request.get(`${base}/`, { maxRedirects: 0 });
		assert.equal(home.status(), 303);
	});
	await step('mfa: a wrong code is refused with 401', async () => {
		assert.equal(await submitCode(e1, wrongCode(secret)), 401);
		assert.match(await e1.textContent('#mfa-error'), /not valid/);
		assert.equal(await sessionCookie(eveCtx), undefined);
	});
	await step('mfa: the right code (the next TOTP step) signs in with aal2 shown', async () => {
		// the enrollment used its step; the server accepts one step ahead
		assert.equal(await submitCode(e1, totp(secret, enrolledStep + 1)), 303);
		assert.equal(e1.url(), `${base}/`);
		assert.equal(await e1.textContent('#aal'), 'aal2');
		assert.match((await sessionCookie(eveCtx)).value, /^ses_/);
		assert.equal((await eveCtx.cookies(`${base}/mfa`)).find((x) => x.name === 'mfa'), undefined, 'the challenge cookie is cleared');
	});
	await step('mfa: a recovery code works once', async () => {
		await signOut(e1);
		await signInWithPassword(e1, eve, 'eve password 1', `${base}/mfa`);
		assert.equal(await submitCode(e1, recovery[0].toUpperCase()), 303);
		assert.equal(await e1.textContent('#aal'), 'aal2');
		await signOut(e1);
		await signInWithPassword(e1, eve, 'eve password 1', `${base}/mfa`);
		assert.equal(await submitCode(e1, recovery[0]), 401);
		assert.equal(await submitCode(e1, recovery[1]), 303);
		assert.equal(await e1.textContent('#aal'), 'aal2');
	});
	await step('mfa: too many wrong codes is 429 with Retry-After', async () => {
		const r = await fetch(`${base}/signin`, { method: 'POST', redirect: 'manual',
			body: new URLSearchParams({ email: eve, password: 'eve password 1' }) });
		assert.equal(r.status, 303);
		assert.equal(r.headers.get('location'), '/mfa');
		const challenge = r.headers.getSetCookie().map((c) => /^mfa=([^;]+)/.exec(c)?.[1]).find(Boolean);
		assert.ok(challenge, 'a challenge cookie');
		const tries = [];
		for (let i = 0; i < 8 && tries.at(-1) !== 429; i++) {
			const t = await fetch(`${base}/mfa`, { method: 'POST', redirect: 'manual', headers: { cookie: `mfa=${challenge}` },
				body: new URLSearchParams({ code: wrongCode(secret) }) });
			tries.push(t.status);
			if (t.status === 429) {
				const after = Number(t.headers.get('retry-after'));
				assert.ok(after > 0 && after <= 24 * 3600, `Retry-After ${after}`);
				assert.ok(t.headers.getSetCookie().some((c) => /^mfa=;/.test(c)), 'the challenge cookie is cleared');
			}
		}
		assert.equal(tries.at(-1), 429);
		assert.ok(tries.slice(0, -1).every((s) => s === 401) && tries.length >= 2, `statuses ${tries}`);
	});
	await eveCtx.close();
	const fay = cat.replace('cat-', 'fay-');
	const fayCtx = await browser.newContext();
	const f1 = await fayCtx.newPage();
	const magic = async (p, email, to) => {
		await fetch(`${base}/magic-link`, { method: 'POST', body: new URLSearchParams({ email }) });
		const link = logs.filter((l) => l.startsWith(`magic link for ${email}: `)).at(-1).split(': ')[1];
		await p.goto(link);
		assert.equal(p.url(), to);
	};
	let faySecret, fayStep;
	await step('mfa: a magic link into an account with a second factor asks for a code too', async () => {
		await magic(f1, fay, `${base}/`);
		({ s: faySecret, st: fayStep } = await enroll(f1, 'phone'));
		await signOut(f1);
		await magic(f1, fay, `${base}/mfa`);
		assert.equal(await sessionCookie(fayCtx), undefined);
		assert.equal(await submitCode(f1, totp(faySecret, fayStep + 1)), 303);
		assert.equal(await f1.textContent('#aal'), 'aal2');
	});
	await step('mfa: removing the factor (aal2) ends the second step; the session drops to aal1', async () => {
		await f1.goto(`${base}/security`);
		await Promise.all([f1.waitForURL(`${base}/security`), f1.click('#factors >> text=Remove')]);
		assert.equal(await f1.locator('#factors tr').count(), 0);
		assert.equal(await f1.textContent('#aal'), 'aal1');
		// recovery codes need aal2: 403
		const r = await f1.request.post(`${base}/security/recovery-codes`, { maxRedirects: 0 });
		assert.equal(r.status(), 403);
		await signOut(f1);
		await magic(f1, fay, `${base}/`);
		assert.equal(await f1.textContent('#aal'), 'aal1');
	});
	await fayCtx.close();
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
