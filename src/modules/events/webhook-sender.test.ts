import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, generateWebhookSecret, signWebhook } from './webhook-sender.js';

describe('Standard Webhooks signatures', () => {
  it('our signature is the reference implementation\'s, byte for byte', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'invoice.paid', data: { n: 'é' } });
    const at = new Date('2026-12-04T10:00:00Z');
    expect(signWebhook(secret, 'msg_1', Math.floor(at.getTime() / 1000), body)).toBe(new Webhook(secret).sign('msg_1', at, body));
  });

  it('a secret is whsec_ + 32 random bytes, different each time', () => {
    const a = generateWebhookSecret();
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(a);
  });

  it('URLs: https only outside loopback-allowed installs; no credentials, no fragment', () => {
    const strict = { allowLoopback: false };
    expect(checkWebhookUrl('https://hooks.example.com/in', strict).problem).toBeNull();
    expect(checkWebhookUrl('http://hooks.example.com/in', strict).problem).toContain('https://');
    expect(checkWebhookUrl('http://hooks.example.com/in', { allowLoopback: true }).problem).toBeNull(); // resolved later: loopback only
    expect(checkWebhookUrl('http://8.8.8.8/in', { allowLoopback: true }).problem).toContain('https://');
    expect(checkWebhookUrl('https://a:b@hooks.example.com/', strict).problem).toContain('user name');
    expect(checkWebhookUrl('https://hooks.example.com/#x', strict).problem).toContain('fragment');
    expect(checkWebhookUrl('https://[::ffff:7f00:1]/', strict).problem).toContain('loopback');
  });
});
