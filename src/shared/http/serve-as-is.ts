import type { FastifyReply } from 'fastify';

const JSON_TYPE = 'application/json; charset=utf-8';

/** A reply serializer that sends a body already in JSON text as it is. */
const serveAsIs = (body: string): string => body;

/**
 * Sends JSON text as it is, skipping the route's zod serializer: for bodies already serialised
 * (a cached catalog) or so small that validating them costs more than writing them (the liveness
 * answer). The route's response schema still documents them.
 */
export function sendJsonText(reply: FastifyReply, text: string): FastifyReply {
  return reply.type(JSON_TYPE).serializer(serveAsIs).send(text);
}
