// The media field's file input: the file goes as it is (a PUT of its bytes, streamed by the
// server into the media folder or the record), with the page's CSRF token as a header. A path
// answered for the form is added to the media field; on the record page the page reloads.
document.addEventListener('change', async (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.hasAttribute('data-media-upload') || !input.files || input.files.length === 0) return;
  const file = input.files[0];
  const result = input.closest('p')?.querySelector('[data-media-upload-result]');
  const say = (text) => { if (result) result.textContent = text; };
  say(`Sending ${file.name}…`);
  try {
    const response = await fetch(input.dataset.url, {
      method: 'PUT',
      headers: { 'x-csrf-token': input.dataset.csrf, 'x-file-name': encodeURIComponent(file.name), 'content-type': 'application/octet-stream', accept: 'application/json' },
      body: file,
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(`Not kept: ${answer.error || `the server answered ${response.status}`}`);
      return;
    }
    const target = input.dataset.target ? document.getElementById(input.dataset.target) : null;
    if (target) {
      target.value = [target.value.trim(), answer.path].filter(Boolean).join('\n');
      say(`Added ${answer.path}.`);
    } else {
      say(answer.message || 'Kept.');
      window.location.reload();
    }
  } catch (error) {
    say(`Not sent: ${error.message}`);
  } finally {
    input.value = '';
  }
});
