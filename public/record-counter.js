// The record form's live weighted counter, one per integration tweeting the field: the server's
// own weighing and long-text policy (window.kbtsTweet, bundled from src/sync/tweet-outcome.ts by
// scripts/bundle-browser.ts). Without this script the counters stay hidden and the save
// confirmation says what will happen.
(function () {
  var tweet = window.kbtsTweet;
  if (!tweet) return;
  document.querySelectorAll('.tweet-counter').forEach(function (counter) {
    var field = document.getElementById(counter.dataset.counterFor);
    var words = counter.querySelector('.counter-text');
    var policy = counter.dataset.policy;
    var limit = Number(counter.dataset.limit);
    if (!field || !words) return;

    function update() {
      var outcome = tweet.tweetOutcome(field.value, policy);
      words.textContent = tweet.counterText(field.value, policy);
      counter.classList.toggle('over-limit', outcome.weight > limit);
      counter.classList.toggle('refused', outcome.kind === 'rejected');
    }

    field.addEventListener('input', update);
    update();
    counter.hidden = false;
  });
})();
