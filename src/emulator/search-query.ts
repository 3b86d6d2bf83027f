/**
 * A small subset of X's recent-search query language: terms joined by spaces (AND) or `OR`,
 * parentheses, `-` negation, quoted phrases, keywords, @mentions and the operators below.
 * AND binds tighter than OR, as X documents.
 */
export const SEARCH_OPERATORS = ['conversation_id', 'from', 'to', 'in_reply_to_tweet_id', 'is', 'lang'] as const;
const IS_VALUES = ['reply', 'retweet', 'quote', 'verified'];

export type SearchNode =
  | { kind: 'or'; items: SearchNode[] }
  | { kind: 'and'; items: SearchNode[] }
  | { kind: 'not'; item: SearchNode }
  | { kind: 'operator'; name: string; value: string }
  | { kind: 'mention'; username: string }
  | { kind: 'keyword'; word: string }
  | { kind: 'phrase'; text: string };

export class SearchQueryError extends Error {}

type TermToken = { type: 'term'; text: string; negated: boolean; quoted: boolean; at: number };
type Token = { type: 'lparen'; negatedGroup: boolean } | { type: 'rparen' | 'or' } | TermToken;

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const start = i;
    let negated = false;
    if (c === '-' && i + 1 < query.length && !/\s/.test(query[i + 1])) {
      negated = true;
      i += 1;
    }
    if (query[i] === '(') {
      tokens.push({ type: 'lparen', negatedGroup: negated });
      i += 1;
      continue;
    }
    if (query[i] === ')') {
      if (negated) throw new SearchQueryError(`A negation must precede a term (at position ${start + 1})`);
      tokens.push({ type: 'rparen' });
      i += 1;
      continue;
    }
    if (query[i] === '"') {
      const end = query.indexOf('"', i + 1);
      if (end < 0) throw new SearchQueryError(`Unterminated quoted phrase (at position ${i + 1})`);
      tokens.push({ type: 'term', text: query.slice(i + 1, end), negated, quoted: true, at: start });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < query.length && !/[\s()]/.test(query[j])) j += 1;
    const text = query.slice(i, j);
    if (text === 'OR' && !negated) tokens.push({ type: 'or' });
    else tokens.push({ type: 'term', text, negated, quoted: false, at: start });
    i = j;
  }
  return tokens;
}

function termNode(token: TermToken): SearchNode {
  let node: SearchNode;
  if (token.quoted) {
    node = { kind: 'phrase', text: token.text.toLowerCase() };
  } else if (token.text.startsWith('@') && token.text.length > 1) {
    node = { kind: 'mention', username: token.text.slice(1).toLowerCase() };
  } else {
    const colon = token.text.indexOf(':');
    if (colon > 0 && colon < token.text.length - 1 && !/^https?:/i.test(token.text)) {
      const name = token.text.slice(0, colon).toLowerCase();
      const value = token.text.slice(colon + 1);
      if (!(SEARCH_OPERATORS as readonly string[]).includes(name)) {
        throw new SearchQueryError(`Reference to invalid operator '${name}'. Operator is not available in this emulator (at position ${token.at + 1})`);
      }
      if ((name === 'conversation_id' || name === 'in_reply_to_tweet_id') && !/^[0-9]{1,19}$/.test(value)) {
        throw new SearchQueryError(`Invalid value for operator '${name}': ${value} (at position ${token.at + 1})`);
      }
      if (name === 'is' && !IS_VALUES.includes(value.toLowerCase())) {
        throw new SearchQueryError(`Reference to invalid operator 'is:${value}' (at position ${token.at + 1})`);
      }
      node = { kind: 'operator', name, value: name === 'is' || name === 'from' || name === 'to' ? value.replace(/^@/, '').toLowerCase() : value };
    } else {
      node = { kind: 'keyword', word: token.text.toLowerCase() };
    }
  }
  return token.negated ? { kind: 'not', item: node } : node;
}

/** Parses a query or throws SearchQueryError with a message in X's style. */
export function parseSearchQuery(query: string): SearchNode {
  const tokens = tokenize(query);
  let pos = 0;

  const parseOr = (depth: number): SearchNode => {
    const items = [parseAnd(depth)];
    while (tokens[pos]?.type === 'or') {
      pos += 1;
      items.push(parseAnd(depth));
    }
    return items.length === 1 ? items[0] : { kind: 'or', items };
  };

  const parseAnd = (depth: number): SearchNode => {
    const items: SearchNode[] = [];
    for (;;) {
      const token = tokens[pos];
      if (!token || token.type === 'or' || token.type === 'rparen') break;
      pos += 1;
      if (token.type === 'lparen') {
        const inner = parseOr(depth + 1);
        if (tokens[pos]?.type !== 'rparen') throw new SearchQueryError('Unbalanced parentheses in query');
        pos += 1;
        items.push(token.negatedGroup ? { kind: 'not', item: inner } : inner);
      } else if (token.type === 'term') {
        items.push(termNode(token));
      }
    }
    if (items.length === 0) throw new SearchQueryError('Expected a term (an OR or a parenthesis is misplaced)');
    return items.length === 1 ? items[0] : { kind: 'and', items };
  };

  if (tokens.length === 0) throw new SearchQueryError('The query is empty');
  const tree = parseOr(0);
  if (pos < tokens.length) throw new SearchQueryError('Unbalanced parentheses in query');
  if (!hasPositiveTerm(tree)) throw new SearchQueryError('A query must contain at least one term that is not negated');
  return tree;
}

function hasPositiveTerm(node: SearchNode): boolean {
  switch (node.kind) {
    case 'not':
      return false;
    case 'and':
      return node.items.some(hasPositiveTerm);
    case 'or':
      return node.items.every(hasPositiveTerm);
    default:
      return true;
  }
}

/** What a query needs to know about a tweet. */
export interface SearchableTweet {
  id: string;
  text: string;
  conversationId: string;
  authorUsername: string;
  inReplyToTweetId?: string;
  inReplyToUsername?: string;
  mentions: Set<string>;
}

function words(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}_#$@']+/u).filter(Boolean);
}

export function matchesSearch(node: SearchNode, tweet: SearchableTweet): boolean {
  switch (node.kind) {
    case 'or':
      return node.items.some((item) => matchesSearch(item, tweet));
    case 'and':
      return node.items.every((item) => matchesSearch(item, tweet));
    case 'not':
      return !matchesSearch(node.item, tweet);
    case 'phrase':
      return tweet.text.toLowerCase().includes(node.text);
    case 'keyword':
      return words(tweet.text).includes(node.word);
    case 'mention':
      return tweet.mentions.has(node.username);
    case 'operator':
      switch (node.name) {
        case 'conversation_id':
          return tweet.conversationId === node.value;
        case 'in_reply_to_tweet_id':
          return tweet.inReplyToTweetId === node.value;
        case 'from':
          return tweet.authorUsername.toLowerCase() === node.value;
        case 'to':
          return tweet.inReplyToUsername?.toLowerCase() === node.value;
        case 'is':
          return node.value === 'reply' ? tweet.inReplyToTweetId !== undefined : false;
        default:
          // lang: the emulator does not detect languages, so it never narrows the result.
          return true;
      }
  }
}
