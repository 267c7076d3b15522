/** `portcullis start [--config gateway.yaml]` — run the gateway until SIGTERM/SIGINT, then drain and exit 0. */
import { ensureDevKeys } from '../auth/dev-issuer.js';
import { startExampleTools } from '../examples/index.js';
import { buildGateway } from '../gateway.js';
import type { RuntimeConfig } from '../config/compile.js';
import { DEV_SSO_CLIENT } from '../config/compile-sso.js';
import { DEMO_PEOPLE, startDevIdp } from '../console/dev-idp.js';
import { parse, type Command } from './args.js';
import { loadRuntimeConfig } from './config-file.js';
import { configWarnings } from './config.js';

export const start: Command = {
  summary: 'run the gateway',
  usage: 'portcullis start [--config gateway.yaml]',
  async run(argv) {
    const { values } = parse(argv, { config: { type: 'string', short: 'c' } });
    if (values.help) return help(this.usage);
    const config = loadRuntimeConfig(values.config);
    if (config.dev.issuer) await ensureDevKeys(config.dev.keysDir);
    const examples = config.dev.exampleTools ? await startExampleTools(config) : undefined;
    const devIdp = config.dev.sso ? await startDevSso(config) : undefined;
    const gateway = buildGateway(config);
    const log = gateway.logger;
    let urls: { proxyUrl: string; adminUrl: string };
    try {
      urls = await gateway.listen();
    } catch (err) {
      await examples?.close();
      await devIdp?.close();
      throw err;
    }
    log.info({ proxy: urls.proxyUrl, admin: urls.adminUrl, tools: config.tools.size, agents: config.agents.size }, 'portcullis listening');
    // What `portcullis config check` warns of: a role the policy grants nothing, a tool it names that is not here.
    for (const warning of configWarnings(config)) log.warn({ warning }, 'configuration warning');
    if (examples?.started.length) log.info({ tools: examples.started }, 'example tools started');
    if (devIdp) log.info({ issuer: devIdp.issuer, console: `${urls.adminUrl}/console/`, people: Object.keys(DEMO_PEOPLE) }, 'development IdP started (dev.sso): sign in to the console as a demo person');
    if (config.dev.issuer) printFirstSteps(urls.proxyUrl, config.tokenService !== undefined);

    // SIGHUP reloads the policy bundle (a bad one keeps the old policy serving).
    const onHup = () => void gateway.policy?.reload('signal');
    process.on('SIGHUP', onHup);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        log.info({ signal }, 'shutting down: draining in-flight calls');
        resolve();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    process.off('SIGHUP', onHup);
    await gateway.close();
    await examples?.close();
    await devIdp?.close();
    log.info('portcullis stopped');
    return 0;
  },
};

function printFirstSteps(proxyUrl: string, tokenService: boolean): void {
  const token = tokenService
    ? [
        'Portcullis is running with development settings. First call: a token from the token service,',
        'authenticated by the bundled example key of support-bot (examples/agents/, development only):',
        `  A=$(npx portcullis agents assert --agent support-bot --key examples/agents/support-bot.key.pem --aud ${proxyUrl})`,
        `  TOKEN=$(curl -s ${proxyUrl}/oauth2/token -d grant_type=client_credentials -d scope="ticketing:read ticketing:write" \\`,
        '      -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion=$A \\',
        '      | node -pe "JSON.parse(require(\'fs\').readFileSync(0)).access_token")',
      ]
    : [
        'Portcullis is running with the development issuer (dev.issuer: true). First call:',
        '  TOKEN=$(npx portcullis token mint --agent support-bot --scope "ticketing:read ticketing:write")',
      ];
  process.stderr.write(
    [
      '',
      ...token,
      `  curl -s ${proxyUrl}/tools/ticketing/tickets -H "Authorization: Bearer $TOKEN"`,
      'A refusal (the token does not cover payments):',
      `  curl -s ${proxyUrl}/tools/payments/payments -H "Authorization: Bearer $TOKEN"`,
      '(or mint one directly: npx portcullis token mint --agent support-bot --scope "ticketing:read")',
      '',
    ].join('\n'),
  );
}

/** dev.sso: the development IdP, with the console's callback (and the token service's) registered. */
function startDevSso(config: RuntimeConfig) {
  const { host, port } = config.listen.admin;
  const callbacks = [`http://${host}:${port}/console/callback`, `http://localhost:${port}/console/callback`];
  // The token service's sign-in for oauth_clients (MCP hosts) comes back to the proxy listener.
  if (config.tokenService) callbacks.push(`${config.tokenService.issuer}/oauth2/callback`);
  return startDevIdp({ port: config.dev.ssoPort, people: DEMO_PEOPLE, clients: [{ client_id: DEV_SSO_CLIENT.id, client_secret: DEV_SSO_CLIENT.secret, redirect_uris: callbacks }] });
}

export function help(usage: string): number {
  process.stdout.write(`usage: ${usage}\n`);
  return 0;
}
