import assert from 'node:assert/strict';
import { agentInitials, composeReply, dmDeepLink, replySuffix, replyTextProblem } from '../../src/sync/agent-reply-text';
import { weightedLength } from '../../src/twitter/weighted-length';

describe('agent reply text', () => {
  it('makes initials as the omnichannel add-on does: "J.D" for two words, "J." for one', () => {
    assert.equal(agentInitials('John Doe'), 'J.D');
    assert.equal(agentInitials('  john   paul doe '), 'J.P.D');
    assert.equal(agentInitials('John'), 'J.');
    assert.equal(agentInitials('élodie durand'), 'É.D');
    assert.equal(agentInitials(''), '');
  });

  it('adds the initials, then the DM deep link, after the trimmed text', () => {
    const suffix = replySuffix({ initials: 'J.D', dmRecipientId: '42' });
    assert.equal(suffix, ' - J.D https://x.com/messages/compose?recipient_id=42');
    assert.equal(composeReply('  Yes, it does.\n', suffix), `Yes, it does.${suffix}`);
    assert.equal(replySuffix({ initials: null, dmRecipientId: null }), '');
    assert.equal(dmDeepLink('7'), 'https://x.com/messages/compose?recipient_id=7');
  });

  it('counts what is added in the 280: the link as 23, CJK and emoji as 2', () => {
    const suffix = replySuffix({ initials: 'J.D', dmRecipientId: '1234567890' });
    assert.equal(weightedLength(suffix), 30);
    assert.equal(replyTextProblem('a'.repeat(250), suffix), null);
    assert.equal(replyTextProblem('a'.repeat(251), suffix), 'the reply is 281 of 280 weighted characters with the initials and link the integration adds; shorten it by 1');
    assert.equal(replyTextProblem('日'.repeat(125), suffix), null);
    assert.match(replyTextProblem('日'.repeat(126), suffix) ?? '', /^the reply is 282 of 280/);
    assert.match(replyTextProblem('👍'.repeat(141), '') ?? '', /^the reply is 282 of 280 weighted characters; shorten it by 2$/);
  });

  it('refuses empty, NUL, broken Unicode and non-text replies in words', () => {
    assert.match(replyTextProblem(' \n\t', '') ?? '', /empty/);
    assert.match(replyTextProblem('a\u0000b', '') ?? '', /NUL character/);
    assert.match(replyTextProblem('a\udc00b', '') ?? '', /broken Unicode/);
    assert.match(replyTextProblem('a\ud83d', '') ?? '', /broken Unicode/);
    assert.equal(replyTextProblem('ok 👍🏽', ''), null);
    assert.match(replyTextProblem(42, '') ?? '', /as a string/);
  });
});
