// An example web application on the auth extension: node:http and pg, no
// framework. Sign-up, sign-in with an HttpOnly cookie, magic links (printed
// and listed on /dev/outbox instead of mailed), a second factor (TOTP and
// recovery codes on /security; a sign-in asks for a code on /mfa), notes
// under RLS, an organization switcher, API keys, sign-out. Every database
// error becomes an HTTP status (errorStatus below). Run
// examples/app/schema.sql first.
//
//   PGHOST=... PGDATABASE=app PGUSER=example_app PORT=3000 node server.mjs
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const COOKIE = 'sid';
// The MFA challenge between the first factor and the code: an HttpOnly
// cookie sent only to /mfa, never in a URL, living as long as the challenge.
const MFA_COOKIE = 'mfa';
const MFA_TTL = 300;   // auth.mfa_challenge_ttl

// ------------------------------------------------------------- errors
// SQLSTATE -> HTTP status (README "Troubleshooting" has the table).
const STATUS = { '28000': 401, '28P01': 401, 'PT429': 429, '42501': 403, '22023': 400, '23505': 409, '23514': 400 };

export function errorStatus(err) {
	return STATUS[err.code] ?? 500;
}

// Seconds until a PT429 may be retried: every retryable refusal carries
// them in its hint as {"retry_after": <seconds>} (README, PT429).  Older
// servers said it in prose: a time ("... locked until 2026-01-01T10:00:00
// +00:00.", "Try again after ...") or an interval ("Retry in 00:00:42.").
export function retryAfterSeconds(err, now = Date.now()) {
	const m = /^\{"retry_after": (\d{1,9})\}$/.exec(err.hint ?? '');
	if (m) return Math.max(1, +m[1]);
	const text = `${err.detail ?? ''} ${err.hint ?? ''}`;
	const at = /(?:until|after) (\d{4}-\d\d-\d\d[ T][0-9:.]+(?:[+-]\d\d(?::?\d\d)?|Z)?)\./.exec(text);
	if (at) {
		const t = Date.parse(at[1].replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
		if (!Number.isNaN(t)) return Math.max(1, Math.ceil((t - now) / 1000));
	}
	const iv = /Retry in (?:(\d+) days? ?)?(?:(\d+):(\d\d):(\d\d(?:\.\d+)?))?\./.exec(text);
	if (iv) {
		const [, d = 0, h = 0, m = 0, s = 0] = iv;
		return Math.max(1, Math.ceil(+d * 86400 + +h * 3600 + +m * 60 + +s));
	}
	return 60;   // a limit that says nothing: wait a minute, never loop
}

// ------------------------------------------------------------- database
export function createApp({ pool, log = console.log, dev = true, secureCookies = false }) {
	const outbox = [];   // magic links "sent", newest first (dev only)

	// Authenticate per request in a transaction (4 round trips; for pages
	// that make several statements).
	async function asUser(token, fn) {
		const c = await pool.connect();
		try {
			await c.query('BEGIN');
			await c.query('SELECT auth.authenticate($1)', [token]);
			const r = await fn(c);
			await c.query('COMMIT');
			return r;
		} catch (e) {
			await c.query('ROLLBACK').catch(() => {});
			throw e;
		} finally {
			c.release();
		}
	}
	// One round trip: the credential, then the query (auth.with_identity).
	async function oneTrip(token, sql, args = null) {
		const { rows } = await pool.query('SELECT r FROM auth.with_identity($1, $2, $3) r',
			[token, sql, args && JSON.stringify(args)]);
		return rows.map((x) => x.r);
	}

	// ------------------------------------------------------------- http
	const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
	const page = (title, body, user) => `<!doctype html><html><head><meta charset="utf-8">
<title>${esc(title)}</title><style>body{font:15px system-ui;max-width:42rem;margin:2rem auto}
form{margin:.5rem 0}input{margin:.2rem}.err{color:#b00}.key{font-family:monospace;background:#ffd;padding:.3rem}
nav a,nav form{margin-right:1rem}</style></head><body>
<nav>${user ? `<a href="/">Notes</a><a href="/orgs">Organizations</a><a href="/keys">API keys</a><a href="/security">Security</a>
<form method="post" action="/signout" style="display:inline"><button id="signout">Sign out</button></form>`
		: '<a href="/signin">Sign in</a><a href="/signup">Sign up</a>'}${dev ? '<a href="/dev/outbox">Outbox (dev)</a>' : ''}</nav>
<h1>${esc(title)}</h1>${body}</body></html>`;
	const form = (action, fields, button) => `<form method="post" action="${action}">${fields}<button>${esc(button)}</button></form>`;
	const input = (name, type = 'text', extra = '') => `<input name="${name}" type="${type}" placeholder="${name}" ${extra}>`;

	function send(res, status, body, headers = {}) {
		res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
		res.end(body);
	}
	const json = (res, status, obj, headers = {}) => send(res, status, JSON.stringify(obj), { 'content-type': 'application/json', ...headers });
	const redirect = (res, to, headers = {}) => send(res, 303, '', { location: to, ...headers });
	const cookie = (token, maxAge) => `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secureCookies ? '; Secure' : ''}`;
	const setSession = (grant) => cookie(grant.token, Math.max(0, Math.floor((new Date(grant.expires_at) - Date.now()) / 1000)));
	const clearSession = cookie('', 0);
	const mfaCookie = (challenge, maxAge) => `${MFA_COOKIE}=${challenge}; Path=/mfa; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secureCookies ? '; Secure' : ''}`;
	const clearMfa = mfaCookie('', 0);

	function cookieOf(req, name) {
		for (const part of (req.headers.cookie ?? '').split(';')) {
			const [k, ...v] = part.trim().split('=');
			if (k === name) return v.join('=') || null;
		}
		return null;
	}
	function tokenOf(req) {
		const auth = req.headers.authorization;
		if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
		return cookieOf(req, COOKIE);
	}
	// A first factor's grant: a session, or (the user has a second factor)
	// only a challenge, kept in its cookie while /mfa asks for a code.
	function signedIn(res, g, to = '/') {
		if (!g.token && g.mfa_challenge)
			return redirect(res, '/mfa', { 'set-cookie': mfaCookie(g.mfa_challenge, MFA_TTL) });
		redirect(res, to, { 'set-cookie': setSession(g) });
	}
	const mfaForm = (error) => page('Two-step verification', `${error ? `<p class="err" id="mfa-error">${esc(error)}</p>` : ''}
<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
${form('/mfa', input('code', 'text', 'id="mfa-code" autocomplete="one-time-code" required'), 'Verify')}`);
	async function readForm(req) {
		let body = '';
		for await (const chunk of req) {
			body += chunk;
			if (body.length > 1e5) throw Object.assign(new Error('request body is too large'), { code: '22023' });
		}
		return Object.fromEntries(new URLSearchParams(body));
	}
	const ipOf = (req) => req.socket.remoteAddress ?? null;

	// A database error as a page or JSON with its status (and Retry-After).
	function fail(res, err, { api = false, cookies = [] } = {}) {
		const status = errorStatus(err);
		if (status === 500) log(`error: ${err.message}`);
		const headers = {};
		if (status === 429) headers['retry-after'] = String(retryAfterSeconds(err));
		if (status === 401) cookies = [clearSession, ...cookies];
		if (cookies.length) headers['set-cookie'] = cookies;
		if (status === 401 && api) headers['www-authenticate'] = 'Bearer';
		const message = status === 500 ? 'internal error' : err.message;
		if (api) return json(res, status, { error: message, code: err.code }, headers);
		send(res, status, page(`Error ${status}`, `<p class="err">${esc(message)}</p>
${status === 401 ? '<p><a href="/signin">Sign in</a></p>' : '<p><a href="/">Back</a></p>'}`), headers);
	}

	const routes = {
		'GET /signup': async (req, res) => send(res, 200, page('Sign up',
			form('/signup', input('name') + input('email', 'email') + input('password', 'password'), 'Sign up'))),
		'POST /signup': async (req, res) => {
			const f = await readForm(req);
			// one call, one argon2 hash: the user and its first session
			const { rows: [g] } = await pool.query('SELECT * FROM auth.sign_up_and_sign_in($1, $2, $3, $4, $5, $6)',
				[f.email, f.password, f.name || null, '{}', ipOf(req), req.headers['user-agent'] ?? null]);
			redirect(res, '/', { 'set-cookie': setSession(g) });
		},
		'GET /signin': async (req, res) => send(res, 200, page('Sign in',
			form('/signin', input('email', 'email') + input('password', 'password'), 'Sign in') +
			'<h2>Or get a link</h2>' + form('/magic-link', input('email', 'email', 'id="link-email"'), 'Email me a sign-in link'))),
		'POST /signin': async (req, res) => {
			const f = await readForm(req);
			const { rows: [g] } = await pool.query('SELECT * FROM auth.sign_in($1, $2, $3, $4)',
				[f.email, f.password, ipOf(req), req.headers['user-agent'] ?? null]);
			signedIn(res, g);
		},
		// The second factor after a password or a magic link.
		'GET /mfa': async (req, res) => {
			if (!cookieOf(req, MFA_COOKIE)) return redirect(res, '/signin');
			send(res, 200, mfaForm());
		},
		'POST /mfa': async (req, res) => {
			const f = await readForm(req);
			const challenge = cookieOf(req, MFA_COOKIE);
			if (!challenge) throw Object.assign(new Error('Sign in again.'), { code: '28000' });
			let g;
			try {
				({ rows: [g] } = await pool.query('SELECT * FROM auth.verify_mfa($1, $2, $3, $4)',
					[challenge, f.code, ipOf(req), req.headers['user-agent'] ?? null]));
			} catch (err) {
				// A wrong code: ask again on the same challenge (its tries are
				// counted by the database).  A dead challenge, or too many
				// tries: back to the first factor.
				if (err.code === '28000' && err.message === 'invalid second-factor code')
					return send(res, 401, mfaForm('That code is not valid.'));
				return fail(res, err, { cookies: [clearMfa] });
			}
			redirect(res, '/', { 'set-cookie': [setSession(g), clearMfa] });
		},
		'POST /magic-link': async (req, res) => {
			const f = await readForm(req);
			const { rows: [{ t }] } = await pool.query('SELECT auth.create_magic_link($1, $2) AS t', [f.email, '/']);
			const link = `http://${req.headers.host}/magic?token=${encodeURIComponent(t)}`;
			// Instead of mailing it: the console and the dev outbox.
			log(`magic link for ${f.email}: ${link}`);
			if (dev) outbox.unshift({ to: f.email, link, at: new Date().toISOString() });
			send(res, 200, page('Check your mail', '<p>If the address can sign in, a link is on its way.</p>'));
		},
		'GET /magic': async (req, res, url) => {
			const { rows: [g] } = await pool.query('SELECT * FROM auth.consume_magic_link($1, $2, $3)',
				[url.searchParams.get('token'), ipOf(req), req.headers['user-agent'] ?? null]);
			// The link proved the mailbox of an account never verified: the
			// password it was signed up with is gone (README, claims).  Say so.
			if (!g.token && g.mfa_challenge) return signedIn(res, g);
			if (g.password_removed)
				return send(res, 200, page('Signed in', '<p id="password-removed">You are signed in. ' +
					'The password this account was created with no longer works, because the address ' +
					'had never been confirmed. <a href="/">Continue</a></p>'), { 'set-cookie': setSession(g) });
			signedIn(res, g, g.redirect_to ?? '/');
		},
		'GET /dev/outbox': async (req, res) => {
			if (!dev) return send(res, 404, page('Not found', ''));
			send(res, 200, page('Outbox (dev)', `<ul>${outbox.map((m) =>
				`<li>to <b>${esc(m.to)}</b>: <a class="magic" href="${esc(m.link)}">sign-in link</a></li>`).join('')}</ul>`));
		},
		'GET /': async (req, res) => {
			const token = tokenOf(req);
			if (!token) return redirect(res, '/signin');
			// One round trip for the list, with the user's active organization.
			const notes = await oneTrip(token, `SELECT n.id, n.body, auth.org_id() AS org, auth.aal() AS aal,
				(SELECT o.name FROM auth.list_my_organizations() o WHERE o.id = auth.org_id()) AS org_name
				FROM (SELECT 1) one LEFT JOIN notes n ON true ORDER BY n.id DESC LIMIT 50`);
			const orgName = notes[0]?.org_name ?? 'Personal';
			send(res, 200, page('Notes', `<p>Workspace: <b id="workspace">${esc(orgName)}</b>
· Assurance: <b id="aal">${esc(notes[0]?.aal)}</b> (<a href="/security">Security</a>)</p>
${form('/notes', input('body', 'text', 'required'), 'Add note')}
<ul id="notes">${notes.filter((n) => n.id !== null).map((n) => `<li>${esc(n.body)}</li>`).join('')}</ul>`, true));
		},
		'POST /notes': async (req, res) => {
			const f = await readForm(req);
			await oneTrip(tokenOf(req), 'INSERT INTO notes (body) VALUES ($1->>\'body\') RETURNING id', { body: f.body });
			redirect(res, '/');
		},
		'GET /orgs': async (req, res) => {
			const { orgs, active } = await asUser(tokenOf(req), async (c) => ({
				orgs: (await c.query('SELECT id, name, role FROM auth.list_my_organizations() ORDER BY name')).rows,
				active: (await c.query('SELECT auth.org_id() AS id')).rows[0].id,
			}));
			send(res, 200, page('Organizations', `<form method="post" action="/orgs/switch">
<select name="org_id" id="org"><option value="">Personal</option>${orgs.map((o) =>
				`<option value="${o.id}" ${o.id === active ? 'selected' : ''}>${esc(o.name)} (${esc(o.role)})</option>`).join('')}</select>
<button>Switch</button></form>${form('/orgs', input('name', 'text', 'required'), 'Create organization')}`, true));
		},
		'POST /orgs': async (req, res) => {
			const f = await readForm(req);
			await asUser(tokenOf(req), (c) => c.query('SELECT auth.create_organization($1)', [f.name]));
			redirect(res, '/orgs');
		},
		'POST /orgs/switch': async (req, res) => {
			const f = await readForm(req);
			await asUser(tokenOf(req), (c) => c.query('SELECT auth.set_active_organization($1)', [f.org_id || null]));
			redirect(res, '/');
		},
		'GET /keys': async (req, res) => {
			const keys = await oneTrip(tokenOf(req), 'SELECT id, name, start, created_at FROM auth.list_api_keys() WHERE revoked_at IS NULL ORDER BY created_at');
			send(res, 200, page('API keys', `${form('/keys', input('name', 'text', 'required'), 'Create key')}
<table id="keys">${keys.map((k) => `<tr><td>${esc(k.name)}</td><td>${esc(k.start)}…</td><td>
<form method="post" action="/keys/revoke"><input type="hidden" name="id" value="${k.id}"><button>Revoke</button></form></td></tr>`).join('')}</table>
<p>Use a key: <code>curl -H "Authorization: Bearer $KEY" http://${esc(req.headers.host)}/api/notes</code></p>`, true));
		},
		'POST /keys': async (req, res) => {
			const f = await readForm(req);
			const [k] = await oneTrip(tokenOf(req), 'SELECT key FROM auth.create_api_key($1->>\'name\', \'{notes:read}\')', { name: f.name });
			// Shown once: the database keeps only its hash.
			send(res, 201, page('API key created', `<p>Copy it now, it is not shown again:</p>
<p class="key" id="new-key">${esc(k.key)}</p><p><a href="/keys">Back to keys</a></p>`, true));
		},
		'POST /keys/revoke': async (req, res) => {
			const f = await readForm(req);
			await oneTrip(tokenOf(req), 'SELECT auth.revoke_api_key(($1->>\'id\')::uuid) AS revoked', { id: f.id });
			redirect(res, '/keys');
		},
		// Second factors: enroll TOTP (the secret shown once), confirm it,
		// recovery codes (shown once), remove.  The database asks for aal2
		// where it matters (42501 -> 403).
		'GET /security': async (req, res) => {
			const { factors, aal } = await asUser(tokenOf(req), async (c) => ({
				factors: (await c.query('SELECT id, type, label, verified, created_at, last_used_at FROM auth.list_factors() ORDER BY created_at')).rows,
				aal: (await c.query('SELECT auth.aal() AS aal')).rows[0].aal,
			}));
			const hidden = (id) => `<input type="hidden" name="factor_id" value="${esc(id)}">`;
			send(res, 200, page('Security', `<p>Assurance: <b id="aal">${esc(aal)}</b></p>
<h2>Second factors</h2>
<table id="factors">${factors.map((f) => `<tr><td>${esc(f.label ?? '')}</td><td>${esc(f.type)}</td>
<td class="state">${f.verified ? 'verified' : 'not confirmed'}</td><td>${f.verified ? ''
		: form('/security/totp/verify', hidden(f.id) + input('code', 'text', 'autocomplete="one-time-code" required'), 'Confirm')}</td>
<td>${form('/security/factors/remove', hidden(f.id), 'Remove')}</td></tr>`).join('')}</table>
${form('/security/totp', input('label', 'text', 'maxlength="64"'), 'Add authenticator app')}
<h2>Recovery codes</h2><p>For when the authenticator is lost; generating new ones voids the old.</p>
${form('/security/recovery-codes', '', 'Generate recovery codes')}`, true));
		},
		'POST /security/totp': async (req, res) => {
			const f = await readForm(req);
			const t = await asUser(tokenOf(req), async (c) =>
				(await c.query('SELECT factor_id, secret, uri FROM auth.enroll_totp($1)', [f.label || null])).rows[0]);
			// Shown once: the database keeps the seed sealed and never returns it.
			send(res, 201, page('Add authenticator app', `<p>Add this account to your authenticator app
(as a QR code, or by typing the secret), then enter the code it shows. This is shown only once.</p>
<p>Secret: <span class="key" id="totp-secret">${esc(t.secret)}</span></p>
<p>URI: <code id="totp-uri">${esc(t.uri)}</code></p>
${form('/security/totp/verify', `<input type="hidden" name="factor_id" value="${esc(t.factor_id)}">`
				+ input('code', 'text', 'id="totp-code" autocomplete="one-time-code" required'), 'Confirm')}`, true));
		},
		'POST /security/totp/verify': async (req, res) => {
			const f = await readForm(req);
			const ok = await asUser(tokenOf(req), async (c) =>
				(await c.query('SELECT auth.verify_totp_enrollment($1, $2) AS ok', [f.factor_id, f.code])).rows[0].ok);
			if (ok) return redirect(res, '/security');
			send(res, 400, page('Security', '<p class="err" id="totp-error">That code is not valid. ' +
				'Confirm the factor with a new code on <a href="/security">Security</a>.</p>', true));
		},
		'POST /security/recovery-codes': async (req, res) => {
			const codes = await asUser(tokenOf(req), async (c) =>
				(await c.query('SELECT auth.generate_recovery_codes() AS codes')).rows[0].codes);
			send(res, 201, page('Recovery codes', `<p>Keep these somewhere safe; each works once, and they are not shown again:</p>
<ul id="recovery-codes" class="key">${codes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
<p><a href="/security">Back to security</a></p>`, true));
		},
		'POST /security/factors/remove': async (req, res) => {
			const f = await readForm(req);
			await asUser(tokenOf(req), (c) => c.query('SELECT auth.remove_factor($1)', [f.factor_id]));
			redirect(res, '/security');
		},
		'GET /api/notes': async (req, res) => {
			const token = tokenOf(req);
			if (!token) return json(res, 401, { error: 'not authenticated' }, { 'www-authenticate': 'Bearer' });
			json(res, 200, await oneTrip(token, 'SELECT id, body FROM notes ORDER BY id'));
		},
		'POST /signout': async (req, res) => {
			const token = tokenOf(req);
			if (token) await asUser(token, (c) => c.query('SELECT auth.sign_out()'));
			redirect(res, '/signin', { 'set-cookie': clearSession });
		},
	};

	return http.createServer(async (req, res) => {
		const url = new URL(req.url, 'http://app');
		const route = routes[`${req.method} ${url.pathname}`];
		if (!route) return send(res, 404, page('Not found', ''));
		const api = url.pathname.startsWith('/api/');
		try {
			// A page that needs a user and has no cookie: 401, like a bad one.
			if (!tokenOf(req) && !['/signin', '/signup', '/magic-link', '/magic', '/mfa', '/dev/outbox', '/', '/api/notes'].includes(url.pathname))
				throw Object.assign(new Error('not authenticated'), { code: '28000' });
			await route(req, res, url);
		} catch (err) {
			fail(res, err, { api });
		}
	});
}

// node server.mjs
if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const pool = new pg.Pool({ max: 8 });
	const port = Number(process.env.PORT ?? 3000);
	const server = createApp({ pool, dev: process.env.APP_DEV !== '0', secureCookies: process.env.APP_SECURE_COOKIES === '1' });
	server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
}
