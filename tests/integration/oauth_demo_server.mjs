// tests/integration/oauth_demo_server.mjs — the official TypeScript SDK's OAuth demo (an MCP
// server protected by bearer tokens, and the demo authorization server built from the SDK's
// mcpAuthRouter and DemoInMemoryAuthProvider, as simpleStreamableHttp.js --oauth-strict sets
// them up) on two ephemeral 127.0.0.1 ports instead of the demo's fixed 3000/3001, for
// mcpd's OAuth client (oauth_test.cpp, through oauth_demo_server.hpp).
//
// Usage: node oauth_demo_server.mjs <node_tools dir> [--no-s256] [--dcr-fails]
//                                   [--unreachable-as] [--token-hangs] [--insecure-as]
//                                   [--iss-supported] [--scopeless] [--no-issuer]
//                                   [--prm-no-resource] [--huge-metadata] [--metadata-hangs]
//                                   [--no-prm] [--token-lifetime <seconds>]
// --token-lifetime: the access tokens' lifetime (expires_in and when they stop working; the
// demo's default is 3600).
// Prints "mcp <url>" and "auth <url>" then "ready" on stdout; stopped by SIGTERM.
// Beyond the demo (which issues no refresh tokens): the provider issues rotating refresh tokens
// and honours refresh requests (a used refresh token is invalid_grant, so a double refresh
// shows); the tool `admin_only` needs the scope mcp:admin (403 insufficient_scope otherwise);
// test hooks on the MCP port, outside the bearer check:
//   GET  /test/counts   {"token": n, "code": n, "refresh": n, "register": n} requests seen
//   POST /test/revoke   forgets every refresh token (the next refresh is invalid_grant)
//   POST /test/expire   forgets every access token (the next request is 401)
//   POST /test/forget-clients  forgets every registered client (the next refresh is
//                       invalid_client)
// --no-s256: the authorization server metadata does not offer PKCE S256. --dcr-fails: dynamic
// client registration answers 400. --unreachable-as: the resource metadata names an
// authorization server on a closed port. --token-hangs: the token endpoint never answers.
// --insecure-as: the resource metadata names a plain-http, non-loopback authorization server.
// --iss-supported: the AS metadata says authorization_response_iss_parameter_supported.
// --scopeless: token responses carry no scope, and the step-up challenge names mcp:admin only.
// --no-issuer: the AS metadata has no issuer. --prm-no-resource: the resource metadata has no
// resource. --huge-metadata: the AS metadata carries 100 KiB of padding. --metadata-hangs: the
// AS metadata is never answered. --no-prm: no resource metadata (as a 2025-03-26 server), while
// the MCP origin still serves the AS metadata, which names the other port's issuer.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, ...flags] = process.argv.slice(2);
if (!toolsDir) {
    console.error('usage: oauth_demo_server.mjs <node_tools dir> [--no-s256] [--dcr-fails] [--unreachable-as]');
    process.exit(2);
}
const sdkDir = path.join(toolsDir, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const sdk = async (file) => import(pathToFileURL(path.join(sdkDir, file)).href);
const express = (await import(pathToFileURL(path.join(toolsDir, 'node_modules/express/index.js')).href)).default;
const z = await import(pathToFileURL(path.join(toolsDir, 'node_modules/zod/v4/index.js')).href);
const { McpServer } = await sdk('server/mcp.js');
const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');
const { createOAuthMetadata, mcpAuthRouter, mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } = await sdk('server/auth/router.js');
const { requireBearerAuth } = await sdk('server/auth/middleware/bearerAuth.js');
const { createMcpExpressApp } = await sdk('server/express.js');
const { DemoInMemoryAuthProvider } = await sdk('examples/server/demoInMemoryOAuthProvider.js');
const { InvalidGrantError, InvalidTokenError } = await sdk('server/auth/errors.js');
const { resourceUrlFromServerUrl } = await sdk('shared/auth-utils.js');
const { isInitializeRequest } = await sdk('types.js');

// Both servers listen first (ephemeral ports), then get their apps: the URLs go into them.
const listen = () => new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
});
const mcpHttp = await listen();
const authHttp = await listen();
const mcpServerUrl = new URL(`http://127.0.0.1:${mcpHttp.address().port}/mcp`);
const authServerUrl = new URL(`http://127.0.0.1:${authHttp.address().port}`);

const counts = { token: 0, code: 0, refresh: 0, register: 0 };
const lifetimeAt = flags.indexOf('--token-lifetime');
const tokenLifetime = lifetimeAt >= 0 ? Number(flags[lifetimeAt + 1]) : 3600;
if (!(tokenLifetime > 0)) {
    console.error('--token-lifetime needs a number of seconds');
    process.exit(2);
}

// The demo provider, plus refresh tokens (rotated on every use).
class RefreshingDemoProvider extends DemoInMemoryAuthProvider {
    constructor(validateResource) {
        super(validateResource);
        this.refreshTokens = new Map();
    }
    issueRefresh(clientId, scopes, resource) {
        const token = randomUUID();
        this.refreshTokens.set(token, { clientId, scopes, resource });
        return token;
    }
    async exchangeAuthorizationCode(client, code, verifier, redirectUri, resource) {
        counts.code++;
        const scopes = this.codes.get(code)?.params.scopes || [];
        const tokens = await super.exchangeAuthorizationCode(client, code, verifier, redirectUri, resource);
        const issued = this.tokens.get(tokens.access_token);
        if (issued) issued.expiresAt = Date.now() + tokenLifetime * 1000;
        return { ...tokens, expires_in: tokenLifetime, refresh_token: this.issueRefresh(client.client_id, scopes, resource) };
    }
    async exchangeRefreshToken(client, refreshToken, scopes, resource) {
        counts.refresh++;
        const grant = this.refreshTokens.get(refreshToken);
        if (!grant || grant.clientId !== client.client_id) throw new InvalidGrantError('unknown or used refresh token');
        if (this.validateResource && !this.validateResource(resource)) throw new InvalidGrantError(`invalid resource: ${resource}`);
        this.refreshTokens.delete(refreshToken);
        const token = randomUUID();
        this.tokens.set(token, { token, clientId: client.client_id, scopes: grant.scopes, expiresAt: Date.now() + tokenLifetime * 1000, resource: grant.resource, type: 'access' });
        return { access_token: token, token_type: 'bearer', expires_in: tokenLifetime, scope: grant.scopes.join(' '),
                 refresh_token: this.issueRefresh(client.client_id, grant.scopes, grant.resource) };
    }
}

// --- the authorization server (the demo's setupAuthServer, strict resource checking) ---------
const expectedResource = resourceUrlFromServerUrl(mcpServerUrl);
const provider = new RefreshingDemoProvider((resource) => !!resource && resource.toString() === expectedResource.toString());
const scopesSupported = ['mcp:tools', 'mcp:admin'];
const authApp = express();
authApp.use(express.json());
authApp.use(express.urlencoded());
authApp.use('/token', (req, res, next) => {
    counts.token++;
    if (flags.includes('--scopeless')) {
        const json = res.json.bind(res);
        res.json = (body) => json({ ...body, scope: undefined });
    }
    if (!flags.includes('--token-hangs')) next(); // else never answered
});
authApp.use('/register', (req, res, next) => {
    counts.register++;
    if (flags.includes('--dcr-fails')) {
        res.status(400).json({ error: 'invalid_client_metadata', error_description: 'registration is closed in this test' });
        return;
    }
    next();
});
const oauthMetadata = createOAuthMetadata({ provider, issuerUrl: authServerUrl, scopesSupported });
oauthMetadata.introspection_endpoint = new URL('/introspect', authServerUrl).href;
const metadataVariant = (flags.includes('--iss-supported') && { authorization_response_iss_parameter_supported: true })
    || (flags.includes('--no-issuer') && { issuer: undefined })
    || (flags.includes('--huge-metadata') && { padding: 'x'.repeat(100 * 1024) });
if (flags.includes('--metadata-hangs')) {
    authApp.get('/.well-known/oauth-authorization-server', () => {}); // never answered
}
if (metadataVariant) {
    authApp.get('/.well-known/oauth-authorization-server', (req, res) => res.json({ ...oauthMetadata, ...metadataVariant }));
}
if (flags.includes('--no-s256')) {
    const { code_challenge_methods_supported: _, ...withoutPkce } = oauthMetadata;
    authApp.get('/.well-known/oauth-authorization-server', (req, res) => res.json({ ...withoutPkce, code_challenge_methods_supported: ['plain'] }));
}
authApp.use(mcpAuthRouter({ provider, issuerUrl: authServerUrl, scopesSupported }));
authApp.post('/introspect', async (req, res) => {
    try {
        const info = await provider.verifyAccessToken(req.body.token);
        res.json({ active: true, client_id: info.clientId, scope: info.scopes.join(' '), exp: info.expiresAt, aud: info.resource });
    } catch (error) {
        res.status(401).json({ active: false, error: 'Unauthorized', error_description: `Invalid token: ${error}` });
    }
});
authHttp.on('request', authApp);

// --- the MCP server (the demo's, with its introspecting bearer check) ------------------------
const tokenVerifier = {
    verifyAccessToken: async (token) => {
        const response = await fetch(oauthMetadata.introspection_endpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ token }).toString()
        });
        // The demo throws a plain Error here, which bearerAuth answers with 500; a resource server
        // answers an unknown token with 401 invalid_token.
        if (!response.ok) throw new InvalidTokenError(`Invalid or expired token: ${await response.text()}`);
        const data = await response.json();
        return { token, clientId: data.client_id, scopes: data.scope ? data.scope.split(' ') : [], expiresAt: data.exp,
                 resource: data.aud ? new URL(data.aud) : undefined };
    }
};
const app = createMcpExpressApp();
app.get('/test/counts', (req, res) => res.json(counts));
app.post('/test/revoke', (req, res) => { provider.refreshTokens.clear(); res.json({ ok: true }); });
app.post('/test/expire', (req, res) => { provider.tokens.clear(); res.json({ ok: true }); });
const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(mcpServerUrl);
app.post('/test/forget-clients', (req, res) => { provider.clientsStore.clients.clear(); res.json({ ok: true }); });
if (flags.includes('--insecure-as')) {
    app.get(new URL(resourceMetadataUrl).pathname, (req, res) =>
        res.json({ resource: mcpServerUrl.href, authorization_servers: ['http://as.example.invalid/'] }));
}
if (flags.includes('--no-prm')) {
    const notFound = (req, res) => res.status(404).json({ error: 'not_found' });
    app.get(new URL(resourceMetadataUrl).pathname, notFound);
    app.get('/.well-known/oauth-protected-resource', notFound);
}
if (flags.includes('--prm-no-resource')) {
    app.get(new URL(resourceMetadataUrl).pathname, (req, res) =>
        res.json({ authorization_servers: [authServerUrl.href], scopes_supported: ['mcp:tools'] }));
}
if (flags.includes('--unreachable-as')) {
    app.get(new URL(resourceMetadataUrl).pathname, (req, res) =>
        res.json({ resource: mcpServerUrl.href, authorization_servers: ['http://127.0.0.1:1'] }));
}
// The resource asks for mcp:tools only: mcp:admin comes by step-up.
app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: mcpServerUrl, scopesSupported: ['mcp:tools'], resourceName: 'MCP Demo Server' }));
const auth = requireBearerAuth({ verifier: tokenVerifier, requiredScopes: [], resourceMetadataUrl, expectedResource: mcpServerUrl });

const getServer = () => {
    const server = new McpServer({ name: 'oauth-demo-server', version: '1.0.0' });
    server.registerTool('greet', { description: 'A simple greeting tool', inputSchema: { name: z.string() } },
        async ({ name }) => ({ content: [{ type: 'text', text: `Hello, ${name}!` }] }));
    server.registerTool('whoami', { description: 'The token the call came with', inputSchema: {} },
        async (_args, extra) => ({ content: [{ type: 'text', text: JSON.stringify({ clientId: extra.authInfo?.clientId, scopes: extra.authInfo?.scopes }) }] }));
    server.registerTool('admin_only', { description: 'Needs mcp:admin', inputSchema: {} },
        async () => ({ content: [{ type: 'text', text: 'admin ok' }] }));
    return server;
};

// Step-up: calling admin_only without mcp:admin is 403 insufficient_scope before the MCP layer.
const needAdmin = (req, res, next) => {
    const body = req.body;
    if (body && body.method === 'tools/call' && body.params?.name === 'admin_only' && !req.auth?.scopes.includes('mcp:admin')) {
        const scope = flags.includes('--scopeless') ? 'mcp:admin' : 'mcp:tools mcp:admin';
        res.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl}"`);
        res.status(403).json({ error: 'insufficient_scope', error_description: 'mcp:admin needed' });
        return;
    }
    next();
};

const sessions = new Map();
app.post('/mcp', auth, needAdmin, async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    let transport = sessionId ? sessions.get(sessionId) : undefined;
    if (!transport) {
        if (sessionId || !isInitializeRequest(req.body)) {
            res.status(sessionId ? 404 : 400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'No valid session' }, id: null });
            return;
        }
        transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => sessions.set(id, transport)
        });
        transport.onclose = () => sessions.delete(transport.sessionId);
        await getServer().connect(transport);
    }
    await transport.handleRequest(req, res, req.body);
});
const existing = async (req, res) => {
    const transport = sessions.get(req.headers['mcp-session-id']);
    if (!transport) {
        res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        return;
    }
    await transport.handleRequest(req, res);
};
app.get('/mcp', auth, existing);
app.delete('/mcp', auth, existing);
mcpHttp.on('request', app);

console.log(`mcp ${mcpServerUrl.href}`);
console.log(`auth ${authServerUrl.href}`);
console.log('ready');
process.on('SIGTERM', () => process.exit(0));
