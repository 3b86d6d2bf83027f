// The record page's reply boxes: a live weighted counter per box (the server's own weighing,
// window.kbtsTweet from public/vendor/twitter-text.js, of the typed text trimmed plus the
// initials and link the integration adds), the send button disabled past 280, the reply sent
// without leaving the page so a refusal shows beside the box with the text kept, and the states
// of replies on their way followed until they are sent or failed. Without this script the form
// still posts and the page says what happened.
(function () {
  var tweet = window.kbtsTweet;
  if (!tweet) return;

  function weigh(form) {
    var textarea = form.querySelector('.reply-text');
    var counter = form.querySelector('.reply-counter');
    var button = form.querySelector('button[type=submit]');
    if (!textarea || !counter || !button) return;
    var limit = Number(counter.dataset.limit);
    var body = textarea.value.trim();
    var weight = tweet.weightedLength(body + (counter.dataset.suffix || ''));
    counter.querySelector('.counter-text').textContent = weight + ' of ' + limit + (weight > limit ? ': too long, shorten it by ' + (weight - limit) : '');
    counter.classList.toggle('over-limit', weight > limit);
    counter.hidden = false;
    button.disabled = weight > limit || body === '' || form.dataset.sending === '1';
  }

  function weighAll() {
    document.querySelectorAll('[data-reply-form]').forEach(weigh);
  }

  document.addEventListener('input', function (event) {
    var form = event.target.closest && event.target.closest('[data-reply-form]');
    if (form) weigh(form);
  });

  document.addEventListener('submit', function (event) {
    var form = event.target.closest && event.target.closest('[data-reply-form]');
    if (!form) return;
    event.preventDefault();
    if (form.dataset.sending === '1') return; // a second click while the first is on its way
    form.dataset.sending = '1';
    weigh(form);
    var error = form.querySelector('.reply-error');
    error.hidden = true;
    fetch(form.action, {
      method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(new FormData(form)).toString(),
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.error || 'the server refused the reply (' + response.status + ')');
        // The page as the server shows it now: the reply, "sending", beside its box.
        location.assign(location.pathname + location.search + '#agent-reply-' + answer.id);
        location.reload();
      });
    }).catch(function (problem) {
      form.dataset.sending = '';
      error.textContent = 'Not sent: ' + problem.message;
      error.hidden = false;
      weigh(form);
    });
  });

  /** Replies on their way: their states are asked for until each is sent or failed. */
  function follow() {
    if (!document.querySelector('[data-agent-reply-state=pending], [data-agent-reply-state=sending]')) return;
    fetch(location.pathname + '/replies', { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : { replies: [] }; })
      .then(function (answer) {
        answer.replies.forEach(function (reply) {
          var item = document.querySelector('[data-agent-reply="' + reply.id + '"]');
          if (!item || item.dataset.agentReplyState === reply.state) return;
          item.dataset.agentReplyState = reply.state;
          var badge = item.querySelector('[data-reply-badge]');
          badge.textContent = reply.shown;
          badge.className = 'badge state-' + reply.shown;
          var words = item.querySelector('[data-reply-words]');
          words.className = reply.state === 'failed' ? 'reason' : 'hint';
          words.textContent = '';
          if (reply.state === 'sent' && reply.tweet_href) {
            var link = document.createElement('a');
            link.href = reply.tweet_href;
            link.textContent = 'sent as tweet ' + reply.tweet_id;
            if (/^https?:/.test(reply.tweet_href)) { link.rel = 'noopener noreferrer'; link.target = '_blank'; }
            words.appendChild(link);
          } else {
            words.textContent = reply.words;
          }
        });
      })
      .catch(function () { /* the next look tries again */ })
      .then(function () { setTimeout(follow, 1000); });
  }

  document.addEventListener('kbts:live-updated', weighAll);
  weighAll();
  follow();
})();
