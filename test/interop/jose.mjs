// The other side of test/t/021_jwt_interop.pl: jose (from the npm registry,
// pinned by package-lock.json) checks the extension's tokens and signs its
// own.  Reads a JSON request on stdin, writes a JSON answer on stdout; the
// test prints only verdicts, never a token or a key.
//
//   node jose.mjs verify   {jwks, issuer, tokens: [{name, token, secret?}]}
//                          -> {name: "valid" | "<error code>"}
//   node jose.mjs sign     {issuer, audience, subject}
//                          -> {jwks, tokens: {EdDSA, ES256, RS256}}
import * as jose from 'jose';

const input = JSON.parse(await new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (c) => { data += c; });
  process.stdin.on('end', () => resolve(data));
}));

async function verify({ jwks, issuer, tokens }) {
  const keySet = jose.createLocalJWKSet(jwks);
  const out = {};
  for (const { name, token, secret } of tokens) {
    try {
      // HS256 secrets are never in the JWKS: the test knows the one it imported
      const key = secret ? jose.base64url.decode(secret) : keySet;
      const { payload, protectedHeader } = await jose.jwtVerify(token, key, { issuer });
      out[name] = protectedHeader.alg === name.split(':')[0] && typeof payload.sub === 'string'
        ? 'valid' : 'unexpected';
    } catch (e) {
      out[name] = e.code || e.name;
    }
  }
  return out;
}

async function sign({ issuer, audience, subject }) {
  const keys = [];
  const tokens = {};
  for (const alg of ['EdDSA', 'ES256', 'RS256']) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    const kid = `jose-${alg}`;
    keys.push({ ...jwk, kid, alg, use: 'sig' });
    tokens[alg] = await new jose.SignJWT({ scope: 'docs:read' })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  }
  return { jwks: { keys }, tokens };
}

const mode = process.argv[2];
const result = mode === 'verify' ? await verify(input) : await sign(input);
process.stdout.write(JSON.stringify(result));
