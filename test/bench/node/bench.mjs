// make bench, part (i): a request from node-postgres (pool of 8, 8 requests
// at a time) that authenticates a session and reads the user's 20 newest
// notes, in four forms:
//   four      BEGIN; SELECT auth.authenticate($1); the query; COMMIT
//   one       SELECT r FROM auth.with_identity($1, <the query>) r
//   one_fn    SELECT * FROM bench_my_notes($1)   (a PL/pgSQL function of
//             the application's: authenticate, then RETURN QUERY)
//   one_fn_named  the same as a named prepared statement
//   ba        better-auth: auth.api.getSession({ headers }) with the
//             cookie its apps send, then the same query by user id
// better-auth's tables are made by its own migration (getMigrations, what
// `auth migrate` runs) and its sessions by its own signUpEmail. Prints
// requests per second per round and "RESULT <form> <median rps>" lines
// for test/bench/run.sh. Never prints a token.
//
// Environment: PGHOST/PGPORT/PGDATABASE of the bench database, BENCH_SUPERUSER
// (a superuser, for setup), BENCH_NODE_ROLE (a login role that owns nothing,
// so RLS applies), BENCH_NODE_T (seconds per run, 5), BENCH_NODE_ROUNDS (3).
import assert from 'node:assert/strict';
import pg from 'pg';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';

const T = Number(process.env.BENCH_NODE_T ?? 5);
const ROUNDS = Number(process.env.BENCH_NODE_ROUNDS ?? 3);
const USERS = 16, NOTES = 30, CONCURRENCY = 8;
const ROLE = process.env.BENCH_NODE_ROLE ?? 'bench_node';
const QUERY = 'SELECT id, body FROM bench_notes ORDER BY id DESC LIMIT 20';
const BA_QUERY = 'SELECT id, body FROM ba_notes WHERE owner_id = $1 ORDER BY id DESC LIMIT 20';

const admin = new pg.Client({ user: process.env.BENCH_SUPERUSER ?? 'postgres' });
await admin.connect();
await admin.query(`
	GRANT USAGE, CREATE ON SCHEMA public TO ${ROLE};
	CREATE TABLE bench_notes (id bigserial PRIMARY KEY, owner_id uuid NOT NULL, body text NOT NULL);
	CREATE INDEX ON bench_notes (owner_id, id);
	ALTER TABLE bench_notes ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own ON bench_notes USING (owner_id = auth.uid());
	GRANT SELECT ON bench_notes TO ${ROLE};
	CREATE FUNCTION bench_my_notes(token text) RETURNS TABLE (id bigint, body text)
	LANGUAGE plpgsql AS $$
	BEGIN
	    PERFORM auth.authenticate(token);
	    RETURN QUERY SELECT n.id, n.body FROM bench_notes n ORDER BY n.id DESC LIMIT 20;
	END $$;
	CREATE TABLE ba_notes (id bigserial PRIMARY KEY, owner_id text NOT NULL, body text NOT NULL);
	CREATE INDEX ON ba_notes (owner_id, id);
	GRANT SELECT ON ba_notes TO ${ROLE};`);

// auth: users signed up once (one argon2 each), sessions opened by an admin.
const tokens = [];
for (let i = 0; i < USERS; i++) {
	const { rows: [{ id }] } = await admin.query('SELECT auth.sign_up($1, $2) AS id', [`node${i}@example.com`, 'bench password']);
	const { rows: [{ token }] } = await admin.query('SELECT token FROM auth.create_session($1)', [id]);
	tokens.push(token);
	await admin.query('INSERT INTO bench_notes (owner_id, body) SELECT $1, $2 || g FROM generate_series(1, $3) g', [id, `note of ${i} #`, NOTES]);
}

// better-auth, on the same kind of pool, its tables by its own migration.
const pool = new pg.Pool({ user: ROLE, max: 8 });
const auth = betterAuth({
	database: pool,
	secret: 'bench-secret-that-is-at-least-32-characters-long',
	baseURL: 'http://localhost:3000',
	emailAndPassword: { enabled: true },
	telemetry: { enabled: false },
	logger: { disabled: true },
});
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
const cookies = [];
for (let i = 0; i < USERS; i++) {
	const { headers, response } = await auth.api.signUpEmail({
		body: { email: `ba${i}@example.com`, password: 'bench password', name: `ba ${i}` },
		returnHeaders: true,
	});
	const set = headers.get('set-cookie');
	const m = /(better-auth\.session_token=[^;]+)/.exec(set);
	assert.ok(m, 'better-auth set its session cookie');
	cookies.push(new Headers({ cookie: m[1], 'user-agent': 'bench' }));
	await admin.query('INSERT INTO ba_notes (owner_id, body) SELECT $1, $2 || g FROM generate_series(1, $3) g', [response.user.id, `note of ${i} #`, NOTES]);
}
await admin.query('ANALYZE bench_notes; ANALYZE ba_notes');
await admin.end();

// ------------------------------------------------------------- the forms
const forms = {
	async four(i) {
		const c = await pool.connect();
		try {
			await c.query('BEGIN');
			await c.query('SELECT auth.authenticate($1)', [tokens[i]]);
			const { rows } = await c.query(QUERY);
			await c.query('COMMIT');
			return rows;
		} catch (e) {
			await c.query('ROLLBACK').catch(() => {});
			throw e;
		} finally {
			c.release();
		}
	},
	async one(i) {
		const { rows } = await pool.query('SELECT r FROM auth.with_identity($1, $2) r', [tokens[i], QUERY]);
		return rows.map((x) => x.r);
	},
	async one_fn(i) {
		return (await pool.query('SELECT * FROM bench_my_notes($1)', [tokens[i]])).rows;
	},
	// the same, as a named prepared statement (parsed and planned once per
	// connection; not behind PgBouncer in transaction mode)
	async one_fn_named(i) {
		return (await pool.query({ name: 'bench_my_notes', text: 'SELECT * FROM bench_my_notes($1)', values: [tokens[i]] })).rows;
	},
	async ba(i) {
		const session = await auth.api.getSession({ headers: cookies[i] });
		if (!session) throw new Error('no session');
		return (await pool.query(BA_QUERY, [session.user.id])).rows;
	},
};

// Every form answers the same: the user's 20 newest notes, nobody else's.
for (const [name, f] of Object.entries(forms)) {
	for (const i of [0, USERS - 1]) {
		const rows = await f(i);
		assert.equal(rows.length, 20, `${name}: 20 rows`);
		assert.ok(rows.every((r) => r.body.startsWith(`note of ${i} #`)), `${name}: only user ${i}'s notes`);
		assert.equal(rows[0].body, `note of ${i} #${NOTES}`, `${name}: newest first`);
	}
}
await assert.rejects(pool.query('SELECT r FROM auth.with_identity($1, $2) r', ['ses_' + 'A'.repeat(43), QUERY]), { code: '28000' });
assert.equal(await auth.api.getSession({ headers: new Headers({ cookie: 'better-auth.session_token=nope.nope' }) }), null);
console.log('sanity: every form returns the same 20 notes of its user; a bad token is 28000 / no session');

async function measure(f, seconds) {
	let n = 0, i = 0;
	const end = performance.now() + seconds * 1000;
	const t0 = performance.now();
	await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
		while (performance.now() < end) {
			await f(i++ % USERS);
			n++;
		}
	}));
	return n / ((performance.now() - t0) / 1000);
}

const names = Object.keys(forms);
for (const name of names) await measure(forms[name], Math.min(1, T));   // warm-up
const results = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
	for (let k = 0; k < names.length; k++) {
		const name = names[(r + k) % names.length];   // the order rotates
		results[name].push(await measure(forms[name], T));
	}
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log(`requests/s (pool of 8, ${CONCURRENCY} at a time, ${T} s per run, ${ROUNDS} rounds):`);
for (const name of names) {
	console.log(`  ${name.padEnd(12)} ${results[name].map((x) => x.toFixed(0)).join(' ')}`);
	console.log(`RESULT ${name} ${median(results[name]).toFixed(1)}`);
}
await pool.end();
