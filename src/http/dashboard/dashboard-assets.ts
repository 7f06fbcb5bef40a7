/**
 * The dashboard's only script and style, served by the worker itself (no CDN, nothing fetched at
 * run time). The page is complete without the script; it adds two things: the page refreshes its
 * <main> in place every data-refresh-seconds (skipped while the tab is hidden), and an action form
 * asks its data-confirm question in a dialog instead of through the confirmation page.
 */
export const ASSET_PATHS = { js: '/dashboard/assets/dashboard.js', css: '/dashboard/assets/dashboard.css' } as const;

export const DASHBOARD_JS = `'use strict';
(function () {
  // A refresh must not swap the page under a click: a press and its release on two different
  // buttons (the old one and its replacement) make no click at all. So no swap while a pointer is
  // down, for a moment after, or once a form is on its way.
  var holdUntil = 0;
  document.addEventListener('pointerdown', function () { holdUntil = Infinity; }, true);
  ['pointerup', 'pointercancel'].forEach(function (type) {
    document.addEventListener(type, function () { if (holdUntil === Infinity) holdUntil = Date.now() + 1000; }, true);
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    var confirmField = form.querySelector('input[name="confirm"]');
    if (question && confirmField) confirmField.value = 'yes';
    holdUntil = Infinity;
  });

  var seconds = Number(document.body.getAttribute('data-refresh-seconds'));
  if (!(seconds > 0)) return;
  var busy = false;
  function refresh() {
    if (busy || document.hidden || Date.now() < holdUntil) return;
    busy = true;
    fetch(window.location.pathname + window.location.search, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (response) {
        // Signed out or expired: the full page shows the sign-in form.
        if (response.redirected || response.status === 401) {
          window.location.reload();
          return;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.text().then(function (text) {
          if (Date.now() < holdUntil) return;
          var next = new DOMParser().parseFromString(text, 'text/html').querySelector('main');
          var current = document.querySelector('main');
          if (next && current) current.replaceWith(next);
          document.body.removeAttribute('data-refresh-failed');
        });
      })
      .catch(function () {
        document.body.setAttribute('data-refresh-failed', 'true');
      })
      .finally(function () {
        busy = false;
      });
  }
  setInterval(refresh, seconds * 1000);
})();
`;

export const DASHBOARD_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d232a; }
header { display: flex; align-items: center; justify-content: space-between; border-bottom: 1px solid #ccd; }
h1 { font-size: 1.2rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .4rem 0; } th, td { border: 1px solid #dde; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f4f8; } code { white-space: nowrap; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error { max-width: 36rem; white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace; font-size: 12px; }
form.inline { display: inline; } .problem { color: #a11; } .notice { background: #eef8ee; padding: .4rem .6rem; }
.muted, .hint { color: #667; } body[data-refresh-failed] header::after { content: 'refresh failed; retrying'; color: #a11; }
.status-failed, .status-dead, .status-unhealthy, .status-disconnected, .status-read-only { color: #a11; font-weight: 600; }
`;
