import assert from 'node:assert/strict';
import { parseActivityEvent } from '../../src/sync/inbound/webhook-events';
import { createArticlesWorld, describeEachDatabase, type TestEnv } from '../support/test-env';

const INSERT_ARTICLE = 'INSERT INTO articles (title, tweet_text, keep_going) VALUES (?, ?, ?)';

describeEachDatabase('replies with media', (database) => {
  let world: TestEnv;
  afterEach(async () => world.close());

  it('writes a reply\'s photo and video into the entry with their addresses', async () => {
    ({ world } = await createArticlesWorld(database));
    await world.sql(INSERT_ARTICLE, ['a', 'Show us your garden', 'Yes']);
    await world.pollOnce();
    const [tweet] = await world.tweetsBy('kb_news');
    const photoReply = await world.replyAs('gardener', tweet.id, 'here it is', { media: [{ type: 'photo' }] }) as unknown as { media: Array<{ url: string }> };
    const videoReply = await world.replyAs('filmer', tweet.id, 'a tour', { media: [{ type: 'video' }] }) as unknown as { media: Array<{ preview_image_url: string }> };
    assert.equal((await world.pollOnce()).replies_applied, 2);
    const [row] = await world.sql('SELECT replies FROM articles');
    const [photoEntry, videoEntry] = String(row.replies).split('\n');
    assert.ok(photoEntry.endsWith(`@gardener: here it is [photo: ${photoReply.media[0].url}]`), photoEntry);
    assert.ok(videoEntry.endsWith(`@filmer: a tour [video: ${videoReply.media[0].preview_image_url}]`), videoEntry);
    const logged = await world.sql("SELECT text FROM kbts_communications WHERE direction = 'in' ORDER BY id");
    assert.match(logged[0].text, /^@kb_news here it is \[photo: https:\/\/\S+\]$/, 'the log keeps the media too');
  });
});

describe('webhook deliveries with media', () => {
  it('reads the photo of a delivered reply from includes.media', () => {
    const parsed = parseActivityEvent({
      data: {
        event_type: 'post.reply.create', filter: { user_id: '1' },
        payload: { id: '20', text: 'look', author_id: '2', attachments: { media_keys: ['3_9', '3_missing'] } },
        includes: { users: [{ id: '2', username: 'alice' }], media: [{ media_key: '3_9', type: 'photo', url: 'https://pbs.twimg.com/media/3_9.jpg' }, { type: 'photo' }] },
      },
    });
    assert.ok('kind' in parsed && parsed.kind === 'post');
    assert.deepEqual(parsed.tweet.media, [{ type: 'photo', url: 'https://pbs.twimg.com/media/3_9.jpg', previewImageUrl: null }]);
  });
});
