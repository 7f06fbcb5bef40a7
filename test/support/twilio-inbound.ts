import twilio from 'twilio';

/**
 * Posts a form to a worker's inbound Twilio webhook signed as Twilio signs it: the twilio
 * package's getExpectedTwilioSignature over `signedUrl` (the public URL Twilio was configured
 * with) and every form field. `authToken` undefined sends no signature.
 */
export async function postSignedInbound(options: {
  localUrl: string;
  signedUrl: string;
  authToken: string | undefined;
  fields: Record<string, string>;
  headers?: Record<string, string>;
}): Promise<{ status: number; type: string; text: string }> {
  const signature = options.authToken === undefined ? undefined : twilio.getExpectedTwilioSignature(options.authToken, options.signedUrl, options.fields);
  const response = await fetch(options.localUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(signature ? { 'x-twilio-signature': signature } : {}),
      ...options.headers,
    },
    body: new URLSearchParams(options.fields).toString(),
  });
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}
