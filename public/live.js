// Pages that update themselves. The server sends a small "change" event over server-sent events
// when something the page shows changed; this script fetches the same page again and swaps in
// the parts marked data-live-region, so the server's templates stay the only rendering. Without
// this script (or without JavaScript) the page is the same, and a reload shows what changed.
(function () {
  'use strict';
  var status = document.querySelector('[data-live-stream]');
  if (!status || typeof window.EventSource !== 'function' || !window.fetch || !window.DOMParser) return;

  var streamUrl = status.getAttribute('data-live-stream');
  var version = status.getAttribute('data-live-since') || '';
  var source = null;
  var stopped = false;
  var retryTimer = null;
  var failures = 0;
  var refreshing = false;
  var refreshAgain = false;
  // Bursts of changes (a poll writing ten replies) become one refresh.
  var SETTLE_MS = 150;
  var MAX_RETRY_MS = 60000;

  function show(state, text, title) {
    status.hidden = false;
    status.setAttribute('data-state', state);
    status.textContent = text;
    status.title = title || '';
  }

  /** A region where the person is typing or has changed a field keeps its content until they leave it. */
  function busy(region) {
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return true;
    var fields = region.querySelectorAll('input, textarea');
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === 'hidden') continue;
      if (field.type === 'checkbox' || field.type === 'radio' ? field.checked !== field.defaultChecked : field.value !== field.defaultValue) return true;
    }
    return false;
  }

  function swap(fresh) {
    var regions = document.querySelectorAll('[data-live-region]');
    for (var i = 0; i < regions.length; i++) {
      var region = regions[i];
      var name = region.getAttribute('data-live-region');
      var replacement = null;
      var candidates = fresh.querySelectorAll('[data-live-region]');
      for (var j = 0; j < candidates.length; j++) if (candidates[j].getAttribute('data-live-region') === name) replacement = candidates[j];
      if (!replacement) continue;
      if (busy(region)) {
        region.addEventListener('focusout', function () { setTimeout(refresh, SETTLE_MS); }, { once: true });
        continue;
      }
      var nodes = [];
      for (var k = 0; k < replacement.childNodes.length; k++) nodes.push(document.importNode(replacement.childNodes[k], true));
      region.replaceChildren.apply(region, nodes);
      region.dispatchEvent(new CustomEvent('kbts:live-updated', { bubbles: true }));
    }
  }

  function refresh() {
    if (stopped) return;
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    refreshAgain = false;
    fetch(location.pathname + location.search, { credentials: 'same-origin', cache: 'no-store', headers: { 'x-kbts-live': '1', accept: 'text/html' } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname === '/login') {
          stop('off', 'signed out', 'Your session ended: reload the page to sign in again.');
          return null;
        }
        if (!response.ok) {
          show('error', 'not refreshed', 'The page could not be fetched again (' + response.status + '); reload it to see what changed.');
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        swap(new DOMParser().parseFromString(html, 'text/html'));
        document.dispatchEvent(new CustomEvent('kbts:live-refreshed'));
      })
      .catch(function () { show('error', 'not refreshed', 'The page could not be fetched again; it will try at the next change.'); })
      .then(function () {
        setTimeout(function () {
          refreshing = false;
          if (refreshAgain) refresh();
        }, SETTLE_MS);
      });
  }

  function stop(state, text, title) {
    stopped = true;
    if (source) source.close();
    show(state, text, title);
  }

  function connect() {
    if (stopped) return;
    var url = new URL(streamUrl, location.href);
    if (version) url.searchParams.set('since', version);
    source = new EventSource(url.toString());
    source.addEventListener('ready', function (event) {
      failures = 0;
      if (event.lastEventId) version = event.lastEventId;
      show('live', 'live', 'This page updates itself as tweets, replies and states change.');
    });
    source.addEventListener('change', function (event) {
      if (event.lastEventId) version = event.lastEventId;
      setTimeout(refresh, SETTLE_MS);
    });
    source.addEventListener('end', function (event) {
      var reason = '';
      try { reason = JSON.parse(event.data).reason; } catch (error) { reason = ''; }
      stop('off', reason === 'signed out' ? 'signed out' : 'not live',
        reason === 'signed out' ? 'Your session ended: reload the page to sign in again.' : 'Live updates stopped; reload the page to see what changed.');
    });
    source.addEventListener('error', function () {
      if (stopped) return;
      show('reconnecting', 'reconnecting…', 'The connection for live updates dropped; until it is back, reload the page to see what changed.');
      // The browser reconnects by itself after a dropped stream, but not after a refusal
      // (signed out, too many open pages, server restarting): try again, less and less often.
      if (source.readyState === EventSource.CLOSED) {
        failures += 1;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(connect, Math.min(MAX_RETRY_MS, 2000 * Math.pow(2, failures - 1)));
      }
    });
  }

  // A page kept in the back-forward cache comes back with its stream closed.
  window.addEventListener('pagehide', function () { if (source) source.close(); });
  window.addEventListener('pageshow', function (event) { if (event.persisted && !stopped) connect(); });

  show('connecting', 'connecting…', 'Connecting for live updates.');
  connect();
})();
