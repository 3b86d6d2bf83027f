import assert from 'node:assert/strict';
import { crcResponseToken, signatureMatches, webhookSignature } from '../../src/twitter/webhook-signature';

// Vectors from X's Account Activity API documentation, as gathered in the project's X notes
// (shared x-api/README.md, section "Account Activity webhooks"; the 2026 XAA section says the same
// rules apply to Activity API webhooks).
const CRC_SECRET = 'z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu';
const CRC_TOKEN = '9b4507b3-9040-4669-9ca3-6b94edb50553';
const CRC_ANSWER = 'sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=';
const BODY_SECRET = 'test';
const FORM_BODY = 'test=1&other_test=2';
const FORM_SIGNATURE = 'sha256=25Cu3iwbbiqBTwQRzcKJZwisjf736V2Q8UaTlkfLSoc=';
const JSON_BODY = '{"test_number":1,"test_string":"two"}';
const JSON_SIGNATURE = 'sha256=YWHphPn/JFq43jkF0y4/w8R/SelmLjvpunhVFY8JhlI=';

describe('webhook CRC answers and delivery signatures (X\'s published vectors)', () => {
  it('answers the CRC challenge with HMAC-SHA256 of the token under the consumer secret', () => {
    assert.equal(crcResponseToken(CRC_SECRET, CRC_TOKEN), CRC_ANSWER);
  });

  it('signs raw bodies as X does', () => {
    assert.equal(webhookSignature(BODY_SECRET, FORM_BODY), FORM_SIGNATURE);
    assert.equal(webhookSignature(BODY_SECRET, Buffer.from(JSON_BODY)), JSON_SIGNATURE);
  });

  it('accepts the right signature and refuses a wrong, truncated, missing or re-serialised one', () => {
    assert.equal(signatureMatches(BODY_SECRET, Buffer.from(JSON_BODY), JSON_SIGNATURE), true);
    assert.equal(signatureMatches(BODY_SECRET, Buffer.from(JSON_BODY), FORM_SIGNATURE), false);
    assert.equal(signatureMatches(BODY_SECRET, Buffer.from(JSON_BODY), JSON_SIGNATURE.slice(0, -2)), false);
    assert.equal(signatureMatches(BODY_SECRET, Buffer.from(JSON_BODY), undefined), false);
    assert.equal(signatureMatches('another secret', Buffer.from(JSON_BODY), JSON_SIGNATURE), false);
    // The same JSON with other spacing is other bytes: the raw body is what is signed.
    assert.equal(signatureMatches(BODY_SECRET, Buffer.from('{"test_number": 1, "test_string": "two"}'), JSON_SIGNATURE), false);
  });
});
