/** What an inbound message asks for, besides being a reply. */
export type InboundKeyword = 'stop' | 'start' | 'help';

// The keywords of Twilio's default opt-out handling: the whole message is the keyword.
const KEYWORDS: Readonly<Record<string, InboundKeyword>> = {
  STOP: 'stop',
  UNSUBSCRIBE: 'stop',
  CANCEL: 'stop',
  END: 'stop',
  QUIT: 'stop',
  START: 'start',
  UNSTOP: 'start',
  HELP: 'help',
};

/**
 * The keyword an inbound message is, or undefined for an ordinary reply. Only a message that is
 * the keyword alone counts (case, surrounding spaces and trailing punctuation aside): "Stop."
 * opts out, "please don't stop calling" is a reply.
 */
export function inboundKeywordOf(body: string | undefined): InboundKeyword | undefined {
  if (body === undefined) return undefined;
  const word = body
    .trim()
    .replace(/[.!?]+$/u, '')
    .toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word] : undefined;
}
