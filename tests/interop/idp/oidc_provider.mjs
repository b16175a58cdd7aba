// panva's oidc-provider as a third-party OpenID provider for the interop tests.
// - client_credentials + resource indicators: JWT access tokens (RFC 9068, typ at+jwt) for `resource`
// - grant_type=password (a test-only grant registered here): an ID token for user "alice"
// Keys: OP_KEYS_FILE holds the private JWKS; OP_KEY_COUNT=2 prepends a fresh key (rotation: the
// new key signs, the old one stays published).
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const issuer = process.env.OP_ISSUER;
const port = Number(process.env.OP_PORT);
const keysFile = process.env.OP_KEYS_FILE;
const wanted = Number(process.env.OP_KEY_COUNT || '1');

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = crypto.randomBytes(12).toString('hex');
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

let keys = fs.existsSync(keysFile) ? JSON.parse(fs.readFileSync(keysFile, 'utf8')) : [];
while (keys.length < wanted) keys = [newKey(), ...keys];
fs.writeFileSync(keysFile, JSON.stringify(keys));

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [{
    client_id: 'c1', client_secret: 'secret-secret-secret',
    grant_types: ['client_credentials', 'password'], redirect_uris: [], response_types: [], scope: 'openid s3',
  }],
  scopes: ['openid', 's3'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com` }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:sts:local',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 's3', audience: resource, accessTokenTTL: 900, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});

provider.registerGrantType('password', async (ctx) => {
  const { IdToken } = provider;
  const token = new IdToken({ sub: 'alice', email: 'alice@example.com' }, { ctx, client: ctx.oidc.client });
  token.scope = 'openid';
  const idToken = await token.issue({ use: 'idtoken' });
  ctx.body = { id_token: idToken, token_type: 'Bearer', expires_in: 3600 };
}, ['scope']);

provider.listen(port, '127.0.0.1');
console.log(`oidc-provider ready at ${issuer}`);
process.on('SIGTERM', () => process.exit(0));
