// A real OpenID provider (panva/oidc-provider, OpenID Certified) on loopback: the tenants'
// identity source in tests/oauth. Started by the `oidc_idp` fixture with
//   PORT=<port> IDP_CLIENTS='[{"client_id":…,"client_secret":…,"redirect_uris":[…]}]' node server.js
// Accounts: any login name signs in (no password), with sub = login and
// email = <login>@<EMAIL_DOMAIN, default example.test>, e-mail verified - except for a login
// starting with "unverified", whose e-mail the provider says it has not checked.
// The interaction is a plain form so a test can sign a user in over HTTP:
//   GET /interaction/<uid> (the form) and POST /interaction/<uid>/login with login=<name>.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.IDP_CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));
const emailDomain = process.env.EMAIL_DOMAIN || 'example.test';

const provider = new Provider(issuer, {
  clients,
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile'],
  pkce: { required: () => true },
  cookies: { keys: ['vmcp-tests-only-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const verified = !id.startsWith('unverified');
        return { sub: id, email: `${id}@${emailDomain}`, email_verified: verified, name: id };
      },
    };
  },
});
provider.proxy = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; if (data.length > 10000) reject(new Error('too big')); });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (!match[2]) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<form method="post" action="/interaction/${details.uid}/login">` +
        `<input name="login"><button>Sign in</button></form>`);
      return;
    }
    const form = await readBody(req);
    const login = form.get('login');
    if (!login) { res.writeHead(400); res.end('login required'); return; }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope || 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false },
    );
  } catch (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end(String(err && err.message));
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
