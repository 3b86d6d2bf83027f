// What the record form's counter (public/record-counter.js) reads from window.kbtsTweet.
export { counterText, tweetOutcome, weightedLength, MAX_TWEET_WEIGHT } from '../src/sync/tweet-outcome';
export { containsUrl } from '../src/twitter/url-price';
