// The scan page's service worker (secure contexts only: HTTPS or localhost).
// The page itself: network first, the last copy when offline, so a reload
// without a connection still opens the page and its queue. Assets: cache
// first (their names carry a fingerprint). Nothing else is touched; the
// queued reads live in IndexedDB, not here.
'use strict';
const ASSETS = "__ASSETS__";
const CACHE = 'depot-scan:' + ASSETS.join(',');

self.addEventListener('install', (event) => {
  // The page that registered the worker was loaded before it: fetch a copy now.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(ASSETS.concat(['/scan'])))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname === '/scan') {
    event.respondWith(fetch(event.request).then((response) => {
      if (response.ok && !response.redirected) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put('/scan', copy));
      }
      return response;
    }).catch(() => caches.match('/scan').then((cached) => cached || Response.error())));
  } else if (url.pathname.startsWith('/static/')) {
    event.respondWith(caches.match(event.request).then((cached) => cached || fetch(event.request)));
  }
});
