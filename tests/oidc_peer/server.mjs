// A real OpenID Connect provider (the npm package oidc-provider) for identitylib's tests.
//
//   node tests/oidc_peer/server.mjs [PORT]        (or OIDC_PEER_PORT=PORT; 0 = any free port)
//
// Listens on 127.0.0.1 with the plain-http issuer http://127.0.0.1:PORT and prints
// "listening on http://127.0.0.1:PORT" once it accepts requests. It exits on SIGTERM,
// SIGINT, or when its stdin is a pipe that gets closed (so it never outlives the test run
// that started it).
// Keys are generated at startup and everything is kept in memory: nothing persists.
//
// DEBUG=oidc-provider:error logs why a request failed (e.g. "detail=alg mismatch").
//
// Clients and secrets can be overridden through the environment (see CONFIG below); the
// pytest fixture in tests/oidc_peer_fixture.py passes its own values.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import * as http from 'node:http';

import { Provider, errors } from 'oidc-provider';

const env = process.env;
const CONFIG = {
  port: Number(process.argv[2] ?? env.OIDC_PEER_PORT ?? 0),
  webClientId: env.OIDC_PEER_WEB_CLIENT_ID ?? 'identitylib-web',
  webClientSecret: env.OIDC_PEER_WEB_CLIENT_SECRET ?? 'identitylib-web-secret',
  webRedirectUris: (env.OIDC_PEER_WEB_REDIRECT_URIS ?? 'http://localhost:5000/callback').split(' '),
  publicClientId: env.OIDC_PEER_PUBLIC_CLIENT_ID ?? 'identitylib-native',
  // A client authenticating with private_key_jwt; its public keys (a JWK Set) come from the
  // environment, so the test suite can sign assertions with a key it generated.
  jwtClientId: env.OIDC_PEER_JWT_CLIENT_ID ?? 'identitylib-jwt',
  jwtClientJwks: env.OIDC_PEER_JWT_CLIENT_JWKS ? JSON.parse(env.OIDC_PEER_JWT_CLIENT_JWKS) : undefined,
  // The one protected API: a resource indicator (RFC 8707) and the scopes it defines.
  apiResource: env.OIDC_PEER_API_RESOURCE ?? 'urn:identitylib:api',
  apiScopes: (env.OIDC_PEER_API_SCOPES ?? 'api.read api.write').split(' '),
  accessTokenTtl: Number(env.OIDC_PEER_ACCESS_TOKEN_TTL ?? 3600),
  // Seconds between device-code polls that the device authorization response asks for.
  // oidc-provider sends no `interval` (clients then wait RFC 8628's 5 s) and does not
  // answer slow_down; a test run asks for less so it does not wait out 5 s intervals.
  deviceInterval: env.OIDC_PEER_DEVICE_INTERVAL ? Number(env.OIDC_PEER_DEVICE_INTERVAL) : undefined,
  // More issuers on the same host and port, one per name, at /realms/NAME (the layout of
  // Keycloak): each is a separate provider with its own keys, sessions and tokens, and
  // the same clients.
  tenants: (env.OIDC_PEER_TENANTS ?? '').split(' ').filter(Boolean),
};

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
}

// Any login is accepted by the development interactions; the login name becomes `sub`.
async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: `Test User ${sub}`,
        preferred_username: `${sub}@example.test`,
        email: `${sub}@example.test`,
        email_verified: true,
      };
    },
  };
}

// A request without a `resource` parameter is for the API when it asks for one of the API's
// scopes (the way Entra maps `api://x/scope` to its resource), else for userinfo only.
async function defaultResource(ctx, _client, oneOf) {
  if (oneOf) {
    return Array.isArray(oneOf) ? oneOf[0] : oneOf;
  }
  const requested = String(ctx.oidc.params.scope ?? '').split(' ');
  return requested.some((scope) => CONFIG.apiScopes.includes(scope)) ? CONFIG.apiResource : undefined;
}

async function getResourceServerInfo(_ctx, resourceIndicator) {
  if (resourceIndicator !== CONFIG.apiResource) {
    throw new errors.InvalidTarget();
  }
  return {
    scope: CONFIG.apiScopes.join(' '),
    audience: CONFIG.apiResource,
    accessTokenTTL: CONFIG.accessTokenTtl,
    accessTokenFormat: 'jwt',
  };
}

function clients() {
  const list = [
    {
      // A web app / daemon: authorization code, refresh token and client credentials. The
      // registered method is client_secret_post; oidc-provider also accepts the same secret
      // sent with HTTP Basic (client_secret_basic) for such a client.
      client_id: CONFIG.webClientId,
      client_secret: CONFIG.webClientSecret,
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: CONFIG.webRedirectUris,
      // Where a web app under a framework's test client lands after signing out.
      post_logout_redirect_uris: ['http://localhost/'],
    },
    {
      // A desktop / CLI app: no secret, PKCE required, any loopback port (RFC 8252).
      client_id: CONFIG.publicClientId,
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      response_types: ['code'],
      redirect_uris: ['http://localhost', 'http://127.0.0.1'],
    },
  ];
  if (CONFIG.jwtClientJwks) {
    list.push({
      client_id: CONFIG.jwtClientId,
      token_endpoint_auth_method: 'private_key_jwt', // any algorithm the key allows
      application_type: 'web',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: CONFIG.jwtClientJwks,
    });
  }
  return list;
}

function configuration() {
  const ttl = (seconds) => () => seconds;
  return {
    clients: clients(),
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    findAccount,
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    // Put the profile claims in the ID token too (not only at userinfo), as Entra does.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    // OpenID Connect Core drops `offline_access` from a request without prompt=consent, and
    // MSAL-style clients never send that prompt: refresh tokens are issued by this policy
    // instead, to every client allowed the refresh_token grant, and outlive the session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    // rotateRefreshToken keeps oidc-provider's default: a public client's refresh token is
    // replaced on every use (reusing an old one revokes the grant); a confidential client's
    // only once 70% of its lifetime has passed.
    features: {
      devInteractions: { enabled: true }, // built-in login + consent pages, any login works
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource,
        getResourceServerInfo,
        // Tokens from a code, device code or refresh token are for the resource granted
        // at authorization, even though the token request names no resource.
        useGrantedResource: async () => true,
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? CONFIG.accessTokenTtl,
      AuthorizationCode: ttl(120),
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      DeviceCode: ttl(600),
      Grant: ttl(24 * 3600),
      IdToken: ttl(3600),
      Interaction: ttl(600),
      RefreshToken: ttl(24 * 3600),
      Session: ttl(24 * 3600),
    },
  };
}

// A post-processing middleware (oidc-provider's `provider.use`): the device authorization
// response gets the `interval` of CONFIG.deviceInterval, when one is set.
async function deviceInterval(ctx, next) {
  await next();
  if (CONFIG.deviceInterval !== undefined && ctx.oidc?.route === 'device_authorization'
      && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body.interval = CONFIG.deviceInterval;
  }
}

function createProvider(issuer) {
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  provider.use(deviceInterval);
  return provider.callback();
}

function main() {
  const server = http.createServer();
  const stop = (why) => {
    console.log(`stopping (${why})`);
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // When started with a pipe as stdin (as the test fixture does), the closing of that pipe
  // means the parent is gone: stop. A terminal or /dev/null as stdin is not watched.
  if (fstatSync(0).isFIFO()) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  server.on('error', (error) => {
    console.error(`cannot listen: ${error.message}`);
    process.exit(2);
  });
  // Listen first, so that port 0 works: the issuer needs the real port.
  server.listen(CONFIG.port, '127.0.0.1', () => {
    const { port } = server.address();
    const issuer = `http://127.0.0.1:${port}`;
    const root = createProvider(issuer);
    // A provider mounted below a path sees its own paths in req.url and the full one in
    // req.originalUrl, from which it builds its URLs (as when mounted in Express or Koa).
    const mounted = CONFIG.tenants.map((name) => {
      const prefix = `/realms/${name}`;
      return { prefix, callback: createProvider(`${issuer}${prefix}`) };
    });
    server.on('request', (req, res) => {
      const tenant = mounted.find(({ prefix }) => req.url === prefix
        || req.url.startsWith(`${prefix}/`) || req.url.startsWith(`${prefix}?`));
      if (!tenant) {
        root(req, res);
        return;
      }
      req.originalUrl = req.url;
      req.url = req.url.slice(tenant.prefix.length) || '/';
      tenant.callback(req, res);
    });
    console.log(`listening on ${issuer}`);
  });
}

main();
