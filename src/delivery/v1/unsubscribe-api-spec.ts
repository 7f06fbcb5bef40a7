import { z } from 'zod';
import type { RouteSpec } from '../../http/openapi/route-spec';

const token = z.string().describe('the signed token of the List-Unsubscribe link');
const refused = {
  403: { description: 'the token was not issued here or has been altered: nothing changed', problem: true },
  404: { description: 'unsubscribe links are not configured (UNSUBSCRIBE_SECRET)', problem: true },
};

/** The one-click unsubscribe routes: public (no API key), authenticated by the token's HMAC. */
export const unsubscribeApiSpec: RouteSpec[] = [
  {
    method: 'get',
    path: '/v1/unsubscribe/{token}',
    operationId: 'showUnsubscribe',
    tag: 'consent',
    summary: 'A confirmation page with a button that POSTs: a GET never unsubscribes (mail scanners follow links). No API key',
    params: { token },
    responses: { 200: { description: 'an HTML page (text/html)' }, ...refused },
  },
  {
    method: 'post',
    path: '/v1/unsubscribe/{token}',
    operationId: 'unsubscribe',
    tag: 'consent',
    summary: "RFC 8058 one-click unsubscribe: the link's recipient is suppressed for e-mail (source unsubscribe). No API key",
    params: { token },
    body: { 'application/x-www-form-urlencoded': undefined },
    responses: {
      200: { description: 'unsubscribed; an HTML page (text/html)' },
      400: { description: 'the tenant of the link no longer exists', problem: true },
      ...refused,
    },
  },
];
