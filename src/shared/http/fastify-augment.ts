/** Our additions to Fastify's request and route config types. */
declare module 'fastify' {
  interface FastifyRequest {
    /** The exact bytes of a JSON body, kept for routes that verify a signature over them. */
    rawBody?: Buffer;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (health, public catalog, signed webhooks). */
    public?: boolean;
  }
}

export {};
