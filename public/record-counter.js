// The record form's live weighted counter, one per integration tweeting the field: the server's
// own weighing and long-text policy (window.kbtsTweet, bundled from src/sync/tweet-outcome.ts by
// scripts/bundle-browser.ts). Without this script the counters stay hidden and the save
// confirmation says what will happen.
(function () {
  var tweet = window.kbtsTweet;
  if (!tweet) return;
  document.querySelectorAll('.tweet-counter').forEach(function (counter) {
    var field = document.getElementById(counter.dataset.counterFor);
    // The continue field (No holds the record back), when the form has it.
    var continueField = document.getElementById(counter.dataset.continueFor);
    var words = counter.querySelector('.counter-text');
    var policy = counter.dataset.policy;
    var limit = Number(counter.dataset.limit);
    // X bills a post with a URL at its own, higher price (the configured prices, on the element).
    var urlPrice = counter.dataset.priceUrl;
    var plainPrice = counter.dataset.pricePlain;
    if (!field || !words) return;
    var urlNote = document.createElement('span');
    urlNote.className = 'url-price-note';
    urlNote.hidden = true;
    counter.appendChild(urlNote);

    function update() {
      var continueValue = continueField ? continueField.value : null;
      var outcome = tweet.tweetOutcome(field.value, policy, continueValue);
      words.textContent = tweet.counterText(field.value, policy, continueValue);
      var withUrl = Boolean(urlPrice && tweet.containsUrl && tweet.containsUrl(field.value));
      urlNote.textContent = withUrl ? ' · contains a URL: X charges the URL price, ' + urlPrice + ' instead of ' + plainPrice + ' for this post' : '';
      urlNote.hidden = !withUrl;
      counter.classList.toggle('url-price', withUrl);
      counter.classList.toggle('over-limit', outcome.weight > limit);
      counter.classList.toggle('refused', outcome.kind === 'rejected');
    }

    field.addEventListener('input', update);
    if (continueField) continueField.addEventListener('input', update);
    update();
    counter.hidden = false;
  });
})();
