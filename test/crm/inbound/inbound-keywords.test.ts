import { inboundKeywordOf } from '../../../src/crm/inbound/inbound-keywords';
import { EMPTY_TWIML, messageTwiml } from '../../../src/crm/inbound/twiml';

/** What an inbound SMS/WhatsApp asks for (fast lane): the keyword alone, or an ordinary reply. */
describe('inbound keywords', () => {
  it('STOP, UNSUBSCRIBE, CANCEL, END and QUIT opt out; START and UNSTOP opt back in; HELP asks for help', () => {
    for (const word of ['STOP', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']) expect(inboundKeywordOf(word)).toBe('stop');
    for (const word of ['START', 'UNSTOP']) expect(inboundKeywordOf(word)).toBe('start');
    expect(inboundKeywordOf('HELP')).toBe('help');
  });

  it('case, surrounding spaces and trailing punctuation aside', () => {
    expect(inboundKeywordOf('  stop\n')).toBe('stop');
    expect(inboundKeywordOf('Stop.')).toBe('stop');
    expect(inboundKeywordOf('start!')).toBe('start');
    expect(inboundKeywordOf('Help?')).toBe('help');
  });

  it('a message that only contains a keyword is a reply', () => {
    for (const body of ["please don't stop calling", 'STOP IT', 'stopp', 'restart', '', undefined, 'toString', '__proto__', 'constructor']) {
      expect(inboundKeywordOf(body)).toBeUndefined();
    }
  });

  it('TwiML: empty, or one message with its text escaped', () => {
    expect(EMPTY_TWIML).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(messageTwiml('Acme <help> & "support" \'24/7\'')).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme &lt;help&gt; &amp; &quot;support&quot; &apos;24/7&apos;</Message></Response>',
    );
  });
});
