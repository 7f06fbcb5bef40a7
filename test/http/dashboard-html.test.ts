import { escapeHtml, html } from '../../src/http/dashboard/html';

/** The dashboard's markup builder (fast lane): every value is text unless it is markup built the same way. */
describe('dashboard html templates', () => {
  test('interpolated text is escaped, in elements and in attributes', () => {
    const hostile = `<script>alert(1)</script>" onmouseover='x' \`y\` & more`;
    const out = html`<td title="${hostile}">${hostile}</td>`.text;
    expect(out).toBe(
      '<td title="&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&#39;x&#39; &#96;y&#96; &amp; more">&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&#39;x&#39; &#96;y&#96; &amp; more</td>',
    );
    expect(out).not.toMatch(/<script|"\s*onmouseover/);
  });

  test('nested templates and lists stay markup; nothing, false and null render as nothing; numbers as text', () => {
    // Through another name, so that Prettier leaves the exact markup under test as written.
    const markup = html;
    const rows = ['<a>', 'b'].map((v) => markup`<li>${v}</li>`);
    expect(markup`<ul>${rows}</ul>${null}${undefined}${false}${0}`.text).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
  });

  test('a string that looks like markup is never trusted, however it was made', () => {
    const made = String(html`<b>bold</b>`);
    expect(html`${made}`.text).toBe('&lt;b&gt;bold&lt;/b&gt;');
    expect(escapeHtml('a&b')).toBe('a&amp;b');
  });
});
