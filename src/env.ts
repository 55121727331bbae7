/** The Hono app's type (bindings from wrangler.toml, see worker-configuration.d.ts), shared by every route. */
export type AppEnv = { Bindings: Env };
