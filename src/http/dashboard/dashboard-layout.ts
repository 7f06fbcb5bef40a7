import { html, type SafeHtml } from './html';
import { ASSET_PATHS } from './dashboard-assets';

/**
 * The page frame and the small pages around the overview (login, confirmation, refusal). Served
 * with a Content-Security-Policy that allows this worker's own script and style only, so even
 * markup that slipped past escaping could not run.
 */
export function layout(title: string, body: SafeHtml, options: { refreshSeconds?: number; signedIn?: { csrf: string } } = {}): string {
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · crm-worker</title>
        <link rel="stylesheet" href="${ASSET_PATHS.css}" />
        ${
          options.refreshSeconds !== undefined &&
          html`<noscript><meta http-equiv="refresh" content="${Math.max(options.refreshSeconds, 30)}" /></noscript>
            <script src="${ASSET_PATHS.js}" defer></script>`
        }
      </head>
      <body data-refresh-seconds="${options.refreshSeconds ?? ''}">
        <header>
          <h1>crm-worker</h1>
          ${
            options.signedIn &&
            html`<form method="post" action="/dashboard/logout" class="logout">
              <input type="hidden" name="csrf" value="${options.signedIn.csrf}" /><button type="submit">Sign out</button>
            </form>`
          }
        </header>
        ${body}
      </body>
    </html>`;
  return page.text;
}

export function loginPage(problem?: string): string {
  return layout(
    'Sign in',
    html`<main id="login">
      <h2>Operator sign-in</h2>
      ${problem && html`<p class="problem" role="alert">${problem}</p>`}
      <form method="post" action="/dashboard/login">
        <label>API key <input type="password" name="apiKey" autocomplete="current-password" required autofocus /></label>
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">The worker's API_KEY. The session lasts until it expires or you sign out.</p>
    </main>`,
  );
}

/** The no-JavaScript confirmation step: the same form again, now with confirm=yes. */
export function confirmPage(question: string, action: string, fields: Record<string, string>, csrf: string): string {
  return layout(
    'Confirm',
    html`<main id="confirm">
      <h2>Confirm</h2>
      <p>${question}</p>
      <form method="post" action="${action}">
        <input type="hidden" name="csrf" value="${csrf}" /><input type="hidden" name="confirm" value="yes" />
        ${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
        <button type="submit">Yes, do it</button> <a href="/dashboard">No, back to the dashboard</a>
      </form>
    </main>`,
    { signedIn: { csrf } },
  );
}

export function messagePage(title: string, text: string): string {
  return layout(
    title,
    html`<main id="refused">
      <h2>${title}</h2>
      <p class="problem" role="alert">${text}</p>
      <p><a href="/dashboard">Back to the dashboard</a></p>
    </main>`,
  );
}
