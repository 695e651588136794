// A local OpenID Connect provider for the control plane's SSO tests: panva's certified `oidc-provider`,
// configured with one confidential client (`conduix`) and three users whose `roles` claim the tests map to
// control plane roles.
//
//   node server.mjs PORT [ISSUER]
//
// PORT (or env OIDC_PORT) is the port to listen on, on 127.0.0.1; ISSUER (or env OIDC_ISSUER) defaults to
// http://127.0.0.1:PORT. OIDC_REDIRECT_URIS is a comma-separated list of the client's redirect URIs
// (e.g. http://127.0.0.1:8123/auth/callback). Sign-in uses the provider's built-in development login form
// (any login name, any password; the login name is the account id), and consent is implied for the client,
// so a login is: authorization request -> login form -> back to the client with a code.
import { readFileSync } from 'node:fs';
import process from 'node:process';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs PORT [ISSUER]  (or env OIDC_PORT, OIDC_ISSUER, OIDC_REDIRECT_URIS)');
  process.exit(2);
}
const issuer = process.argv[3] ?? process.env.OIDC_ISSUER ?? `http://127.0.0.1:${port}`;
const redirectUris = (process.env.OIDC_REDIRECT_URIS ?? '')
  .split(',')
  .map((uri) => uri.trim())
  .filter(Boolean);
if (redirectUris.length === 0) {
  console.error('OIDC_REDIRECT_URIS is empty: give the client\'s redirect URIs as a comma-separated list');
  process.exit(2);
}

// The users the tests sign in as. `roles` is the claim the control plane maps to its roles.
const USERS = {
  alice: { name: 'Alice Admin', email: 'alice@example.test', roles: ['conduix-admins'] },
  victor: { name: 'Victor Viewer', email: 'victor@example.test', roles: ['viewer'] },
  nobody: { name: 'Nobody', email: 'nobody@example.test', roles: [] },
};

// OIDC_USERS_FILE (optional): a JSON object {login: {claims...}} read at every sign-in, so a test can change
// a user's claims between two sign-ins (roles follow the provider).
function users() {
  const file = process.env.OIDC_USERS_FILE;
  return file ? JSON.parse(readFileSync(file, 'utf8')) : USERS;
}

function findAccount(ctx, id) {
  const user = users()[id];
  if (!user) {
    return undefined;
  }
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: user.name,
        preferred_username: id,
        email: user.email,
        email_verified: true,
        ...user,
      };
    },
  };
}

// Consent is implied for our one first-party client (the documented "skip consent" recipe), so the
// development interactions show only the login form.
async function loadExistingGrant(ctx) {
  const grantId = ctx.oidc.result?.consent?.grantId
    || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (grantId) {
    const existing = await ctx.oidc.provider.Grant.find(grantId);
    if (existing) {
      return existing;
    }
  }
  if (!ctx.oidc.session.accountId) {
    return undefined;
  }
  const grant = new ctx.oidc.provider.Grant({
    clientId: ctx.oidc.client.clientId,
    accountId: ctx.oidc.session.accountId,
  });
  grant.addOIDCScope('openid email profile roles');
  grant.addOIDCClaims(['roles']);
  await grant.save();
  return grant;
}

const configuration = {
  clients: [
    {
      client_id: 'conduix',
      client_secret: 'conduix-secret',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // client_secret_post is accepted as well: the provider takes either form for a client_secret_basic client.
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  findAccount,
  loadExistingGrant,
  // `roles` comes with the `openid` scope, so a client that asks only for "openid email profile" still gets it;
  // a client may also ask for the `roles` scope explicitly.
  claims: {
    openid: ['sub', 'roles', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    roles: ['roles'],
  },
  scopes: ['openid', 'email', 'profile', 'roles', 'offline_access'],
  // Put the scope-requested claims into the ID token too (not only the userinfo response).
  // OIDC_CONFORM_ID_TOKEN_CLAIMS=1: the spec's default instead, where these claims come only from userinfo.
  conformIdTokenClaims: process.env.OIDC_CONFORM_ID_TOKEN_CLAIMS === '1',
  features: {
    devInteractions: { enabled: true },
  },
  // A client that sends no PKCE is fine (confidential client); one that sends S256 is checked.
  pkce: { required: () => false },
  // Stable cookie signing keys: this provider is for tests only.
  cookies: { keys: ['conduix-test-oidc-cookie-key'] },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening: issuer ${issuer}, redirect_uris ${redirectUris.join(' ')}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
