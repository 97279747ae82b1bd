// Keeps the movements table current: Server-Sent Events from /movements/live
// carry new rows rendered by the server; rows already shown are skipped.
'use strict';
(() => {
  const body = document.getElementById('live-movements');
  if (!body || !window.EventSource) return;
  const MAX_ROWS = 200;
  const after = encodeURIComponent(body.dataset.lastSeq || '0');
  const source = new EventSource('/movements/live?after=' + after);
  source.addEventListener('movements', (event) => {
    const template = document.createElement('template');
    template.innerHTML = event.data;
    // Newest first in the event; prepend the oldest first.
    const rows = Array.from(template.content.querySelectorAll('tr')).reverse();
    for (const row of rows) {
      if (!document.getElementById(row.id)) body.prepend(row);
    }
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
  });
  source.addEventListener('reload', () => window.location.reload());
})();
