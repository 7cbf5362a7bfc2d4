import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * The browser-session cookie mode, shared by the staff console (/api/auth/browser) and the client
 * portal (/api/portal/auth/browser): the refresh token travels in an httpOnly cookie scoped to its
 * router's prefix, SameSite=Strict, Secure unless the page is on loopback (a plain-HTTP dev page
 * must keep it). CSRF: SameSite=Strict keeps the cookie off cross-site requests, and the cookie
 * routes also require an Origin header naming this server (or APP_URL), which browsers send with
 * every POST.
 */
export const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;

/** A refresh cookie: its own name (staff and customer sessions in one browser never collide) and path. */
export interface RefreshCookie {
  name: string;
  path: string;
}

/** The cookie's value, from the Cookie header (no other cookie is read, so no parser is needed). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const separator = part.indexOf('=');
    if (separator > 0 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

/** Sets (or, with '' and 0, clears) the refresh cookie. */
export function setRefreshCookie(request: FastifyRequest, reply: FastifyReply, cookie: RefreshCookie, value: string, maxAgeSeconds: number): void {
  const secure = LOOPBACK_HOST.test(request.host) ? '' : '; Secure';
  reply.header('set-cookie', `${cookie.name}=${value}; Path=${cookie.path}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`);
}

/** A presented refresh cookie worth looking up (refresh tokens are 20–200 characters), else undefined. */
function presentedRefresh(request: FastifyRequest, cookie: RefreshCookie): string | undefined {
  const value = readCookie(request.headers.cookie, cookie.name);
  return value && value.length >= 20 && value.length <= 200 ? value : undefined;
}

/**
 * A cookie refresh route's work: the presented cookie goes through `rotate` (the session's own
 * refresh, which spends it), the new refresh token is set in its place and the rest answered. No,
 * bad or spent cookie: 401, and the cookie is cleared.
 */
export async function rotateRefreshCookie<T extends { refreshToken: string }>(
  request: FastifyRequest,
  reply: FastifyReply,
  cookie: RefreshCookie,
  maxAgeSeconds: number,
  rotate: (presented: string) => Promise<T>,
): Promise<Omit<T, 'refreshToken'>> {
  const presented = presentedRefresh(request, cookie);
  try {
    if (!presented) throw new AppError('UNAUTHENTICATED', 'No session: sign in');
    const { refreshToken, ...rest } = await rotate(presented);
    setRefreshCookie(request, reply, cookie, refreshToken, maxAgeSeconds);
    return rest;
  } catch (error) {
    if (error instanceof AppError && error.code === 'UNAUTHENTICATED') setRefreshCookie(request, reply, cookie, '', 0);
    throw error;
  }
}

/**
 * A hook that lets only pages of this server use the cookie routes (403 otherwise): refresh runs it
 * before anything else (onRequest), login once its body is valid and before any credential work
 * (preHandler).
 */
export function sameOriginOnly(appUrl: string): (request: FastifyRequest) => Promise<void> {
  const appOrigin = new URL(appUrl).origin;
  return async (request) => {
    const origin = request.headers.origin;
    if (origin !== `${request.protocol}://${request.host}` && origin !== appOrigin) {
      throw new AppError('FORBIDDEN', 'Browser sessions are only available to pages of this server (Origin header)');
    }
  };
}
