import crypto from 'node:crypto';
import { ConfigError, SecretUnreadableError } from './errors';

const VERSION = 'v1';
const IV_BYTES = 12;

/**
 * AES-256-GCM for X keys and tokens at rest. The stored form is
 * "v1:<iv>:<tag>:<ciphertext>" (base64url), so a wrong key or a tampered value fails loudly.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secretKey: string) {
    if (!secretKey) throw new ConfigError('SECRET_KEY is empty');
    this.key = Buffer.from(crypto.hkdfSync('sha256', secretKey, 'kb-twitter-sync', 'stored X secrets', 32));
  }

  seal(plaintext: string): string {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) =>
      typeof part === 'string' ? part : part.toString('base64url'),
    ).join(':');
  }

  open(sealed: string): string {
    const [version, iv, tag, ciphertext] = sealed.split(':');
    if (version !== VERSION || !iv || !tag || ciphertext === undefined) {
      throw new SecretUnreadableError('a stored X secret is not in a known format; enter the account\'s keys and tokens again');
    }
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadableError('stored secret cannot be decrypted: SECRET_KEY differs from the one it was stored with');
    }
  }
}

/** What a page may show of a secret: its last four characters at most. */
export function maskSecret(secret: string): string {
  return secret.length <= 4 ? '••••' : `••••${secret.slice(-4)}`;
}
