import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

/**
 * A server-sent events client over plain HTTP, as a browser's EventSource reads a stream, keeping
 * every event it received so a test can wait for one.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  private buffer = '';
  private waiters: Array<() => void> = [];
  ended = false;

  private constructor(readonly response: http.IncomingMessage, private readonly request: http.ClientRequest) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
    response.on('end', () => { this.ended = true; this.wake(); });
    response.on('close', () => { this.ended = true; this.wake(); });
  }

  /** Opens `url` with these headers; resolves once the answer's head arrived (any status). */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => resolve(new SseClient(response, request)));
      request.on('error', reject);
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The body of an answer that is not a stream (401, 403, 404, 429). */
  async text(): Promise<string> {
    await this.waitUntil(() => this.ended, 10_000, 'the end of the answer');
    return this.buffer;
  }

  named(event: string): SseEvent[] {
    return this.events.filter((each) => each.event === event);
  }

  /** Waits for the `count`-th event of this name (1 = the first ever received). */
  async waitForEvent(event: string, count = 1, timeoutMs = 20_000): Promise<SseEvent> {
    await this.waitUntil(() => this.named(event).length >= count, timeoutMs, `event '${event}' number ${count}`);
    return this.named(event)[count - 1];
  }

  async waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.ended && !condition() && what !== 'the end of the answer') throw new Error(`the stream ended before ${what}; events: ${JSON.stringify(this.events)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; events so far: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  close(): void {
    this.request.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    if (!/^text\/event-stream/.test(this.response.headers['content-type'] ?? '')) return;
    let end: number;
    while ((end = this.buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const event: SseEvent = { event: 'message', data: '', id: '' };
      let hasData = false;
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':') || line === '') continue;
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'event') event.event = value;
        else if (field === 'data') { event.data += (hasData ? '\n' : '') + value; hasData = true; }
        else if (field === 'id') event.id = value;
      }
      if (hasData) this.events.push(event);
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Signs in through the login form with fetch and returns the session's Cookie header. */
export async function signInCookie(baseUrl: string, username: string, password: string, headers: Record<string, string> = {}): Promise<string> {
  const page = await fetch(`${baseUrl}/login`, { headers });
  const csrfCookie = page.headers.getSetCookie().map((cookie) => cookie.split(';')[0]).join('; ');
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!token) throw new Error('the login page has no CSRF token');
  const answer = await fetch(`${baseUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, username, password }),
  });
  if (answer.status !== 303) throw new Error(`sign-in of ${username} answered ${answer.status}`);
  const session = answer.headers.getSetCookie().map((cookie) => cookie.split(';')[0]).find((cookie) => cookie.startsWith('kbts_session='));
  if (!session) throw new Error('sign-in set no session cookie');
  return session;
}
