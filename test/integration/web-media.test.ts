import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { updateIntegration } from '../../src/setup/integration-setup';
import { mp4, png } from '../support/media-files';
import { WebWorld } from '../support/web-world';

describe('media uploads on the web: sign-in, role, CSRF and the checks', () => {
  let world: WebWorld;
  let integrationId: number;

  beforeEach(async () => {
    world = await WebWorld.create({ env: { KBTS_MEDIA_MAX_MB: '1' } });
    ({ integrationId } = await world.withSandboxIntegration());
    await world.services.db.raw('ALTER TABLE articles ADD COLUMN media TEXT');
    await updateIntegration(world.services.integrationSetup, integrationId, { mediaField: 'media' });
  });
  afterEach(async () => world.close());

  const uploadsDir = () => path.join(world.services.config.media.mediaDir, 'uploads');
  const kept = () => (fs.existsSync(uploadsDir()) ? fs.readdirSync(uploadsDir()) : []);

  it('keeps a file sent by an editor with the CSRF token, and refuses one without it, from a viewer, or signed out', async () => {
    const editor = await world.signIn('eve', 'editor');
    const token = await world.csrf(editor, '/records/articles/new');
    const withoutToken = await editor.put('/media/files').set('x-file-name', 'a.png').set('accept', 'application/json').type('application/octet-stream').send(png());
    assert.equal(withoutToken.status, 403);
    const viewer = await world.signIn('vic', 'viewer');
    const viewerToken = await world.csrf(viewer, '/me');
    const fromViewer = await viewer.put('/media/files').set('x-csrf-token', viewerToken).set('accept', 'application/json').type('application/octet-stream').send(png());
    assert.equal(fromViewer.status, 403);
    const signedOut = await world.agent().put('/media/files').set('accept', 'application/json').type('application/octet-stream').send(png());
    assert.notEqual(signedOut.status, 201);
    assert.deepEqual(kept(), [], 'nothing kept from the refused requests');

    const sent = await editor.put('/media/files').set('x-csrf-token', token).set('x-file-name', encodeURIComponent('../../etc/garden.png'))
      .set('accept', 'application/json').type('application/octet-stream').send(png());
    assert.equal(sent.status, 201, sent.text);
    assert.match(sent.body.path, /^uploads\/[0-9a-f]{12}-garden\.png$/, 'the name is kept without its folders');
    assert.deepEqual(kept(), [path.basename(sent.body.path)]);
  });

  it('refuses a file over KBTS_MEDIA_MAX_MB and one of a type X does not take, in words, keeping nothing', async () => {
    const editor = await world.signIn('eve', 'editor');
    const token = await world.csrf(editor, '/records/articles/new');
    const put = (name: string, body: Buffer) => editor.put('/media/files').set('x-csrf-token', token).set('x-file-name', name)
      .set('accept', 'application/json').type('application/octet-stream').send(body);
    const tooBig = await put('clip.mp4', mp4(2 * 1024 * 1024));
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.body.error, /the file is larger than 1 MB, the most this installation posts \(KBTS_MEDIA_MAX_MB\)/);
    const notMedia = await put('notes.jpg', Buffer.from('plain text'));
    assert.equal(notMedia.status, 400);
    assert.equal(notMedia.body.error, "'notes.jpg' is not a file X takes: its content is not JPEG, PNG, WEBP, GIF, MP4 or MOV (the name does not count)");
    assert.deepEqual(kept(), []);
  });

  it('offers the media field in the wizard with its rules, and checks it against the live schema', async () => {
    const admin = await world.signIn('ada', 'admin');
    const page = await admin.get(`/integrations/${integrationId}/edit`);
    assert.equal(page.status, 200);
    assert.match(page.text, /<select id="mediaField" name="mediaField">/);
    assert.match(page.text, /<option value="media" selected>media — TEXT/);
    assert.match(page.text, /up to 4 images \(JPEG, PNG, WEBP\), or 1 GIF, or 1 video \(MP4, MOV\) per post/);
    const token = await world.csrf(admin, `/integrations/${integrationId}/edit`);
    const form = {
      _csrf: token, step: '3', tweetField: 'tweet_text', responseField: 'replies', responseMode: 'append', continueField: 'keep_going',
      frequency: '5', timeZone: 'UTC', longTextPolicy: 'reject', mediaField: 'tweet_text',
    };
    const refused = await admin.post(`/integrations/${integrationId}/edit`).type('form').send(form);
    assert.equal(refused.status, 400);
    assert.match(refused.text, /the media field and the tweet field are the same column &#39;tweet_text&#39;/);
    const cleared = await admin.post(`/integrations/${integrationId}/edit`).type('form').send({ ...form, mediaField: 'none' });
    assert.equal(cleared.status, 303);
    assert.equal((await world.services.integrations.get(integrationId))?.mediaField, null);
  });
});
