// Keeps the region page current: Server-Sent Events from /live carry the
// depots and capacity part rendered by the server, which replaces the shown one.
'use strict';
(() => {
  const region = document.getElementById('live-region');
  if (!region || !window.EventSource) return;
  const source = new EventSource('/live');
  source.addEventListener('region', (event) => {
    region.innerHTML = event.data;
  });
})();
