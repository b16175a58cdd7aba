// openid-client v6 against a live https stsmock: discovery + client_credentials, with default
// (https-only) settings: no allowInsecureRequests. Trust comes from NODE_EXTRA_CA_CERTS alone.
// usage: node oidc_client_credentials.mjs ISSUER CLIENT_ID CLIENT_SECRET
import * as client from 'openid-client';

const [issuer, clientId, clientSecret] = process.argv.slice(2);
try {
  const config = await client.discovery(new URL(issuer), clientId, clientSecret);
  const tokens = await client.clientCredentialsGrant(config, {});
  const meta = config.serverMetadata();
  console.log(JSON.stringify({
    issuer: meta.issuer,
    token_endpoint: meta.token_endpoint,
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    expires_in: tokens.expiresIn(),
  }));
} catch (err) {
  console.log(JSON.stringify({ error: String(err && err.code || err), message: String(err && err.message), cause: String(err && err.cause) }));
  process.exit(1);
}
