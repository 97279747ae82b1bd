// The scan page's offline queue. Each scan gets its own id (the booking's
// Idempotency-Key) and is stored in IndexedDB before anything is sent; the
// queue is sent in order through POST /api/v1/scans and a read leaves it only
// after the server answered for it. A lost connection keeps the reads (and
// retries); a repeated send is answered from the server's idempotency record,
// so every read books once. Reads belong to the user who scanned them.
'use strict';
(() => {
  const form = document.getElementById('scan-form');
  if (!form || !window.indexedDB || !window.fetch || !window.crypto) return;
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const user = form.dataset.user;
  const t = form.dataset;
  const code = $('scan-code');
  const place = $('scan-location');
  const from = $('scan-from');
  const quantity = $('scan-quantity');
  const feedback = $('scan-feedback');
  const queueSection = $('scan-queue');
  const queueList = $('queue-list');
  const resultList = $('result-list');
  const locations = new Set(Array.from(document.querySelectorAll('#location-codes option'), (o) => o.value));
  const RETRY_MS = 2000;
  const BATCH = 50;
  queueSection.hidden = false;

  const db = new Promise((resolve, reject) => {
    const open = indexedDB.open('depot-scan', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('queue', { keyPath: 'n', autoIncrement: true });
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const store = (mode, use) => db.then((conn) => new Promise((resolve, reject) => {
    const tx = conn.transaction('queue', mode);
    const request = use(tx.objectStore('queue'));
    tx.oncomplete = () => resolve(request && request.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  }));
  const queued = () => store('readonly', (s) => s.getAll()).then((all) => all.filter((e) => e.user === user));
  const enqueue = (read) => store('readwrite', (s) => s.add({ user, read }));
  const dequeue = (ns) => store('readwrite', (s) => { ns.forEach((n) => s.delete(n)); return null; });

  function freshId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return 'scan-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function say(ok, text) {
    const p = document.createElement('p');
    p.className = ok ? 'ok' : 'refused';
    p.textContent = text;
    feedback.replaceChildren(p);
  }

  function signal(ok) {
    if (navigator.vibrate) navigator.vibrate(ok ? 60 : [120, 60, 120]);
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      tone.frequency.value = ok ? 880 : 220;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + (ok ? 0.08 : 0.3));
    } catch (_) { /* no sound on this device */ }
  }

  function showQueue(entries) {
    $('queue-count').textContent = String(entries.length);
    $('queue-empty').hidden = entries.length > 0;
    queueList.replaceChildren(...entries.map((e) => {
      const li = document.createElement('li');
      li.dataset.id = e.read.id;
      li.textContent = e.read.kind + ' ' + e.read.code + (e.read.location ? ' @ ' + e.read.location : '');
      return li;
    }));
  }

  function showResult(read, result) {
    const ok = result.status === 201;
    let text;
    if (ok && result.movements.length === 0) {
      text = t.tCountAgrees;
    } else if (ok) {
      text = t.tBooked + ': ' + result.movements.map((m) =>
        m.kind + ' ' + m.quantity + ' × ' + m.sku + (m.from ? ' ' + m.from + ' →' : '') +
        (m.to ? ' → ' + m.to : '') + ' (' + t.tSeq + ' ' + m.seq + ')').join(', ');
    } else {
      text = t.tRefused + ': ' + read.code + ': ' + ((result.problem && result.problem.detail) || result.status);
    }
    const li = document.createElement('li');
    li.className = ok ? 'ok' : 'refused';
    li.dataset.id = read.id;
    li.dataset.status = String(result.status);
    li.textContent = text;
    $('scan-results').hidden = false;
    resultList.prepend(li);
    say(ok, text);
    signal(ok);
  }

  let sending = false;
  let retry = null;
  function later() {
    if (!retry) retry = setTimeout(() => { retry = null; send(); }, RETRY_MS);
  }

  async function send() {
    if (sending) return;
    sending = true;
    try {
      for (;;) {
        const entries = await queued();
        showQueue(entries);
        if (entries.length === 0) return;
        const batch = entries.slice(0, BATCH);
        let response;
        try {
          response = await fetch('/api/v1/scans', {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
            body: JSON.stringify({ reads: batch.map((e) => e.read) }),
          });
        } catch (_) {
          say(false, t.tOffline);
          later();
          return;
        }
        if (response.status === 200) {
          const body = await response.json();
          await dequeue(batch.map((e) => e.n));
          body.results.forEach((result, i) => showResult(batch[i].read, result));
        } else if (response.status === 422) {
          // The batch itself is malformed: show it and drop it, or it blocks the queue.
          const problem = await response.json().catch(() => ({}));
          await dequeue(batch.map((e) => e.n));
          batch.forEach((e) => showResult(e.read, { status: 422, problem }));
        } else if (response.status === 401 || response.status === 403) {
          const problem = await response.json().catch(() => ({}));
          say(false, t.tRefused + ': ' + (problem.detail || response.status));
          return;
        } else {
          say(false, t.tOffline);
          later();
          return;
        }
      }
    } finally {
      sending = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = code.value.trim();
    code.value = '';
    code.focus();
    if (!text) return;
    if (locations.has(text)) {
      place.value = text;
      say(true, t.tLocationSet + ' ' + text);
      return;
    }
    const kind = form.querySelector('input[name="kind"]:checked');
    const read = { id: freshId(), kind: kind ? kind.value : 'receive', code: text };
    if (place.value.trim()) read.location = place.value.trim();
    if (from.value.trim()) read.from = from.value.trim();
    // 0 is an amount too: a count that found nothing.
    const amount = parseInt(quantity.value, 10);
    if (amount >= 0) read.quantity = amount;
    enqueue(read).then(send, (error) => say(false, String(error)));
  });

  window.addEventListener('online', send);
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('/scan-sw.js', { scope: '/scan' }).catch(() => {});
  }
  send();
})();
