import { describe, expect, it } from 'vitest';
import { readUnsubscribeToken, renderTemplate, signUnsubscribeToken, unknownPlaceholders, unsubscribeSignature } from '../src';

const values = { firstName: '<b>Ana</b> & {{unsubscribeUrl}}', unsubscribeUrl: 'https://x.example/unsubscribe?t=a&b' };

describe('renderTemplate', () => {
  it('fills in the two placeholders once, escaping the values in HTML only', () => {
    expect(renderTemplate('Hi {{firstName}}, {{ unsubscribeUrl }}', values, 'text')).toBe(
      'Hi <b>Ana</b> & {{unsubscribeUrl}}, https://x.example/unsubscribe?t=a&b',
    );
    expect(renderTemplate('<p>{{firstName}}</p><a href="{{unsubscribeUrl}}">x</a>', values, 'html')).toBe(
      '<p>&lt;b&gt;Ana&lt;/b&gt; &amp; {{unsubscribeUrl}}</p><a href="https://x.example/unsubscribe?t=a&amp;b">x</a>',
    );
  });

  it('never lets CR/LF into a header, whatever the template or the values hold', () => {
    expect(renderTemplate('Hi {{firstName}}\r\nBcc: x@example.com', { ...values, firstName: 'A\r\nB' }, 'header')).toBe(
      'Hi A B Bcc: x@example.com',
    );
  });

  it('leaves anything else in braces alone, and lists it as unknown', () => {
    expect(renderTemplate('{{email}} {{firstName', values, 'text')).toBe('{{email}} {{firstName');
    expect(unknownPlaceholders('{{firstName}} {{ email }} {{unsubscribeUrl}} {{}}')).toEqual(['{{ email }}', '{{}}']);
    expect(unknownPlaceholders('{{firstName}} {{ unsubscribeUrl }}')).toEqual([]);
  });
});

describe('unsubscribe tokens', () => {
  const secret = 'unit-test-secret-0123456789';
  const subject = { campaignId: '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b', userId: 'user.ñ/1' };

  it('round-trips the campaign and the user, URL- and header-safe', () => {
    const token = signUnsubscribeToken(secret, subject);
    expect(token).toMatch(/^[A-Za-z0-9._-]+$/);
    const read = readUnsubscribeToken(token)!;
    expect(read).toMatchObject(subject);
    expect(read.signature).toBe(unsubscribeSignature(secret, read.signed));
    expect(unsubscribeSignature('another-secret-0123456789', read.signed)).not.toBe(read.signature);
  });

  it('reads nothing from a malformed token', () => {
    for (const token of ['', 'x', `${subject.campaignId}.dXNlcg`, `${subject.campaignId}.dXNlcg.${'A'.repeat(42)}`, 'a'.repeat(2000)]) {
      expect(readUnsubscribeToken(token), token).toBeUndefined();
    }
  });
});
